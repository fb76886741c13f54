"""Memory as communication: the registry, send, subscriptions, cursors and the trace.

A message is a comm record under ``nm/c/<space>/<channel>/<id>`` referencing a record
by key; sending new content writes the record and the reference in one transaction.
Receivers are pushed the reference by the node's watcher and pull the content. Every
message stays in the store, so a listener that was away replays what it missed from
its cursor, in revision order.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

from nucleusmem.errors import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    InvalidRevision,
    LeaseExpired,
    NotFound,
)
from nucleusmem.kv import Delete, KeyValue, Put, Write
from nucleusmem.space._api import At
from nucleusmem.space._base import retry_conflicts, validated
from nucleusmem.space._codec import decode_comm, dumps, encode_comm, encode_record, loads
from nucleusmem.space._keys import K, channel_of
from nucleusmem.space._models import (
    AgentEntry,
    CommRecord,
    DataRegion,
    RecordWrite,
    check_name,
    check_record_key,
)
from nucleusmem.space._records import RecordCalls, _region

__all__ = ["CommCalls", "new_message_id"]

_MIN_TTL_S, _MAX_TTL_S = 1.0, 86_400.0


def new_message_id() -> str:
    """A message id that sorts by creation time: nanoseconds then random bits, in hex."""
    return f"{time.time_ns():016x}{os.urandom(4).hex()}"


class CommCalls(RecordCalls):
    """The registry and messaging calls of `SpaceAPI`."""

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
        check_name("agent", agent)
        if ttl_s is not None and not _MIN_TTL_S <= ttl_s <= _MAX_TTL_S:
            raise InvalidRequest(f"ttl_s must be between {_MIN_TTL_S} and {_MAX_TTL_S}")
        info = await self._svc.check(self.principal, space, "write")
        await self._may_manage(agent, info.owner, space)
        entry = validated(
            AgentEntry,
            {
                "agent": agent,
                "address": address,
                "role": role,
                "capabilities": list(capabilities),
                "registered_by": self.principal,
                "registered_at": self._svc.now(),
                "ttl_s": ttl_s,
            },
        )
        old = await self._store.get(K.presence(space, agent))
        lease = await self._store.grant_lease(ttl_s) if ttl_s is not None else None
        presence = dumps({"lease": lease.id if lease else None})
        writes = [
            Put(K.registry(space, agent), entry.model_dump_json().encode()),
            Put(K.presence(space, agent), presence, lease.id if lease else None),
        ]
        try:
            revision = await self._store.commit(writes, reads={K.space(space): info.revision})
        except Conflict:  # the cached settings were stale: check again, fresh
            self._svc.forget_space(space)
            info = await self._svc.check(self.principal, space, "write")
            revision = await self._store.commit(writes, reads={K.space(space): info.revision})
        if old is not None and old.lease is not None:
            await _revoke_quietly(self, old.lease)
        return entry.model_copy(update={"online": True, "revision": revision})

    async def heartbeat(self, space: str, agent: str) -> float:
        """Renew ``agent``'s presence; returns the seconds it now lasts."""
        check_name("agent", agent)
        info = await self._svc.check(self.principal, space, "write")
        await self._may_manage(agent, info.owner, space)
        kv = await self._store.get(K.presence(space, agent))
        if kv is not None and kv.lease is not None:
            try:
                return await self._store.keep_alive(kv.lease)
            except LeaseExpired:
                pass
        entry = await self._store.get(K.registry(space, agent))
        if entry is None:
            raise NotFound("agent", f"{space}/{agent}")
        ttl_s = AgentEntry.model_validate_json(entry.value).ttl_s
        if ttl_s is None:
            await self._store.put(K.presence(space, agent), dumps({"lease": None}))
            return float("inf")
        lease = await self._store.grant_lease(ttl_s)
        await self._store.put(K.presence(space, agent), dumps({"lease": lease.id}), lease=lease.id)
        return ttl_s

    async def deregister(self, space: str, agent: str) -> None:
        """Remove ``agent`` from the registry."""
        check_name("agent", agent)
        info = await self._svc.check(self.principal, space, "write")
        await self._may_manage(agent, info.owner, space)
        presence = await self._store.get(K.presence(space, agent))
        if await self._store.get(K.registry(space, agent)) is None:
            raise NotFound("agent", f"{space}/{agent}")
        await self._store.commit(
            [Delete(K.registry(space, agent)), Delete(K.presence(space, agent))]
        )
        if presence is not None and presence.lease is not None:
            await _revoke_quietly(self, presence.lease)

    async def agents(self, space: str, *, at: At = None) -> list[AgentEntry]:
        """The space's registry, with presence."""
        await self._svc.check(self.principal, space, "read")
        revision = await self._svc.resolve(at) or await self._store.revision()
        online = {
            kv.key[len(K.presence(space)) :]
            async for kv in self._range_all(K.presence(space), revision)
        }
        base = K.registry(space)
        return [
            AgentEntry.model_validate_json(kv.value).model_copy(
                update={"online": kv.key[len(base) :] in online, "revision": kv.revision}
            )
            async for kv in self._range_all(base, revision)
        ]

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
        region = _region(ref_region)
        check_name("agent", sender)
        if (to is None) == (topic is None):
            raise InvalidRequest("send to exactly one of an agent (to) or a topic")
        if to is not None:
            check_name("agent", to)
        if topic is not None:
            check_name("topic", topic)
        if (content is None) == (ref_key is None):
            raise InvalidRequest("send either new content or a ref_key to an existing record")
        if content is None and (key is not None or metadata):
            raise InvalidRequest("key and metadata name new content; they need content")
        msg_id = new_message_id()
        record_key = check_record_key(key if key is not None else ref_key or f"msg/{msg_id}")
        await self._svc.check(self.principal, space, "write")
        await self._svc.claim_agent(self.principal, sender)
        now = self._svc.now()
        record = CommRecord(
            id=msg_id,
            space=space,
            sender=sender,
            to=to,
            topic=topic,
            ref_key=record_key,
            ref_region=region,
            time=now,
        )
        comm_key = K.comm(space, channel_of(to, topic), msg_id)
        data_key = K.data(space, region, record_key)
        writes: list[Write] = [Put(comm_key, encode_comm(record))]
        new_keys = {comm_key}
        if content is not None:
            write = validated(
                RecordWrite,
                {"key": record_key, "content": content, "metadata": metadata or {}}
                | {"agent": sender},
            )
            writes.append(Put(data_key, encode_record(write, now)))
            if key is None:
                new_keys.add(data_key)  # msg/<id> is fresh
        also_read = [K.registry(space, to)] if to is not None else []
        if content is None:
            also_read.append(data_key)

        def targets_exist(found: list[KeyValue | None]) -> None:
            if to is not None and found[0] is None:
                raise NotFound("agent", f"{space}/{to}")
            if content is None and found[-1] is None:
                raise NotFound("record", f"{space}/{region}/{record_key}")

        _, _, revision = await self.commit_counted(
            space, writes, new_keys=new_keys, also_read=also_read, check=targets_exist
        )
        return record.model_copy(update={"revision": revision})

    async def subscribe(self, space: str, agent: str, topics: Sequence[str]) -> list[str]:
        """Set the topics ``agent`` follows (it always gets its own directed messages)."""
        if isinstance(topics, str):
            raise InvalidRequest("topics must be a list of names")
        names = sorted({check_name("topic", t) for t in topics})
        if len(names) > 256:
            raise InvalidRequest("an agent follows at most 256 topics")
        await self._listener(space, agent)
        await self._store.put(K.topics(space, agent), dumps(names))
        return names

    async def messages(
        self, space: str, agent: str, *, after: int | None = None, limit: int = 1000
    ) -> list[CommRecord]:
        """Messages for ``agent`` after revision ``after`` (default: its cursor)."""
        if not 1 <= limit <= 10_000:
            raise InvalidRequest(f"limit must be between 1 and 10000, got {limit}")
        channels, start = await self._channels_from(space, agent, after)
        return (await self._backlog(space, channels, start))[:limit]

    async def listen(
        self, space: str, agent: str, *, after: int | None = None
    ) -> AsyncIterator[CommRecord]:
        """Messages for ``agent`` after ``after`` (default: its cursor), then live."""
        stream = await self.open_stream(space, agent, after=after)
        try:
            async for record in stream:
                if record is not None:
                    yield record
        finally:
            await stream.aclose()

    async def open_stream(
        self, space: str, agent: str, *, after: int | None = None, idle_s: float | None = None
    ) -> CommStream:
        """Like `listen`, but checked and subscribed before it returns (for servers).

        The stream yields None when ``idle_s`` passes without a message, so a server
        can send a keepalive; it ends when the node shuts down.
        """
        channels, start = await self._channels_from(space, agent, after)
        await self._svc.start()
        return CommStream(self, space, channels, start, idle_s)

    async def ack(self, space: str, agent: str, revision: int) -> int:
        """Store ``agent``'s cursor: it has handled every message up to ``revision``."""
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
            raise InvalidRequest(f"revision must be a non-negative integer, got {revision!r}")
        await self._listener(space, agent)
        head = await self._store.revision()
        if revision > head:
            raise InvalidRevision(revision, head, "it is in the future")
        key = K.cursor(space, agent)

        async def attempt() -> int:
            kv = await self._store.get(key)
            current = int(kv.value) if kv is not None else 0
            if revision <= current:
                return current
            await self._store.commit(
                [Put(key, str(revision).encode())], reads={key: kv.revision if kv else 0}
            )
            return revision

        return await retry_conflicts(attempt)

    async def cursor(self, space: str, agent: str) -> int:
        """The revision ``agent`` last acknowledged (0 if none)."""
        await self._listener(space, agent)
        kv = await self._store.get(K.cursor(space, agent))
        return int(kv.value) if kv is not None else 0

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
        """The conversation log in revision order, by time range, agent and topic.

        With more than ``limit`` matches, the newest ``limit`` are returned.
        """
        if not 1 <= limit <= 10_000:
            raise InvalidRequest(f"limit must be between 1 and 10000, got {limit}")
        await self._svc.check(self.principal, space, "read")
        records = [
            r
            async for kv in self._range_all(K.comm(space))
            if (r := decode_comm(space, kv.value, kv.revision))
            and (since is None or r.time >= since)
            and (until is None or r.time < until)
            and (agent is None or agent in (r.sender, r.to))
            and (topic is None or r.topic == topic)
        ]
        records.sort(key=lambda r: r.revision)
        return records[-limit:]

    # helpers -------------------------------------------------------------------------
    async def _may_manage(self, agent: str, space_owner: str, space: str) -> None:
        owner = await self._svc.agent_owner(agent)
        if owner is None:
            await self._svc.claim_agent(self.principal, agent)
        elif owner != self.principal and self.principal != space_owner:
            raise AccessDenied(self.principal, f"manage agent {agent!r}", space)

    async def _listener(self, space: str, agent: str) -> None:
        """Check that this principal may read ``space`` and act as ``agent``."""
        check_name("agent", agent)
        await self._svc.check(self.principal, space, "read")
        await self._svc.claim_agent(self.principal, agent)

    async def _channels_from(
        self, space: str, agent: str, after: int | None
    ) -> tuple[list[str], int]:
        """``agent``'s channels, and where to start: ``after``, else its cursor."""
        if after is not None and (
            isinstance(after, bool) or not isinstance(after, int) or after < 0
        ):
            raise InvalidRequest(f"after must be a non-negative revision, got {after!r}")
        await self._listener(space, agent)
        topics, cursor = await self._store.get_many(
            [K.topics(space, agent), K.cursor(space, agent)]
        )
        names: list[str] = loads(topics.value) if topics is not None else []
        if after is None:
            after = int(cursor.value) if cursor is not None else 0
        return [f"@{agent}", *(f"#{t}" for t in names)], after

    async def _backlog(self, space: str, channels: Sequence[str], after: int) -> list[CommRecord]:
        """Stored messages on ``channels`` above revision ``after``, in revision order."""
        per_channel = [
            [
                decode_comm(space, kv.value, kv.revision)
                async for kv in self._range_all(K.comm(space, channel))
                if kv.revision > after
            ]
            for channel in channels
        ]
        for records in per_channel:
            records.sort(key=lambda r: r.revision)
        return list(heapq.merge(*per_channel, key=lambda r: r.revision))


class CommStream:
    """One listener's messages: the backlog from the store, then live from the watcher.

    It is subscribed with the watcher before the backlog is read, so nothing falls
    between the two; anything at or below the last revision yielded is dropped. When
    its queue overflowed it catches up from the store again.
    """

    def __init__(
        self,
        calls: CommCalls,
        space: str,
        channels: list[str],
        after: int,
        idle_s: float | None,
    ) -> None:
        self._calls = calls
        self._space = space
        self._channels = channels
        self.position = after
        """The revision of the last message yielded (or the start)."""
        self._idle_s = idle_s
        self._watcher = calls._svc.watcher
        self._sub = self._watcher.subscribe(space, channels)
        self._backlog: deque[CommRecord] = deque()
        self._catch_up = True

    def __aiter__(self) -> CommStream:
        return self

    async def __anext__(self) -> CommRecord | None:
        while True:
            if self._backlog:
                await self._still_allowed()
                record = self._backlog.popleft()
                self.position = record.revision
                return record
            if self._sub.ended:
                raise StopAsyncIteration
            if self._catch_up:
                self._sub.clear()
                self._catch_up = False
                backlog = await self._calls._backlog(self._space, self._channels, self.position)
                self._backlog.extend(backlog)
                continue
            live = await self._sub.get(self._idle_s)
            if live is None:
                if self._sub.ended:
                    raise StopAsyncIteration
                if self._sub.lagged:
                    self._catch_up = True
                    continue
                await self._still_allowed()
                return None
            if live.revision > self.position:
                await self._still_allowed()
                self.position = live.revision
                return live

    async def _still_allowed(self) -> None:
        """Raise `AccessDenied` or `NotFound` once the listener lost the space.

        Settings come from the node's cache, which a watch keeps fresh, so this is a
        dictionary lookup per message, not a read.
        """
        await self._calls._svc.check(self._calls.principal, self._space, "read")

    async def aclose(self) -> None:
        """Stop receiving."""
        self._watcher.unsubscribe(self._sub)


async def _revoke_quietly(calls: CommCalls, lease_id: int) -> None:
    with contextlib.suppress(LeaseExpired):
        await calls._store.revoke_lease(lease_id)
