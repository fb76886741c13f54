"""NucleusMem: the distributed memory layer for AI agents."""

from __future__ import annotations

from nucleusmem.errors import (
    Compacted,
    ConfigurationError,
    Conflict,
    InvalidKey,
    InvalidRequest,
    InvalidRevision,
    LeaseExpired,
    NucleusMemError,
    StoreUnavailable,
    TxnTooLarge,
    UnsupportedURL,
    ValueTooLarge,
)
from nucleusmem.kv import open_store

__version__ = "0.1.0"

__all__ = [
    "Compacted",
    "ConfigurationError",
    "Conflict",
    "InvalidKey",
    "InvalidRequest",
    "InvalidRevision",
    "LeaseExpired",
    "NucleusMemError",
    "StoreUnavailable",
    "TxnTooLarge",
    "UnsupportedURL",
    "ValueTooLarge",
    "__version__",
    "open_store",
]
