"""Request and response bodies of the HTTP API that are not space models themselves.

Each mirrors the arguments of one `SpaceAPI` call, so the OpenAPI document describes
exactly what the call takes. Unknown fields are refused (422).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from nucleusmem.space._models import (
    MAX_BATCH_RECORDS,
    DataRegion,
    Mode,
    Name,
    RecordKey,
    RecordWrite,
    SpaceKind,
    SpaceName,
)

__all__ = [
    "CreatePrincipal",
    "CreateSpace",
    "CursorBody",
    "MemberBody",
    "MountBody",
    "PrincipalToken",
    "RegisterBody",
    "RevisionBody",
    "SendBody",
    "TokenBody",
    "TopicsBody",
    "TtlBody",
    "WriteBody",
]

_MAX_INT64 = 2**63 - 1


class _Body(BaseModel):
    # Numbers and booleans are strict: ``false`` is not 0, ``"5"`` is not 5.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CreatePrincipal(_Body):
    """`POST /v1/principals`: the new principal's name and whether it is an admin."""

    name: Name
    admin: StrictBool = False


class PrincipalToken(_Body):
    """A principal and a bearer token it holds."""

    name: Name
    token: str


class TokenBody(_Body):
    """A bearer token."""

    token: str


class CreateSpace(_Body):
    """`POST /v1/spaces`: the arguments of `SpaceAPI.create_space`."""

    name: SpaceName
    kind: SpaceKind = SpaceKind.SHARED
    members: dict[Name, Mode] | None = None
    quota_bytes: StrictInt | None = Field(default=None, ge=0, le=_MAX_INT64)
    history_retention_s: StrictFloat | None = Field(default=None, gt=0, le=1e12)
    description: str = Field(default="", max_length=1024)


class MemberBody(_Body):
    """`PUT .../members/{principal}`: the member's mode."""

    mode: Mode


class MountBody(_Body):
    """`PUT /v1/agents/{agent}/mounts/{space}`: the mount's mode."""

    mode: Mode = Mode.RW


class WriteBody(_Body):
    """`POST .../records`: records to write in one transaction."""

    records: list[RecordWrite] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class RevisionBody(_Body):
    """A revision, such as the one a delete was committed at."""

    revision: int


class CursorBody(_Body):
    """`POST .../cursor`: the revision up to which the agent handled its messages."""

    revision: StrictInt = Field(ge=0, le=_MAX_INT64)


class RegisterBody(_Body):
    """`PUT /v1/spaces/{space}/agents/{agent}`: the arguments of `SpaceAPI.register`.

    ``ttl_s`` is how long presence lasts without a heartbeat (null: until deregistered);
    the bounds are the space layer's.
    """

    address: str = Field(default="", max_length=2048)
    role: str = Field(default="", max_length=4096)
    capabilities: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=list, max_length=256
    )
    ttl_s: StrictFloat | None = Field(default=30.0, ge=1.0, le=86_400.0)


class TtlBody(_Body):
    """How many seconds presence now lasts (null: until deregistered)."""

    ttl_s: float | None


class SendBody(_Body):
    """`POST /v1/spaces/{space}/messages`: the arguments of `SpaceAPI.send`."""

    sender: Name
    to: Name | None = None
    topic: Name | None = None
    content: str | None = None
    metadata: dict[str, Any] | None = None
    key: RecordKey | None = None
    ref_key: RecordKey | None = None
    ref_region: DataRegion = DataRegion.MEMORY


class TopicsBody(_Body):
    """`PUT .../topics`: the topics an agent follows."""

    topics: list[Name] = Field(max_length=1024)
