"""`SpaceAPI`: every call a principal can make, as one structural protocol.

Two things implement it: `Session` (embedded: the space layer itself, bound to one
principal) and the remote SDK's HTTP session. The SDK's `AsyncClient` is written once
on top of it, which is why embedded and remote behave alike; the API test suite runs
through both.

``at`` (on reads) is a revision (int) or a moment (an aware `datetime`): the read sees
the space as it was then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from nucleusmem.space._models import (
    AgentEntry,
    Change,
    CommRecord,
    DataRegion,
    Mode,
    Mount,
    PrincipalInfo,
    Record,
    RecordWrite,
    SpaceInfo,
    SpaceKind,
)

__all__ = ["At", "RecordPage", "SpaceAPI"]

At = int | dt.datetime | None
"""A point in history: a revision, a moment, or None for now."""


class RecordPage(BaseModel):
    """One page of a listing: ``next_after`` is the key to pass as ``after`` for more."""

    items: list[Record]
    revision: int
    next_after: str | None = None


class SpaceAPI(Protocol):
    """The calls of one authenticated principal; see the module docstring."""

    # principals -------------------------------------------------------------------
    async def whoami(self) -> PrincipalInfo:
        """The principal this session acts as."""
        ...

    async def create_principal(self, name: str, *, admin: bool = False) -> str:
        """Create a principal and return its first bearer token (admin only)."""
        ...

    async def issue_token(self, name: str) -> str:
        """A new bearer token for an existing principal (admin only)."""
        ...

    # spaces -------------------------------------------------------------------------
    async def create_space(
        self,
        name: str,
        *,
        kind: SpaceKind = SpaceKind.SHARED,
        members: dict[str, Mode] | None = None,
        quota_bytes: int | None = None,
        history_retention_s: float | None = None,
        description: str = "",
    ) -> SpaceInfo:
        """Create a space owned by this principal."""
        ...

    async def list_spaces(self) -> list[SpaceInfo]:
        """The spaces this principal owns or is a member of, by name."""
        ...

    async def get_space(self, space: str) -> SpaceInfo:
        """One space's settings and usage."""
        ...

    async def delete_space(self, space: str) -> None:
        """Delete a space and everything in it (owner only)."""
        ...

    async def set_member(self, space: str, principal: str, mode: Mode | None) -> SpaceInfo:
        """Add or change a member of a shared space, or remove it with None (owner only)."""
        ...

    # mounts -------------------------------------------------------------------------
    async def mount(self, agent: str, space: str, *, mode: Mode = Mode.RW) -> Mount:
        """Mount ``space`` for ``agent``; the mount is stored until unmounted."""
        ...

    async def unmount(self, agent: str, space: str) -> None:
        """Unmount ``space`` from ``agent``."""
        ...

    async def mounts(self, agent: str) -> list[Mount]:
        """The spaces ``agent`` has mounted."""
        ...

    # records ------------------------------------------------------------------------
    async def write(
        self, space: str, writes: Sequence[RecordWrite], *, region: DataRegion
    ) -> list[Record]:
        """Write records in one transaction; each gets a new revision-stamped version."""
        ...

    async def get(self, space: str, key: str, *, region: DataRegion, at: At = None) -> Record:
        """One record, now or as of ``at``; `NotFound` if it did not exist then."""
        ...

    async def list_records(
        self,
        space: str,
        *,
        region: DataRegion,
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: float | None = None,
        until: float | None = None,
        at: At = None,
        after: str | None = None,
        limit: int = 100,
    ) -> RecordPage:
        """Records in key order, filtered by agent, kind, thread and write time."""
        ...

    async def delete(self, space: str, key: str, *, region: DataRegion) -> int:
        """Delete a record (history keeps its versions); returns the revision."""
        ...

    async def history(
        self, space: str, key: str, *, region: DataRegion, limit: int | None = None
    ) -> list[Record]:
        """Versions of a record, oldest first; deletions carry ``deleted=True``."""
        ...

    async def diff(
        self, space: str, from_at: At, to_at: At = None, *, region: DataRegion | None = None
    ) -> list[Change]:
        """The records that differ between two points in history."""
        ...

    async def revision(self, space: str, at: At = None) -> int:
        """The revision of the store now, or the revision that was current at ``at``."""
        ...

    # communication ------------------------------------------------------------------
    async def register(
        self,
        space: str,
        agent: str,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put ``agent`` in the space's registry; presence lasts ``ttl_s`` unless renewed."""
        ...

    async def heartbeat(self, space: str, agent: str) -> float:
        """Renew ``agent``'s presence; returns the seconds it now lasts."""
        ...

    async def deregister(self, space: str, agent: str) -> None:
        """Remove ``agent`` from the registry."""
        ...

    async def agents(self, space: str, *, at: At = None) -> list[AgentEntry]:
        """The space's registry, with presence."""
        ...

    async def send(
        self,
        space: str,
        *,
        sender: str,
        to: str | None = None,
        topic: str | None = None,
        content: str | None = None,
        metadata: dict[str, Any] | None = None,
        key: str | None = None,
        ref_key: str | None = None,
        ref_region: DataRegion = DataRegion.MEMORY,
    ) -> CommRecord:
        """Send to an agent (``to``) or a ``topic``: new ``content`` or a ``ref_key``."""
        ...

    async def subscribe(self, space: str, agent: str, topics: Sequence[str]) -> list[str]:
        """Set the topics ``agent`` follows (it always gets its own directed messages)."""
        ...

    async def messages(
        self, space: str, agent: str, *, after: int | None = None, limit: int = 1000
    ) -> list[CommRecord]:
        """Messages for ``agent`` after revision ``after`` (default: its cursor)."""
        ...

    def listen(
        self, space: str, agent: str, *, after: int | None = None
    ) -> AsyncIterator[CommRecord]:
        """Messages for ``agent`` after ``after`` (default: its cursor), then live."""
        ...

    async def ack(self, space: str, agent: str, revision: int) -> int:
        """Store ``agent``'s cursor: it has handled every message up to ``revision``."""
        ...

    async def cursor(self, space: str, agent: str) -> int:
        """The revision ``agent`` last acknowledged (0 if none)."""
        ...

    async def trace(
        self,
        space: str,
        *,
        since: float | None = None,
        until: float | None = None,
        agent: str | None = None,
        topic: str | None = None,
        limit: int = 1000,
    ) -> list[CommRecord]:
        """The conversation log in revision order (the newest ``limit`` of the matches)."""
        ...

    async def aclose(self) -> None:
        """Release what the session holds."""
        ...
