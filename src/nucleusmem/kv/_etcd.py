"""``etcd://host:port,...``: an etcd v3 cluster over gRPC, with Raft replication.

Revisions, watches, transactions and leases are etcd's own. Two reserved keys carry
what etcd does not keep: ``\\x00clock`` is written by every commit with its wall-clock
time (so the clock's value as of revision r is the time of r), and ``\\x00floor``
holds the compaction floor. User ranges start at ``\\x01``, so they never see either.

Calls go to one endpoint at a time and move to the next one when it cannot serve
(refused connection, no leader). Reads are retried until ``timeout_s`` is spent; a
commit is retried only when etcd certainly did not apply it, otherwise it raises
`StoreUnavailable` with ``outcome_unknown=True``.

Where etcd differs from `MemoryStore`: an empty etcd is at revision 1, so the first
commit gets 2; a compaction writes the floor key, so it takes a revision; revisions
made by lease expiry carry the time of the commit before them, and `revision_at` a
time below the floor answers ``floor - 1``; lease TTLs are whole seconds, at least
etcd's minimum; a commit must fit etcd's limits of 128 compares (keys read, prefixes
read and keys written) and 1.5 MiB per request; a watch's requested progress marker
takes up to two of etcd's watch sync passes (100 ms each), see `Fence`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from nucleusmem.errors import (
    Compacted,
    ConfigurationError,
    LeaseExpired,
    NucleusMemError,
    StoreUnavailable,
    TxnTooLarge,
    ValueTooLarge,
)
from nucleusmem.kv._etcd_messages import (
    _TO_THE_END,
    _check_floor,
    _compare_mod,
    _compare_value,
    _decode_int,
    _delete,
    _encode_int,
    _event,
    _future,
    _header_revision,
    _kv,
    _not_applied,
    _put,
    _range_op,
    _retryable,
    _user_range,
    _version,
)
from nucleusmem.kv._etcd_watch import (
    WAKE,
    WATCH_BATCH_REVISIONS,
    Fence,
    maybe_cut,
    pump_replies,
    send,
)
from nucleusmem.kv._store import Store, first_conflict
from nucleusmem.kv._types import (
    RESERVED_PREFIX,
    Event,
    KeyValue,
    Limits,
    Progress,
    Put,
    RangeResult,
    Version,
    Write,
)
from nucleusmem.kv._watch import ProgressWanted

try:
    import grpc  # type: ignore[import-untyped]
    from aetcd import rpc
except ImportError:  # pragma: no cover - exercised only without the extra
    grpc = None
    rpc = None

__all__ = ["EtcdStore"]

_CLOCK = RESERVED_PREFIX + b"clock"
_FLOOR = RESERVED_PREFIX + b"floor"
_METADATA = (("hasleader", "true"),)  # fail fast on members cut off from the leader
_MAX_TXN_OPS = 128
_EXPLAIN_ALWAYS = 8  # commits checking more keys learn why they failed only on failure
_MAX_REQUEST_BYTES = 1572864
_WATCH_PROBE_S = 5.0
_CONNECT_TIMEOUT_S = 2.0
# Pings no more often than etcd's --grpc-keepalive-min-time (5 s) allows, and only
# while calls are open: etcd answers pings on idle connections with GOAWAY.
_CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)
# etcd answers these before proposing anything: the request was certainly not applied.


class _About(NamedTuple):
    """What a request concerns, for the error it may raise."""

    revision: int = 0
    lease_id: int = 0
    ops: int = 0
    key: bytes = b""


_NOTHING = _About()


@dataclass(slots=True)
class _Conn:
    channel: Any
    kv: Any
    watch: Any
    lease: Any

    async def keep_alive(self, request: Any, *, timeout: float, metadata: Any) -> Any:
        """One round of the LeaseKeepAlive stream, as a unary call."""
        requests: asyncio.Queue[Any] = asyncio.Queue()
        requests.put_nowait(request)
        call = self.lease.LeaseKeepAlive(_drain(requests), timeout=timeout, metadata=metadata)
        try:
            reply = await call.read()
        finally:
            call.cancel()
            requests.put_nowait(None)
        if reply is grpc.aio.EOF:
            raise StoreUnavailable("the etcd keep-alive stream ended without a reply")
        return reply


class EtcdStore(Store):
    """A store on an etcd v3 cluster: durable, shared, replicated.

    ``endpoints`` are the members' client addresses; ``timeout_s`` bounds each
    operation, failovers included.
    """

    scheme = "etcd"
    durable = True
    shared = True

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int]],
        *,
        limits: Limits | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if rpc is None:
            raise ConfigurationError(
                "the etcd backend needs the 'etcd' extra: pip install 'nucleusmem[etcd]'"
            )
        if not endpoints:
            raise ConfigurationError("an etcd store needs at least one endpoint")
        if not timeout_s > 0:
            raise ConfigurationError(f"timeout_s must be positive, got {timeout_s}")
        super().__init__(limits=limits)
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self._current = 0
        self._conns: dict[int, _Conn] = {}
        self._seen_head = 0
        self._floor_exists = False
        self._last_time = 0.0
        self._closed = False

    # -- connections -----------------------------------------------------------------

    def _conn(self, index: int) -> _Conn:
        conn = self._conns.get(index)
        if conn is None:
            host, port = self.endpoints[index]
            channel = rpc.insecure_channel(f"{host}:{port}", options=_CHANNEL_OPTIONS)
            conn = _Conn(
                channel, rpc.KVStub(channel), rpc.WatchStub(channel), rpc.LeaseStub(channel)
            )
            self._conns[index] = conn
        return conn

    def _rotate(self, index: int) -> None:
        if self._current == index:
            self._current = (index + 1) % len(self.endpoints)

    async def _ready(self, deadline: float) -> tuple[int, _Conn]:
        """A connected endpoint, moving past the ones that refuse or do not answer."""
        loop = asyncio.get_running_loop()
        backoff = 0.02
        for attempt in range(1, 1_000_000):
            if self._closed:
                raise StoreUnavailable("the etcd store is closed")
            index = self._current
            conn = self._conn(index)
            wait = min(deadline - loop.time(), _CONNECT_TIMEOUT_S)
            if wait > 0 and await _wait_ready(conn.channel, wait):
                return index, conn
            self._rotate(index)
            if loop.time() >= deadline:
                break
            if attempt % len(self.endpoints) == 0:
                await asyncio.sleep(min(backoff, max(deadline - loop.time(), 0)))
                backoff = min(backoff * 2, 0.5)
        raise StoreUnavailable(f"no etcd endpoint of {self._where()} could be reached")

    async def _call(
        self,
        method: Callable[[_Conn], Any],
        request: Any,
        *,
        retry: bool = True,
        about: _About = _NOTHING,
    ) -> Any:
        """One call with failover; every driver error is translated here.

        ``retry`` is false for requests that must not be applied twice: those are
        retried only when etcd certainly did not apply them.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        backoff = 0.02
        while True:
            index, conn = await self._ready(deadline)
            remaining = deadline - loop.time()
            attempt_s = remaining if not retry else min(remaining, max(self.timeout_s / 3, 1.0))
            try:
                reply = await method(conn)(request, timeout=attempt_s, metadata=_METADATA)
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), (exc.details() or "")
                retryable = _retryable(code, details)
                if retryable and not retry and not _not_applied(details):
                    raise StoreUnavailable(
                        f"etcd at {self._where(index)} failed during a commit ({details}); "
                        "it may or may not have been applied",
                        outcome_unknown=True,
                    ) from exc
                if not retryable:
                    raise await self._rejected(code, details, request, about) from exc
                self._rotate(index)
                if loop.time() + backoff >= deadline:
                    raise StoreUnavailable(
                        f"etcd at {self._where()} did not answer within {self.timeout_s} s: "
                        f"{details}"
                    ) from exc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            self._seen_head = max(self._seen_head, _header_revision(reply))
            return reply

    async def _rejected(
        self, code: Any, details: str, request: Any, about: _About
    ) -> NucleusMemError:
        revision = about.revision
        if "required revision has been compacted" in details:
            floor = await self._floor()  # our floor is etcd's compaction revision + 1
            return Compacted(floor if floor > revision else revision + 1, revision)
        if "required revision is a future revision" in details:
            head = await self._head()
            return _future(revision, head)
        if "requested lease not found" in details:
            return LeaseExpired(about.lease_id)
        if "too many operations in txn request" in details:
            return TxnTooLarge(about.ops, _MAX_TXN_OPS)
        if "request is too large" in details or "larger than max" in details:
            size = request.ByteSize()  # etcd limits the whole request, not each value
            return ValueTooLarge(about.key, size, _MAX_REQUEST_BYTES)
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return ConfigurationError(f"etcd refused the request: {details}")
        return StoreUnavailable(f"etcd rejected the request: {code.name} {details}")

    def _where(self, index: int | None = None) -> str:
        if index is None:
            return ",".join(f"{h}:{p}" for h, p in self.endpoints)
        host, port = self.endpoints[index]
        return f"{host}:{port}"

    # -- writes ----------------------------------------------------------------------

    async def _commit(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
    ) -> int:
        if snapshot is not None and snapshot > self._seen_head:
            head = await self._head()
            if snapshot > head:
                raise _future(snapshot, head)
        success = [
            _put(w.key, w.value, w.lease) if isinstance(w, Put) else _delete(w.key) for w in writes
        ]
        if writes:
            success.append(_put(_CLOCK, self._clock_value()))
        puts = [w for w in writes if isinstance(w, Put)]
        biggest = max(puts, key=lambda w: len(w.value)).key if puts else b""
        # With many keys to check, first try without the failure-branch reads (building
        # them costs more than the commit); only a failed attempt is redone with them.
        explain = len(reads) + len(prefix_reads) <= _EXPLAIN_ALWAYS
        for _ in range(4):
            compares, failure = self._checks(writes, reads, prefix_reads, snapshot, explain)
            request = rpc.TxnRequest(compare=compares, success=success, failure=failure)
            try:
                about = _About(ops=len(compares), key=biggest)
                reply = await self._call(lambda c: c.kv.Txn, request, retry=not writes, about=about)
            except LeaseExpired:
                raise await self._dead_lease(writes) from None
            if reply.succeeded:
                return int(reply.header.revision)
            if not explain:
                explain = True
                continue
            self._conflict(writes, reads, prefix_reads, snapshot, reply)
            self._floor_exists = True  # the floor key changed after the snapshot
        raise StoreUnavailable("the commit could not be validated against the floor")

    def _checks(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
        explain: bool = True,
    ) -> tuple[list[Any], list[Any]]:
        """Compares for a commit, and failure-branch reads that say which one failed.

        Without ``explain``, no failure-branch reads (the caller asks again if it fails).
        """
        compares = [_compare_mod(key, "EQUAL", seen) for key, seen in reads.items()]
        failure = [_range_op(key) for key in reads] if explain else []
        if snapshot is None:
            return compares, failure
        if self._floor_exists:
            compares.append(_compare_value(_FLOOR, "LESS", _encode_int(snapshot + 1)))
        else:  # trips on any compaction since the snapshot; then _commit retries by value
            compares.append(_compare_mod(_FLOOR, "LESS", snapshot + 1))
        if explain:
            failure.append(_range_op(_FLOOR, values=True))
        for prefix in prefix_reads:
            start, end = _user_range(prefix)
            compares.append(_compare_mod(start, "LESS", snapshot + 1, range_end=end))
            if explain:
                failure.append(_range_op(start, end, min_mod_revision=snapshot + 1))
        for write in writes:
            if write.key not in reads:
                compares.append(_compare_mod(write.key, "LESS", snapshot + 1))
                if explain:
                    failure.append(_range_op(write.key))
        return compares, failure

    def _conflict(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
        reply: Any,
    ) -> None:
        """Raise what made a commit fail; return if only the floor guard tripped."""
        results = [list(r.response_range.kvs) for r in reply.responses]
        n = len(reads)
        singles = results[:n] + results[n + 1 + len(prefix_reads) :]  # reads, written keys
        live = {kvs[0].key: int(kvs[0].mod_revision) for kvs in singles if kvs}
        newest: dict[bytes, tuple[bytes, int] | None] = {}
        if snapshot is not None:
            floor = _decode_int(results[n][0].value) if results[n] else 0
            if floor > snapshot:
                raise Compacted(floor, snapshot)
            head = int(reply.header.revision)
            if snapshot > head:
                raise _future(snapshot, head)
            for prefix, kvs in zip(
                prefix_reads, results[n + 1 : n + 1 + len(prefix_reads)], strict=True
            ):
                best = max(kvs, key=lambda kv: kv.mod_revision, default=None)
                newest[prefix] = (best.key, int(best.mod_revision)) if best else None
        conflict = first_conflict(
            writes, reads, prefix_reads, snapshot, lambda key: live.get(key, 0), newest.get
        )
        if conflict is not None:
            raise conflict

    async def _dead_lease(self, writes: tuple[Write, ...]) -> LeaseExpired:
        leases = [w.lease for w in writes if isinstance(w, Put) and w.lease is not None]
        for lease_id in dict.fromkeys(leases):
            if await self._lease_ttl(lease_id) is None:
                return LeaseExpired(lease_id)
        return LeaseExpired(leases[0] if leases else 0)

    def _clock_value(self) -> bytes:
        self._last_time = max(time.time(), self._last_time)
        return repr(self._last_time).encode()

    # -- reads -----------------------------------------------------------------------

    async def _read(self, request: Any, revision: int | None) -> tuple[Any, int]:
        """A Range now, or at ``revision`` checked against the floor in the same read."""
        if revision is None:
            reply = await self._call(lambda c: c.kv.Range, request)
            return reply, int(reply.header.revision)
        request.revision = revision
        ops = [rpc.RequestOp(request_range=request), _range_op(_FLOOR, values=True)]
        txn = await self._call(
            lambda c: c.kv.Txn, rpc.TxnRequest(success=ops), about=_About(revision)
        )
        _check_floor(txn.responses[1], revision)
        return txn.responses[0].response_range, revision

    async def _get(self, key: bytes, revision: int | None) -> tuple[KeyValue | None, int]:
        reply, at = await self._read(rpc.RangeRequest(key=key), revision)
        return (_kv(reply.kvs[0]) if reply.kvs else None), at

    async def _get_many(self, keys: Sequence[bytes], revision: int | None) -> list[KeyValue | None]:
        found: list[KeyValue | None] = []
        at = revision
        for i in range(0, len(keys), _MAX_TXN_OPS - 1):
            chunk = keys[i : i + _MAX_TXN_OPS - 1]
            ops = [_range_op(k, values=True, revision=at or 0) for k in chunk]
            ops.append(_range_op(_FLOOR, values=True))
            reply = await self._call(
                lambda c: c.kv.Txn, rpc.TxnRequest(success=ops), about=_About(at or 0)
            )
            if at is not None:
                _check_floor(reply.responses[-1], at)
            at = at or int(reply.header.revision)  # later chunks read where the first did
            for r in reply.responses[:-1]:
                kvs = r.response_range.kvs
                found.append(_kv(kvs[0]) if kvs else None)
        return found

    async def _range(
        self, prefix: bytes, revision: int | None, after: bytes | None, limit: int | None
    ) -> RangeResult:
        start, end = _user_range(prefix)
        if after is not None and after + b"\x00" > start:
            start = after + b"\x00"
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit + 1 if limit else 0)
        reply, at = await self._read(request, revision)
        items = [_kv(kv) for kv in reply.kvs]
        if end != _TO_THE_END and start >= end:
            items = []
        if limit is not None and len(items) > limit:
            return RangeResult(items[:limit], at, more=True)
        return RangeResult(items, at)

    async def _history(self, key: bytes) -> list[Version]:
        while True:
            ops = [_range_op(key), _range_op(_FLOOR, values=True), _range_op(_CLOCK)]
            reply = await self._call(lambda c: c.kv.Txn, rpc.TxnRequest(success=ops))
            head = int(reply.header.revision)
            now, floor_kvs, clock = (list(r.response_range.kvs) for r in reply.responses)
            start = max(_decode_int(floor_kvs[0].value) if floor_kvs else 0, 1)
            last = int(now[0].mod_revision) if now else None
            if not clock or (last is not None and last < start):
                return []
            try:
                events = await self._replay(key, start, head, last, int(clock[0].mod_revision))
            except Compacted:
                continue  # compacted while replaying: start again from the new floor
            times = await self._times_at(sorted({int(e.kv.mod_revision) for e in events}))
            return [_version(e, times[int(e.kv.mod_revision)]) for e in events]

    async def _replay(
        self, key: bytes, start: int, head: int, last: int | None, clock_revision: int
    ) -> list[Any]:
        """The key's events from ``start`` through ``head``, with failover.

        etcd sends a replay batch only when it has events, so the end is known by one
        of: the key's last known revision arriving; a complete batch (fewer than
        etcd's batch limit) read at or after ``head``; or two marker watches on the
        clock key answered one after the other, which etcd serves after the pass that
        replayed the key.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            index, conn = await self._ready(deadline)
            requests: asyncio.Queue[Any] = asyncio.Queue()
            call = conn.watch.Watch(_drain(requests), metadata=_METADATA)

            def watch(watch_id: int, watched: bytes, revision: int, queue: Any = requests) -> None:
                create = rpc.WatchCreateRequest(
                    key=watched, start_revision=revision, watch_id=watch_id
                )
                queue.put_nowait(rpc.WatchRequest(create_request=create))

            found: list[Any] = []
            marker, stage = 2, 1
            watch(1, key, start)
            if last is None:
                watch(marker, _CLOCK, clock_revision)
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                    async for reply in call:
                        if reply.compact_revision:
                            raise Compacted(int(reply.compact_revision), start)
                        if reply.canceled:
                            raise StoreUnavailable(f"etcd canceled a watch: {reply.cancel_reason}")
                        if reply.watch_id == 1 and reply.events:
                            found.extend(e for e in reply.events if e.kv.mod_revision <= head)
                            if last is not None:
                                if reply.events[-1].kv.mod_revision >= last:
                                    return found
                            elif len(reply.events) >= WATCH_BATCH_REVISIONS:
                                marker, stage = marker + 1, 1  # maybe split: fence again
                                watch(marker, _CLOCK, clock_revision)
                            elif reply.header.revision >= head:
                                return found
                        elif reply.watch_id == marker and reply.events:
                            if stage == 2:
                                return found
                            marker, stage = marker + 1, 2
                            watch(marker, _CLOCK, clock_revision)
                raise StoreUnavailable("the etcd watch stream ended")
            except grpc.aio.AioRpcError as exc:
                self._rotate(index)
                if loop.time() + 0.05 >= deadline:
                    raise StoreUnavailable(f"etcd history replay failed: {exc.details()}") from exc
                await asyncio.sleep(0.05)
            except TimeoutError as exc:
                raise StoreUnavailable(f"etcd history replay took over {self.timeout_s} s") from exc
            finally:
                call.cancel()
                requests.put_nowait(None)

    # -- watch -----------------------------------------------------------------------

    async def _stream(
        self, prefix: bytes, start_revision: int, wanted: ProgressWanted
    ) -> AsyncIterator[Event | Progress | None]:
        """The watch's stream; its progress markers come from fences (see `Fence`).

        A progress request reads the head and the clock key's revision on the stream's
        member, then opens a fence; one fence at a time, requests meanwhile wait for
        the next. etcd's own progress notifications for the watch (``progress_notify``)
        are sent only while it is in step, in order with its events: markers too. Its
        answers to ``WatchProgressRequest`` are not (see `Fence`): they only show that
        a silent stream is alive.
        """
        loop = asyncio.get_running_loop()
        floor = await self._floor()
        if start_revision < floor:
            raise Compacted(floor, start_revision)
        index, conn = await self._ready(loop.time() + self.timeout_s)
        start, end = _user_range(prefix)
        requests: asyncio.Queue[Any] = asyncio.Queue()
        replies: asyncio.Queue[Any] = asyncio.Queue(maxsize=16)
        call = conn.watch.Watch(_drain(requests), metadata=_METADATA)
        create = rpc.WatchCreateRequest(
            key=start, range_end=end, start_revision=start_revision, progress_notify=True
        )
        requests.put_nowait(rpc.WatchRequest(create_request=create))
        pump = loop.create_task(pump_replies(call, replies))

        def wake() -> None:
            if replies.empty():  # else the loop looks at ``wanted`` after the next reply
                replies.put_nowait(WAKE)

        wanted.wake = wake
        watch_id: int | None = None  # the watch's id, once etcd has registered it
        fence: Fence | None = None
        fence_ids = itertools.count(1)  # renumbered past the watch's own id (etcd's 0)
        probing = False
        try:
            while True:
                if fence is None and watch_id is not None and wanted.take():
                    target, clock = await self._clock(conn, index)
                    if clock is None:  # nothing was ever committed: nothing to wait for
                        yield Progress(target)
                    else:
                        fence = Fence(target, _CLOCK, clock, fence_ids)
                        send(requests, fence.open())
                try:  # not wait_for: on Python 3.11 it can swallow the watch's cancellation
                    async with asyncio.timeout(_WATCH_PROBE_S):
                        reply = await replies.get()
                except TimeoutError:
                    if probing:
                        self._rotate(index)
                        raise StoreUnavailable(
                            f"the etcd watch stream at {self._where(index)} went silent"
                        ) from None
                    requests.put_nowait(
                        rpc.WatchRequest(progress_request=rpc.WatchProgressRequest())
                    )
                    probing = True
                    continue
                if reply is WAKE:
                    continue
                probing = False
                if isinstance(reply, BaseException):
                    self._rotate(index)
                    details = reply.details() if hasattr(reply, "details") else str(reply)
                    raise StoreUnavailable(f"the etcd watch stream broke: {details}") from reply
                if reply.watch_id != watch_id:
                    if watch_id is None and reply.created:  # the watch's own, the first
                        watch_id = int(reply.watch_id)
                        fence_ids = itertools.count(max(watch_id + 1, 1))
                    elif fence is not None and fence.owns(reply.watch_id):
                        send(requests, fence.answered(reply))
                        if fence.lost:  # its start was compacted away: start over
                            fence = None
                            wanted.set()
                        elif fence.done:
                            target, fence = fence.target, None
                            yield Progress(target)
                        continue
                    else:  # a request's answer (-1) or a fence already closed
                        continue
                if reply.compact_revision:
                    floor = max(await self._floor(), int(reply.compact_revision))
                    raise Compacted(floor, start_revision)
                if reply.canceled:
                    self._rotate(index)
                    raise StoreUnavailable(f"etcd canceled the watch: {reply.cancel_reason}")
                if reply.created:
                    yield None  # registered: later commits arrive live
                    continue
                if not reply.events:  # etcd's own notification: sent only when in step
                    yield Progress(int(reply.header.revision))
                    continue
                for event in reply.events:
                    if not event.kv.key.startswith(RESERVED_PREFIX):
                        yield _event(event)
                if fence is not None and maybe_cut(reply.events):
                    send(requests, fence.open())  # the watch may still be behind
        finally:
            if wanted.wake is wake:
                wanted.wake = None
            pump.cancel()
            call.cancel()
            requests.put_nowait(None)

    async def _clock(self, conn: _Conn, index: int) -> tuple[int, int | None]:
        """The head and the clock key's revision (None: never written), read on ``conn``.

        Read on the watch's own member, so a fence opened there from that revision is
        behind its head.
        """
        request = rpc.RangeRequest(key=_CLOCK, keys_only=True)
        try:
            reply = await conn.kv.Range(request, timeout=self.timeout_s, metadata=_METADATA)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:  # failed, or closed
            self._rotate(index)
            details = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            raise StoreUnavailable(f"etcd at {self._where(index)}: {details}") from exc
        clock = int(reply.kvs[0].mod_revision) if reply.kvs else None
        return int(reply.header.revision), clock

    # -- revisions and time ----------------------------------------------------------

    async def _head(self) -> int:
        reply = await self._call(
            lambda c: c.kv.Range, rpc.RangeRequest(key=_CLOCK, count_only=True)
        )
        return int(reply.header.revision)

    async def _floor(self) -> int:
        reply = await self._call(lambda c: c.kv.Range, rpc.RangeRequest(key=_FLOOR))
        if reply.kvs:
            self._floor_exists = True
            return _decode_int(reply.kvs[0].value)
        return 0

    async def _compact(self, revision: int) -> None:
        while True:
            reply = await self._call(lambda c: c.kv.Range, rpc.RangeRequest(key=_FLOOR))
            seen = reply.kvs[0] if reply.kvs else None
            if seen is not None and _decode_int(seen.value) >= revision:
                break
            request = rpc.TxnRequest(
                compare=[_compare_mod(_FLOOR, "EQUAL", int(seen.mod_revision) if seen else 0)],
                success=[_put(_FLOOR, _encode_int(revision)), _put(_CLOCK, self._clock_value())],
            )
            if (await self._call(lambda c: c.kv.Txn, request, retry=False)).succeeded:
                self._floor_exists = True
                break
        if revision == 1:
            return
        # etcd drops the deletions made at the compaction revision itself; compacting
        # one below keeps them, and the floor key hides revision - 1 from readers.
        try:
            compaction = rpc.CompactionRequest(revision=revision - 1, physical=True)
            await self._call(lambda c: c.kv.Compact, compaction, about=_About(revision - 1))
        except Compacted:
            pass  # another client compacted further meanwhile

    async def _time_of(self, revision: int) -> float:
        return (await self._times_at([revision]))[revision]

    async def _times_at(self, revisions: Sequence[int]) -> dict[int, float]:
        """The clock as of each revision: the time of the newest commit at or before it."""
        times: dict[int, float] = {}
        for i in range(0, len(revisions), _MAX_TXN_OPS - 1):
            chunk = revisions[i : i + _MAX_TXN_OPS - 1]
            ops = [_range_op(_CLOCK, values=True, revision=r) for r in chunk]
            ops.append(_range_op(_FLOOR, values=True))
            request = rpc.TxnRequest(success=ops)
            reply = await self._call(lambda c: c.kv.Txn, request, about=_About(min(chunk)))
            _check_floor(reply.responses[-1], min(chunk))
            for revision, result in zip(chunk, reply.responses[:-1], strict=True):
                kvs = result.response_range.kvs
                times[revision] = float(kvs[0].value) if kvs else await self._first_time()
        return times

    async def _first_time(self) -> float:
        """The time of the first commit (0.0 if none): the clock before any commit."""
        now = await self._call(lambda c: c.kv.Range, rpc.RangeRequest(key=_CLOCK, keys_only=True))
        if not now.kvs:
            return 0.0
        origin = rpc.RangeRequest(key=_CLOCK, revision=now.kvs[0].create_revision)
        first = await self._call(lambda c: c.kv.Range, origin, about=_About(origin.revision))
        return float(first.kvs[0].value) if first.kvs else 0.0

    async def _revision_at(self, when: float) -> int:
        lo, hi = max(await self._floor(), 1), await self._head()
        best = lo - 1  # below the floor the clock is gone: the answer is at most this
        while lo <= hi:  # each round probes evenly spaced revisions in one transaction
            step = math.ceil((hi - lo + 1) / (_MAX_TXN_OPS - 1))
            probes = list(range(lo, hi + 1, step))
            times = await self._times_at(probes)
            before = [r for r in probes if times[r] <= when]
            if not before:
                break
            best = before[-1]
            lo, hi = best + 1, min(best + step - 1, hi)
        return best

    # -- leases ----------------------------------------------------------------------

    async def _grant_lease(self, ttl_s: float) -> tuple[int, float]:
        request = rpc.LeaseGrantRequest(TTL=max(math.ceil(ttl_s), 1))
        reply = await self._call(lambda c: c.lease.LeaseGrant, request)
        if reply.error:
            raise StoreUnavailable(f"etcd could not grant a lease: {reply.error}")
        return int(reply.ID), float(reply.TTL)

    async def _keep_alive(self, lease_id: int) -> float:
        request = rpc.LeaseKeepAliveRequest(ID=lease_id)
        reply = await self._call(lambda c: c.keep_alive, request, about=_About(lease_id=lease_id))
        if reply.TTL <= 0:
            raise LeaseExpired(lease_id)
        return float(reply.TTL)

    async def _revoke_lease(self, lease_id: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease_id)
        about = _About(lease_id=lease_id)
        await self._call(lambda c: c.lease.LeaseRevoke, request, retry=False, about=about)

    async def _lease_ttl(self, lease_id: int) -> float | None:
        request = rpc.LeaseTimeToLiveRequest(ID=lease_id)
        reply = await self._call(lambda c: c.lease.LeaseTimeToLive, request)
        return None if reply.TTL < 0 else float(reply.TTL)

    async def _aclose(self) -> None:
        self._closed = True
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            await conn.channel.close()


# -- helpers ---------------------------------------------------------------------------


async def _wait_ready(channel: Any, timeout_s: float) -> bool:
    """Whether ``channel`` connects within ``timeout_s``; False at once if it failed."""
    state = channel.get_state(try_to_connect=True)
    if state.name == "READY":  # the common case: no timer to set up
        return True
    try:
        async with asyncio.timeout(timeout_s):
            while state.name != "READY":
                if state.name in ("TRANSIENT_FAILURE", "SHUTDOWN"):
                    return False
                await channel.wait_for_state_change(state)
                state = channel.get_state(try_to_connect=True)
    except TimeoutError:
        return False
    return True


async def _drain(requests: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    while (request := await requests.get()) is not None:
        yield request
