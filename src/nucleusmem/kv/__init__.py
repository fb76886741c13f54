"""The KV seam: one ordered, versioned, transactional key-value history.

Everything NucleusMem keeps lives here; indexes, registries and subscriptions are
derived from it. Open a backend by URL with `open_store`.
"""

from __future__ import annotations

from nucleusmem.kv._memory import MemoryStore
from nucleusmem.kv._store import Lease, Store, Transaction
from nucleusmem.kv._types import (
    Delete,
    Event,
    EventType,
    KeyValue,
    Limits,
    Progress,
    Put,
    RangeResult,
    Version,
    Write,
    prefix_end,
)
from nucleusmem.kv._url import open_store, parse_endpoints
from nucleusmem.kv._watch import Watch

__all__ = [
    "Delete",
    "Event",
    "EventType",
    "KeyValue",
    "Lease",
    "Limits",
    "MemoryStore",
    "Progress",
    "Put",
    "RangeResult",
    "Store",
    "Transaction",
    "Version",
    "Watch",
    "Write",
    "open_store",
    "parse_endpoints",
    "prefix_end",
]
