"""Sync twins of the space handles: `Space` and `MountedSpace`.

Each method forwards to the async twin on the client's `Portal`; no logic lives here.
See `AsyncSpace` and friends for what each call does.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from nucleusmem.client._convert import AtLike, ModeLike, Moment, RegionLike
from nucleusmem.client._portal import Portal
from nucleusmem.client._space import AsyncMountedSpace, AsyncSpace, AsyncSpaceBase
from nucleusmem.client._sync_view import Listener, SpaceView
from nucleusmem.recall._service import IndexStatus, SearchHit
from nucleusmem.space._api import RecordPage
from nucleusmem.space._models import (
    AgentEntry,
    Change,
    CommRecord,
    Mode,
    RecallSettings,
    Record,
    RecordWrite,
    SpaceInfo,
)

__all__ = ["MountedSpace", "Space", "SpaceBase"]

_A = TypeVar("_A", bound=AsyncSpaceBase)


class SpaceBase(Generic[_A]):
    """The calls every sync space handle shares; the twin of `AsyncSpaceBase`."""

    def __init__(self, handle: _A, *, portal: Portal) -> None:
        self.handle = handle
        """The async twin every call is forwarded to."""
        self.name = handle.name
        """The space's name."""
        self._portal = portal

    def info(self) -> SpaceInfo:
        """The space's settings and usage."""
        return self._portal.run(self.handle.info())

    def set_member(self, principal: str, mode: ModeLike | None) -> SpaceInfo:
        """Add or change a member (``"rw"`` or ``"ro"``), or remove it with None (owner)."""
        return self._portal.run(self.handle.set_member(principal, mode))

    def put(
        self,
        key: str,
        content: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        kind: str | None = None,
        agent: str | None = None,
        thread: str | None = None,
        region: RegionLike = "memory",
    ) -> Record:
        """Write one record; returns it as stored, with its revision and version."""
        return self._portal.run(
            self.handle.put(
                key,
                content,
                metadata=metadata,
                kind=kind,
                agent=agent,
                thread=thread,
                region=region,
            )
        )

    def put_many(
        self, records: Iterable[RecordWrite | Mapping[str, Any]], *, region: RegionLike = "memory"
    ) -> builtins.list[Record]:
        """Write records (`RecordWrite` or dicts of its fields) in one transaction."""
        return self._portal.run(self.handle.put_many(records, region=region))

    def get(self, key: str, *, region: RegionLike = "memory", at: AtLike = None) -> Record:
        """One record, now or as of ``at``; `NotFound` if it did not exist then."""
        return self._portal.run(self.handle.get(key, region=region, at=at))

    def list(
        self,
        *,
        region: RegionLike = "memory",
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        at: AtLike = None,
        after: str | None = None,
        limit: int = 100,
    ) -> RecordPage:
        """One page of records in key order; see `AsyncSpaceBase.list`."""
        return self._portal.run(
            self.handle.list(
                region=region,
                prefix=prefix,
                agent=agent,
                kind=kind,
                thread=thread,
                since=since,
                until=until,
                at=at,
                after=after,
                limit=limit,
            )
        )

    def iter(
        self,
        *,
        region: RegionLike = "memory",
        prefix: str = "",
        agent: str | None = None,
        kind: str | None = None,
        thread: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        at: AtLike = None,
        page_size: int = 100,
    ) -> Iterator[Record]:
        """Every matching record, page by page, all read at the first page's revision."""
        return self._portal.iterate(
            self.handle.iter(
                region=region,
                prefix=prefix,
                agent=agent,
                kind=kind,
                thread=thread,
                since=since,
                until=until,
                at=at,
                page_size=page_size,
            )
        )

    def delete(self, key: str, *, region: RegionLike = "memory") -> int:
        """Delete a record (its history stays); returns the revision of the deletion."""
        return self._portal.run(self.handle.delete(key, region=region))

    def history(
        self, key: str, *, region: RegionLike = "memory", limit: int | None = None
    ) -> builtins.list[Record]:
        """A record's versions, oldest first; deletions carry ``deleted=True``."""
        return self._portal.run(self.handle.history(key, region=region, limit=limit))

    def diff(
        self, from_at: AtLike, to_at: AtLike = None, *, region: RegionLike | None = None
    ) -> builtins.list[Change]:
        """The records that differ between ``from_at`` and ``to_at`` (default: now)."""
        return self._portal.run(self.handle.diff(from_at, to_at, region=region))

    def revision(self, at: AtLike = None) -> int:
        """The revision now, or the one that was current at ``at``."""
        return self._portal.run(self.handle.revision(at))

    def at(self, when: int | dt.datetime) -> SpaceView:
        """A read-only view of the space as of a revision or a moment (naive: UTC)."""
        return SpaceView(self.handle.at(when), portal=self._portal)

    def agents(self, *, at: AtLike = None) -> builtins.list[AgentEntry]:
        """The agent registry, with presence; as of ``at`` if given."""
        return self._portal.run(self.handle.agents(at=at))

    def trace(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        agent: str | None = None,
        topic: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[CommRecord]:
        """The conversation log in revision order, by time range, agent and topic."""
        return self._portal.run(
            self.handle.trace(since=since, until=until, agent=agent, topic=topic, limit=limit)
        )

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        agent: str | None = None,
        thread: str | None = None,
        resource: str | None = None,
        at: AtLike = None,
        now: dt.datetime | None = None,
    ) -> builtins.list[SearchHit]:
        """The ``k`` best records for ``query``; see `AsyncSpace.search`."""
        return self._portal.run(
            self.handle.search(
                query,
                k=k,
                mode=mode,
                agent=agent,
                thread=thread,
                resource=resource,
                at=at,
                now=now,
            )
        )

    def set_recall(self, settings: RecallSettings | None = None, /, **changes: Any) -> SpaceInfo:
        """Change how the space is indexed for search; see `AsyncSpace.set_recall`."""
        return self._portal.run(self.handle.set_recall(settings, **changes))

    def index_status(self) -> IndexStatus:
        """The space's search index; see `AsyncSpace.index_status`."""
        return self._portal.run(self.handle.index_status())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Space(SpaceBase[AsyncSpace]):
    """A space, as the principal sees it; the twin of `AsyncSpace`."""

    def register(
        self,
        agent: str,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put ``agent`` in the registry; presence lasts ``ttl_s`` unless renewed."""
        return self._portal.run(
            self.handle.register(
                agent, address=address, role=role, capabilities=capabilities, ttl_s=ttl_s
            )
        )

    def heartbeat(self, agent: str) -> float:
        """Renew ``agent``'s presence; returns the seconds it now lasts."""
        return self._portal.run(self.handle.heartbeat(agent))

    def deregister(self, agent: str) -> None:
        """Remove ``agent`` from the registry."""
        self._portal.run(self.handle.deregister(agent))

    def send(
        self,
        sender: str,
        *,
        to: str | None = None,
        topic: str | None = None,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        key: str | None = None,
        ref_key: str | None = None,
        ref_region: RegionLike = "memory",
    ) -> CommRecord:
        """Send to an agent (``to``) or a ``topic``: new ``content`` or a ``ref_key``."""
        return self._portal.run(
            self.handle.send(
                sender,
                to=to,
                topic=topic,
                content=content,
                metadata=metadata,
                key=key,
                ref_key=ref_key,
                ref_region=ref_region,
            )
        )

    def subscribe(self, agent: str, topics: str | Sequence[str]) -> builtins.list[str]:
        """Set the topics ``agent`` follows (it always gets its directed messages)."""
        return self._portal.run(self.handle.subscribe(agent, topics))

    def messages(
        self, agent: str, *, after: int | None = None, limit: int = 1000
    ) -> builtins.list[CommRecord]:
        """Messages for ``agent`` after revision ``after`` (default: its cursor)."""
        return self._portal.run(self.handle.messages(agent, after=after, limit=limit))

    def listen(self, agent: str, *, after: int | None = None, auto_ack: bool = False) -> Listener:
        """Messages for ``agent``, backlog then live; see `AsyncListener` for ``auto_ack``."""
        return Listener(
            self.handle.listen(agent, after=after, auto_ack=auto_ack), portal=self._portal
        )

    def ack(self, agent: str, revision: int) -> int:
        """Store ``agent``'s cursor: it has handled every message up to ``revision``."""
        return self._portal.run(self.handle.ack(agent, revision))

    def cursor(self, agent: str) -> int:
        """The revision ``agent`` last acknowledged (0 if none)."""
        return self._portal.run(self.handle.cursor(agent))


class MountedSpace(SpaceBase[AsyncMountedSpace]):
    """A space as one agent mounted it; the twin of `AsyncMountedSpace`."""

    @property
    def agent(self) -> str:
        """The agent this handle acts as."""
        return self.handle.agent

    @property
    def mode(self) -> Mode | None:
        """The mount's mode, when known."""
        return self.handle.mode

    def unmount(self) -> None:
        """Unmount this space from the agent."""
        self._portal.run(self.handle.unmount())

    def register(
        self,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put this agent in the registry; presence lasts ``ttl_s`` unless renewed."""
        return self._portal.run(
            self.handle.register(address=address, role=role, capabilities=capabilities, ttl_s=ttl_s)
        )

    def heartbeat(self) -> float:
        """Renew this agent's presence; returns the seconds it now lasts."""
        return self._portal.run(self.handle.heartbeat())

    def deregister(self) -> None:
        """Remove this agent from the registry."""
        self._portal.run(self.handle.deregister())

    def send(
        self,
        *,
        to: str | None = None,
        topic: str | None = None,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        key: str | None = None,
        ref_key: str | None = None,
        ref_region: RegionLike = "memory",
    ) -> CommRecord:
        """Send as this agent; see `AsyncSpace.send`."""
        return self._portal.run(
            self.handle.send(
                to=to,
                topic=topic,
                content=content,
                metadata=metadata,
                key=key,
                ref_key=ref_key,
                ref_region=ref_region,
            )
        )

    def subscribe(self, topics: str | Sequence[str]) -> builtins.list[str]:
        """Set the topics this agent follows."""
        return self._portal.run(self.handle.subscribe(topics))

    def messages(self, *, after: int | None = None, limit: int = 1000) -> builtins.list[CommRecord]:
        """Messages for this agent after ``after`` (default: its cursor)."""
        return self._portal.run(self.handle.messages(after=after, limit=limit))

    def listen(self, *, after: int | None = None, auto_ack: bool = False) -> Listener:
        """Messages for this agent, backlog then live; see `AsyncListener`."""
        return Listener(self.handle.listen(after=after, auto_ack=auto_ack), portal=self._portal)

    def ack(self, revision: int) -> int:
        """Store this agent's cursor at ``revision``."""
        return self._portal.run(self.handle.ack(revision))

    def cursor(self) -> int:
        """The revision this agent last acknowledged (0 if none)."""
        return self._portal.run(self.handle.cursor())

    def __repr__(self) -> str:
        return f"<MountedSpace {self.name!r} as {self.agent!r}>"
