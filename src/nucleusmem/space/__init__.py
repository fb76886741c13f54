"""The space layer: MemSpaces, regions, mounts, access control, comm and time travel.

`MemSpaceService` runs the layer over one KV store; `Session` is what one principal
may do, and implements `SpaceAPI`, the protocol the remote SDK implements too.
"""

from __future__ import annotations

from nucleusmem.space._api import At, RecordPage, SpaceAPI
from nucleusmem.space._models import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_CONTENT_BYTES,
    MAX_METADATA_BYTES,
    AgentEntry,
    Change,
    ChangeType,
    CommRecord,
    DataRegion,
    Mode,
    Mount,
    PrincipalInfo,
    RecallSettings,
    Record,
    RecordWrite,
    SpaceInfo,
    SpaceKind,
)
from nucleusmem.space._service import MemSpaceService, hash_token
from nucleusmem.space._session import Session
from nucleusmem.space._watcher import Subscriber, Watcher

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_CONTENT_BYTES",
    "MAX_METADATA_BYTES",
    "AgentEntry",
    "At",
    "Change",
    "ChangeType",
    "CommRecord",
    "DataRegion",
    "MemSpaceService",
    "Mode",
    "Mount",
    "PrincipalInfo",
    "Record",
    "RecallSettings",
    "RecordPage",
    "RecordWrite",
    "Session",
    "SpaceAPI",
    "SpaceInfo",
    "SpaceKind",
    "Subscriber",
    "Watcher",
    "hash_token",
]
