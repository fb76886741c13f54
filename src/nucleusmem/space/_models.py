"""The values the space layer takes and returns; the HTTP API and both SDKs share them.

They are pydantic models so one definition gives validation, JSON and the OpenAPI
schema. Names are checked here (`Name`, `RecordKey`), so a bad name is refused the same
way embedded and over HTTP.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from nucleusmem.errors import InvalidRequest

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_CONTENT_BYTES",
    "MAX_METADATA_BYTES",
    "AgentEntry",
    "Change",
    "ChangeType",
    "CommRecord",
    "DataRegion",
    "Mode",
    "Mount",
    "Name",
    "PrincipalInfo",
    "Record",
    "RecordKey",
    "RecordWrite",
    "RecallSettings",
    "SpaceInfo",
    "SpaceKind",
    "SpaceName",
    "WriteResult",
    "WriteStamp",
    "check_name",
    "check_record_key",
    "check_space_name",
    "trusted_record",
    "written_record",
]

MAX_CONTENT_BYTES = 512 * 1024
"""The largest record content, in UTF-8 bytes."""
MAX_METADATA_BYTES = 64 * 1024
"""The largest record metadata, as JSON bytes."""
MAX_BATCH_RECORDS = 100
"""The most records one batch write holds (one transaction)."""
MAX_BATCH_BYTES = 1024 * 1024
"""The most content + metadata bytes one batch write holds (etcd takes 1.5 MiB a request)."""

SpaceName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", min_length=1, max_length=63)
]
"""A space name: lower-case letters, digits, ``.``, ``_`` and ``-``; at most 63."""

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$", min_length=1, max_length=128),
]
"""A principal, agent or topic name: letters, digits, ``.``, ``_``, ``@``, ``-``."""

RecordKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._:@+=-]*(/[A-Za-z0-9_][A-Za-z0-9._:@+=-]*)*$",
        min_length=1,
        max_length=512,
    ),
]
"""A record key inside a region: ``/``-separated segments, none empty, none ``..``-led."""


class SpaceKind(enum.StrEnum):
    """A private space has one principal, its owner; a shared one has members."""

    PRIVATE = "private"
    SHARED = "shared"


class Mode(enum.StrEnum):
    """What a member or a mount may do: read and write, or only read."""

    RW = "rw"
    RO = "ro"


class DataRegion(enum.StrEnum):
    """The regions holding records; comm and the agent registry have their own calls."""

    MEMORY = "memory"
    TASK = "task"
    SUMMARY = "summary"
    TOOLS = "tools"


class ChangeType(enum.StrEnum):
    """How a record differs between two revisions."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PrincipalInfo(_Model):
    """Who a token belongs to. Admins create principals; they get no space rights."""

    name: Name
    admin: bool = False
    created_at: float = 0.0


class RecallSettings(_Model):
    """How a space is indexed for search: the embedder and the low-noise policy.

    ``embedder`` names one of the node's embedders (``hashing``, ``minilm``,
    ``openai``; None: the node's default). Changing it, or the policy, rebuilds the
    space's index in the background; searches use the old index until the new one
    has caught up. The policy fields are those of `IndexPolicy` (None turns a rule off).
    """

    embedder: Name | None = None
    min_chars: int | None = Field(default=12, ge=0, le=100_000)
    skip_greetings: bool = True
    skip_tool_json: bool = True
    short_error_chars: int | None = Field(default=200, ge=0, le=100_000)
    near_duplicate_cosine: float | None = Field(default=0.97, gt=0.0, le=1.0)


class SpaceInfo(_Model):
    """A MemSpace: its kind, owner, members, quota, history retention and search settings.

    ``used_bytes`` counts the content and metadata of live records and comm records.
    ``history_retention_s`` is how long old versions must be kept (None: forever).
    """

    name: SpaceName
    kind: SpaceKind
    owner: Name
    members: dict[Name, Mode] = Field(default_factory=dict)
    quota_bytes: int | None = Field(default=None, ge=0)
    history_retention_s: float | None = Field(default=None, gt=0)
    description: str = Field(default="", max_length=1024)
    recall: RecallSettings = Field(default_factory=RecallSettings)
    created_at: float = 0.0
    revision: int = 0
    used_bytes: int = 0


class RecordWrite(_Model):
    """One record to write: its key, content and who or what it is about.

    ``thread`` is the thread or session the record belongs to; ``kind`` a free label
    such as ``fact``, ``message`` or ``plan``.
    """

    key: RecordKey
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    kind: Name | None = None
    agent: Name | None = None
    thread: Name | None = None


class Record(_Model):
    """A record as stored: the write plus its revision, version and time.

    ``revision`` is the revision that last wrote it, ``created_revision`` the one that
    created it, ``version`` how many times it was written since, ``time`` the wall-clock
    time of the write (seconds since the epoch).
    """

    space: SpaceName
    region: DataRegion
    key: RecordKey
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    kind: Name | None = None
    agent: Name | None = None
    thread: Name | None = None
    revision: int
    created_revision: int
    version: int
    time: float
    deleted: bool = False


_RECORD_FIELDS = frozenset(Record.model_fields)


def trusted_record(fields: dict[str, Any]) -> Record:
    """A `Record` of ``fields`` (every field, already valid), built without validation.

    What `Record.model_construct` makes, for a quarter of its cost (it runs for every
    record written or read): it goes the way unpickling goes, through pydantic's own
    `__setstate__`. A test holds the two equal.
    """
    record = Record.__new__(Record)
    record.__setstate__(
        {
            "__dict__": fields,
            "__pydantic_fields_set__": set(_RECORD_FIELDS),
            "__pydantic_extra__": None,
            "__pydantic_private__": None,
        }
    )
    return record


def written_record(
    space: str,
    region: DataRegion,
    write: RecordWrite,
    revision: int,
    created_revision: int,
    version: int,
    time: float,
) -> Record:
    """The `Record` that ``write`` became, once committed with these stamps."""
    return trusted_record(
        {
            "space": space,
            "region": region,
            "key": write.key,
            "content": write.content,
            "metadata": write.metadata,
            "kind": write.kind,
            "agent": write.agent,
            "thread": write.thread,
            "revision": revision,
            "created_revision": created_revision,
            "version": version,
            "time": time,
            "deleted": False,
        }
    )


class Change(_Model):
    """One record that differs between two revisions of a space."""

    region: DataRegion
    key: RecordKey
    type: ChangeType
    before: Record | None = None
    after: Record | None = None


class Mount(_Model):
    """A space an agent has mounted, and in which mode; stored, so restarts inherit it."""

    agent: Name
    space: SpaceName
    mode: Mode
    mounted_at: float
    revision: int = 0


class AgentEntry(_Model):
    """An agent in a space's registry: how to reach it and what it does.

    ``online`` is true while its presence lease (``ttl_s`` long) is alive.
    """

    agent: Name
    address: str = Field(default="", max_length=2048)
    role: str = Field(default="", max_length=4096)
    capabilities: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=list, max_length=256
    )
    registered_by: Name
    registered_at: float
    ttl_s: float | None = None
    online: bool = False
    revision: int = 0


class CommRecord(_Model):
    """One message: a reference to a record, sent to an agent (``to``) or a ``topic``.

    ``revision`` orders messages and identifies them: a receiver deduplicates by it.
    """

    id: str
    space: SpaceName
    sender: Name
    to: Name | None = None
    topic: Name | None = None
    ref_key: RecordKey
    ref_region: DataRegion
    time: float
    revision: int = 0


class WriteStamp(_Model):
    """What a batch write made of one record (the rest is what the caller sent)."""

    key: RecordKey
    created_revision: int
    version: int


class WriteResult(_Model):
    """A batch write's answer: its revision and time, and each record's version."""

    revision: int
    time: float
    records: list[WriteStamp]


_SPACE_NAME: TypeAdapter[str] = TypeAdapter(SpaceName)
_NAME: TypeAdapter[str] = TypeAdapter(Name)
_RECORD_KEY: TypeAdapter[str] = TypeAdapter(RecordKey)


def check_space_name(name: object) -> str:
    """``name`` if it is a valid space name, else `InvalidRequest`."""
    return _check(_SPACE_NAME, "space name", name)


def check_name(what: str, name: object) -> str:
    """``name`` if it is a valid principal, agent or topic name, else `InvalidRequest`."""
    return _check(_NAME, f"{what} name", name)


def check_record_key(key: object) -> str:
    """``key`` if it is a valid record key, else `InvalidRequest`."""
    return _check(_RECORD_KEY, "record key", key)


def _check(adapter: TypeAdapter[str], what: str, value: object) -> str:
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError:
        raise InvalidRequest(f"invalid {what} {value!r}") from None
