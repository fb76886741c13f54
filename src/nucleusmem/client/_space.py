"""Space handles: `AsyncSpace` (any principal) and `AsyncMountedSpace` (an agent persona).

Both are thin: each call converts friendly inputs (see `_convert`) and makes one
`SpaceAPI` call. Creating a handle does no I/O; a missing space surfaces as `NotFound`
on the first call.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from nucleusmem.client._convert import (
    AtLike,
    ModeLike,
    Moment,
    RegionLike,
    to_moment,
    to_optional_mode,
    to_optional_region,
    to_point,
    to_region,
    to_writes,
)
from nucleusmem.client._listen import AsyncListener
from nucleusmem.client._view import AsyncSpaceView
from nucleusmem.errors import ConfigurationError, InvalidRequest
from nucleusmem.recall._service import IndexStatus, SearchHit
from nucleusmem.space._api import RecordPage, SpaceAPI
from nucleusmem.space._base import validated
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

__all__ = ["AsyncMountedSpace", "AsyncSpace", "AsyncSpaceBase"]


class AsyncSpaceBase:
    """The calls every space handle shares: settings, records, history, time travel.

    Regions, modes and kinds may be given as strings; datetimes may be naive (UTC).
    """

    _writer: str | None = None

    def __init__(self, api: SpaceAPI, name: str) -> None:
        self.api = api
        """The session calls go through."""
        self.name = name
        """The space's name."""

    # settings ------------------------------------------------------------------------
    async def info(self) -> SpaceInfo:
        """The space's settings and usage."""
        return await self.api.get_space(self.name)

    async def set_member(self, principal: str, mode: ModeLike | None) -> SpaceInfo:
        """Add or change a member (``"rw"`` or ``"ro"``), or remove it with None (owner)."""
        return await self.api.set_member(self.name, principal, to_optional_mode(mode))

    # records -------------------------------------------------------------------------
    async def put(
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
        fields: dict[str, Any] = {"key": key, "content": content, "kind": kind}
        fields |= {"agent": agent, "thread": thread, "metadata": dict(metadata or {})}
        (record,) = await self.put_many([fields], region=region)
        return record

    async def put_many(
        self, records: Iterable[RecordWrite | Mapping[str, Any]], *, region: RegionLike = "memory"
    ) -> builtins.list[Record]:
        """Write records (`RecordWrite` or dicts of its fields) in one transaction."""
        writes = to_writes(records, agent=self._writer)
        return await self.api.write(self.name, writes, region=to_region(region))

    async def get(self, key: str, *, region: RegionLike = "memory", at: AtLike = None) -> Record:
        """One record, now or as of ``at``; `NotFound` if it did not exist then."""
        return await self.api.get(self.name, key, region=to_region(region), at=to_point(at))

    async def list(
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
        """One page of records in key order, filtered by agent, kind, thread and time.

        ``since``/``until`` bound the write time. Pass ``next_after`` of a page as
        ``after``, and its ``revision`` as ``at``, to read the next page consistently.
        """
        return await self.api.list_records(
            self.name,
            region=to_region(region),
            prefix=prefix,
            agent=agent,
            kind=kind,
            thread=thread,
            since=to_moment(since),
            until=to_moment(until),
            at=to_point(at),
            after=after,
            limit=limit,
        )

    async def iter(
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
    ) -> AsyncIterator[Record]:
        """Every matching record, page by page, all pages read at the first one's revision."""
        after: str | None = None
        while True:
            page = await self.list(
                region=region,
                prefix=prefix,
                agent=agent,
                kind=kind,
                thread=thread,
                since=since,
                until=until,
                at=at,
                after=after,
                limit=page_size,
            )
            for record in page.items:
                yield record
            if page.next_after is None:
                return
            after, at = page.next_after, page.revision

    async def delete(self, key: str, *, region: RegionLike = "memory") -> int:
        """Delete a record (its history stays); returns the revision of the deletion."""
        return await self.api.delete(self.name, key, region=to_region(region))

    async def history(
        self, key: str, *, region: RegionLike = "memory", limit: int | None = None
    ) -> builtins.list[Record]:
        """A record's versions, oldest first; deletions carry ``deleted=True``."""
        return await self.api.history(self.name, key, region=to_region(region), limit=limit)

    # time travel ---------------------------------------------------------------------
    async def diff(
        self, from_at: AtLike, to_at: AtLike = None, *, region: RegionLike | None = None
    ) -> builtins.list[Change]:
        """The records that differ between ``from_at`` and ``to_at`` (default: now)."""
        return await self.api.diff(
            self.name, to_point(from_at), to_point(to_at), region=to_optional_region(region)
        )

    async def revision(self, at: AtLike = None) -> int:
        """The revision now, or the one that was current at ``at``."""
        return await self.api.revision(self.name, at=to_point(at))

    def at(self, when: int | dt.datetime) -> AsyncSpaceView:
        """A read-only view of the space as of a revision or a moment (naive: UTC)."""
        pinned = to_point(when)
        if pinned is None:
            raise InvalidRequest("at() needs a revision or a datetime")
        return AsyncSpaceView(self, pinned)

    # registry and log ----------------------------------------------------------------
    async def agents(self, *, at: AtLike = None) -> builtins.list[AgentEntry]:
        """The agent registry, with presence; as of ``at`` if given."""
        return await self.api.agents(self.name, at=to_point(at))

    async def trace(
        self,
        *,
        since: Moment | None = None,
        until: Moment | None = None,
        agent: str | None = None,
        topic: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[CommRecord]:
        """The conversation log in revision order, by time range, agent and topic."""
        return await self.api.trace(
            self.name,
            since=to_moment(since),
            until=to_moment(until),
            agent=agent,
            topic=topic,
            limit=limit,
        )

    async def search(
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
        """The ``k`` best records for ``query`` (``hybrid``, ``vector`` or ``lexical``).

        With ``agent`` the search is that agent's (its private lane included) and
        looks in ``thread``'s lane, then ``resource``'s, then the agent's, then the
        whole space; each hit says which lane it came from. Time phrases in the query
        ("last week") are resolved against ``now`` (default: the clock).
        """
        hits: builtins.list[SearchHit] = await self._recall_call("search")(
            self.name,
            query,
            k=k,
            mode=mode,
            agent=agent,
            thread=thread,
            resource=resource,
            at=to_point(at),
            now=now,
        )
        return hits

    async def set_recall(
        self, settings: RecallSettings | None = None, /, **changes: Any
    ) -> SpaceInfo:
        """Change how the space is indexed for search (owner only).

        Pass `RecallSettings`, or the fields to change (``embedder="minilm"``,
        ``min_chars=20``, ...) on top of the current settings. Every node rebuilds the
        index in the background and searches the old one until the new one is done;
        `index_status` shows the progress.
        """
        if settings is None:
            current = (await self.api.get_space(self.name)).recall
            settings = validated(RecallSettings, current.model_dump() | changes)
        elif changes:
            raise InvalidRequest("pass settings or changes, not both")
        info: SpaceInfo = await self._recall_call("set_recall")(self.name, settings)
        return info

    async def index_status(self) -> IndexStatus:
        """The space's search index: embedder, indexed revision, skips, any rebuild."""
        status: IndexStatus = await self._recall_call("index_status")(self.name)
        return status

    def _recall_call(self, name: str) -> Any:
        call = getattr(self.api, name, None)
        if call is None:
            raise ConfigurationError("this client's session cannot search")
        return call

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class AsyncSpace(AsyncSpaceBase):
    """A space, as the principal sees it; comm calls name the agent explicitly."""

    async def register(
        self,
        agent: str,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put ``agent`` in the registry; presence lasts ``ttl_s`` unless renewed."""
        return await self.api.register(
            self.name, agent, address=address, role=role, capabilities=capabilities, ttl_s=ttl_s
        )

    async def heartbeat(self, agent: str) -> float:
        """Renew ``agent``'s presence; returns the seconds it now lasts."""
        return await self.api.heartbeat(self.name, agent)

    async def deregister(self, agent: str) -> None:
        """Remove ``agent`` from the registry."""
        await self.api.deregister(self.name, agent)

    async def send(
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
        """Send to an agent (``to``) or a ``topic``: new ``content`` or a ``ref_key``.

        With ``content`` the message is first written as a memory record (at ``key``, or
        a generated one); with ``ref_key`` it points at an existing record.
        """
        return await self.api.send(
            self.name,
            sender=sender,
            to=to,
            topic=topic,
            content=content,
            metadata=None if metadata is None else dict(metadata),
            key=key,
            ref_key=ref_key,
            ref_region=to_region(ref_region),
        )

    async def subscribe(self, agent: str, topics: str | Sequence[str]) -> builtins.list[str]:
        """Set the topics ``agent`` follows (it always gets its directed messages)."""
        chosen = [topics] if isinstance(topics, str) else builtins.list(topics)
        return await self.api.subscribe(self.name, agent, chosen)

    async def messages(
        self, agent: str, *, after: int | None = None, limit: int = 1000
    ) -> builtins.list[CommRecord]:
        """Messages for ``agent`` after revision ``after`` (default: its cursor)."""
        return await self.api.messages(self.name, agent, after=after, limit=limit)

    def listen(
        self, agent: str, *, after: int | None = None, auto_ack: bool = False
    ) -> AsyncListener:
        """Messages for ``agent``, backlog then live; see `AsyncListener` for ``auto_ack``."""
        return AsyncListener(self.api, self.name, agent, after=after, auto_ack=auto_ack)

    async def ack(self, agent: str, revision: int) -> int:
        """Store ``agent``'s cursor: it has handled every message up to ``revision``."""
        return await self.api.ack(self.name, agent, revision)

    async def cursor(self, agent: str) -> int:
        """The revision ``agent`` last acknowledged (0 if none)."""
        return await self.api.cursor(self.name, agent)


class AsyncMountedSpace(AsyncSpaceBase):
    """A space as one agent mounted it: writes, sends and listening act as that agent.

    Records written without an ``agent`` get this one; comm calls take no agent argument.
    ``mode`` is the mount's mode when known (None for a handle made without I/O).
    """

    def __init__(self, api: SpaceAPI, name: str, *, agent: str, mode: Mode | None) -> None:
        super().__init__(api, name)
        self.agent = agent
        """The agent this handle acts as."""
        self.mode = mode
        """The mount's mode, when known."""
        self._writer = agent
        self._space = AsyncSpace(api, name)

    async def unmount(self) -> None:
        """Unmount this space from the agent."""
        await self.api.unmount(self.agent, self.name)

    async def register(
        self,
        *,
        address: str = "",
        role: str = "",
        capabilities: Sequence[str] = (),
        ttl_s: float | None = 30.0,
    ) -> AgentEntry:
        """Put this agent in the registry; presence lasts ``ttl_s`` unless renewed."""
        return await self._space.register(
            self.agent, address=address, role=role, capabilities=capabilities, ttl_s=ttl_s
        )

    async def heartbeat(self) -> float:
        """Renew this agent's presence; returns the seconds it now lasts."""
        return await self._space.heartbeat(self.agent)

    async def deregister(self) -> None:
        """Remove this agent from the registry."""
        await self._space.deregister(self.agent)

    async def send(
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
        return await self._space.send(
            self.agent,
            to=to,
            topic=topic,
            content=content,
            metadata=metadata,
            key=key,
            ref_key=ref_key,
            ref_region=ref_region,
        )

    async def subscribe(self, topics: str | Sequence[str]) -> builtins.list[str]:
        """Set the topics this agent follows."""
        return await self._space.subscribe(self.agent, topics)

    async def messages(
        self, *, after: int | None = None, limit: int = 1000
    ) -> builtins.list[CommRecord]:
        """Messages for this agent after ``after`` (default: its cursor)."""
        return await self._space.messages(self.agent, after=after, limit=limit)

    def listen(self, *, after: int | None = None, auto_ack: bool = False) -> AsyncListener:
        """Messages for this agent, backlog then live; see `AsyncListener`."""
        return self._space.listen(self.agent, after=after, auto_ack=auto_ack)

    async def ack(self, revision: int) -> int:
        """Store this agent's cursor at ``revision``."""
        return await self._space.ack(self.agent, revision)

    async def cursor(self) -> int:
        """The revision this agent last acknowledged (0 if none)."""
        return await self._space.cursor(self.agent)

    def __repr__(self) -> str:
        return f"<AsyncMountedSpace {self.name!r} as {self.agent!r}>"
