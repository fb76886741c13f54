"""NucleusMem: the distributed memory layer for AI agents."""

from __future__ import annotations

from nucleusmem.client import (
    Agent,
    AsyncAgent,
    AsyncClient,
    AsyncMountedSpace,
    AsyncSpace,
    AsyncSpaceView,
    Client,
    MountedSpace,
    Space,
    SpaceView,
    open,
    open_async,
)
from nucleusmem.errors import (
    AccessDenied,
    AlreadyExists,
    Compacted,
    ConfigurationError,
    Conflict,
    InvalidKey,
    InvalidRequest,
    InvalidRevision,
    LeaseExpired,
    NotFound,
    NucleusMemError,
    QuotaExceeded,
    StoreUnavailable,
    TxnTooLarge,
    Unauthenticated,
    UnsupportedURL,
    ValueTooLarge,
)
from nucleusmem.kv import open_store

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "NotFound",
    "QuotaExceeded",
    "Unauthenticated",
    "Agent",
    "AsyncAgent",
    "AsyncClient",
    "AsyncMountedSpace",
    "AsyncSpace",
    "AsyncSpaceView",
    "Client",
    "Compacted",
    "ConfigurationError",
    "Conflict",
    "InvalidKey",
    "InvalidRequest",
    "InvalidRevision",
    "LeaseExpired",
    "MountedSpace",
    "NucleusMemError",
    "Space",
    "SpaceView",
    "StoreUnavailable",
    "TxnTooLarge",
    "UnsupportedURL",
    "ValueTooLarge",
    "__version__",
    "open",
    "open_async",
    "open_store",
]
