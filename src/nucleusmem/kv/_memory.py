"""``memory://``: the whole history in this process, for tests and throwaway agents."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from nucleusmem.errors import Compacted, LeaseExpired
from nucleusmem.kv._store import Store, check_readable, first_conflict
from nucleusmem.kv._types import (
    Delete,
    Event,
    EventType,
    KeyValue,
    Limits,
    Progress,
    Put,
    RangeResult,
    Version,
    Write,
    prefix_end,
)
from nucleusmem.kv._watch import ProgressWanted, poll_events

__all__ = ["MemoryStore"]

_WATCH_BATCH_REVISIONS = 512


@dataclass(slots=True)
class _Row:
    revision: int
    value: bytes | None  # None: a tombstone
    lease: int | None
    create_revision: int
    version: int


@dataclass(slots=True)
class _Lease:
    ttl_s: float
    expires_at: float
    keys: set[bytes]


class MemoryStore(Store):
    """An in-process store. Nothing survives the process; everything else is real.

    ``now`` is the clock for commit times and lease expiry (tests pass a fake one);
    ``sweep_interval_s`` is how often expired leases are looked for.
    """

    scheme = "memory"
    durable = False
    shared = False

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        now: Callable[[], float] = time.time,
        sweep_interval_s: float = 0.1,
    ) -> None:
        super().__init__(limits=limits)
        self._now = now
        self._sweep_interval_s = sweep_interval_s
        self._rows: dict[bytes, list[_Row]] = {}
        self._keys: list[bytes] = []  # sorted
        self._events: list[Event] = []  # by revision
        self._times: list[float] = []  # commit time of revision i + 1
        self._floor_rev = 0
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(0x1000)
        self._tick = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def _head_rev(self) -> int:
        return len(self._times)

    # -- writes ----------------------------------------------------------------------

    async def _commit(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
    ) -> int:
        self._housekeep()
        if snapshot is not None:
            check_readable(snapshot, self._head_rev, self._floor_rev)
        conflict = first_conflict(
            writes, reads, prefix_reads, snapshot, self._live_revision, self._newest_under
        )
        if conflict is not None:
            raise conflict
        for write in writes:
            lease = write.lease if isinstance(write, Put) else None
            if lease is not None and lease not in self._leases:
                raise LeaseExpired(lease)
        if not writes:
            return self._head_rev
        return self._apply(writes)

    def _apply(self, writes: tuple[Write, ...] | list[Write]) -> int:
        revision = self._head_rev + 1
        self._times.append(max(self._now(), self._times[-1] if self._times else 0.0))
        for write in writes:
            rows = self._rows.get(write.key)
            last = rows[-1] if rows else None
            live = last is not None and last.value is not None
            if last is not None and last.lease is not None and live:
                lease = self._leases.get(last.lease)
                if lease is not None:
                    lease.keys.discard(write.key)
            if isinstance(write, Delete):
                if not live:
                    continue
                row = _Row(revision, None, None, 0, 0)
                event = Event(EventType.DELETE, write.key, b"", revision)
            else:
                assert isinstance(write, Put)
                created = last.create_revision if live and last else revision
                version = last.version + 1 if live and last else 1
                row = _Row(revision, write.value, write.lease, created, version)
                event = Event(EventType.PUT, write.key, write.value, revision, write.lease)
                if write.lease is not None:
                    self._leases[write.lease].keys.add(write.key)
            if rows is None:
                rows = self._rows[write.key] = []
                bisect.insort(self._keys, write.key)
            rows.append(row)
            self._events.append(event)
        self._notify()
        return revision

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    # -- reads -----------------------------------------------------------------------

    def _row_at(self, key: bytes, revision: int) -> _Row | None:
        rows = self._rows.get(key)
        if not rows:
            return None
        i = bisect.bisect_right(rows, revision, key=lambda r: r.revision)
        return rows[i - 1] if i else None

    def _live_revision(self, key: bytes) -> int:
        rows = self._rows.get(key)
        return rows[-1].revision if rows and rows[-1].value is not None else 0

    def _newest_under(self, prefix: bytes) -> tuple[bytes, int] | None:
        best: tuple[bytes, int] | None = None
        for key in self._keys_under(prefix, None):
            rev = self._live_revision(key)
            if rev and (best is None or rev > best[1]):
                best = (key, rev)
        return best

    def _keys_under(self, prefix: bytes, after: bytes | None) -> list[bytes]:
        start = prefix if after is None else max(prefix, after + b"\x00")
        lo = bisect.bisect_left(self._keys, start)
        end = prefix_end(prefix)
        hi = len(self._keys) if end is None else bisect.bisect_left(self._keys, end)
        return self._keys[lo:hi]

    def _read_revision(self, revision: int | None) -> int:
        self._housekeep()
        if revision is None:
            return self._head_rev
        check_readable(revision, self._head_rev, self._floor_rev)
        return revision

    @staticmethod
    def _kv(key: bytes, row: _Row | None) -> KeyValue | None:
        if row is None or row.value is None:
            return None
        return KeyValue(key, row.value, row.revision, row.create_revision, row.version, row.lease)

    async def _get(self, key: bytes, revision: int | None) -> tuple[KeyValue | None, int]:
        at = self._read_revision(revision)
        return self._kv(key, self._row_at(key, at)), at

    async def _range(
        self, prefix: bytes, revision: int | None, after: bytes | None, limit: int | None
    ) -> RangeResult:
        at = self._read_revision(revision)
        items: list[KeyValue] = []
        for key in self._keys_under(prefix, after):
            kv = self._kv(key, self._row_at(key, at))
            if kv is None:
                continue
            if limit is not None and len(items) == limit:
                return RangeResult(items, at, more=True)
            items.append(kv)
        return RangeResult(items, at)

    async def _history(self, key: bytes) -> list[Version]:
        self._housekeep()
        return [
            Version(
                key,
                row.value or b"",
                row.revision,
                self._times[row.revision - 1],
                deleted=row.value is None,
            )
            for row in self._rows.get(key, [])
            if row.revision >= self._floor_rev
        ]

    # -- watch -----------------------------------------------------------------------

    def _stream(
        self, prefix: bytes, start_revision: int, wanted: ProgressWanted
    ) -> AsyncIterator[Event | Progress | None]:
        self._ensure_sweeper()
        end = prefix_end(prefix)

        async def read_after(cursor: int) -> tuple[list[Event], int]:
            self._housekeep()
            if cursor + 1 < self._floor_rev:
                raise Compacted(self._floor_rev, cursor + 1)
            read_to = min(self._head_rev, cursor + _WATCH_BATCH_REVISIONS)
            lo = bisect.bisect_right(self._events, cursor, key=lambda e: e.revision)
            hi = bisect.bisect_right(self._events, read_to, key=lambda e: e.revision)
            events = [
                e
                for e in self._events[lo:hi]
                if e.key.startswith(prefix) and (end is None or e.key < end)
            ]
            return events, max(read_to, cursor)

        async def wait_beyond(cursor: int) -> None:
            while self._head_rev <= cursor and not self._closed and not wanted.is_set():
                await self._tick.wait()

        # a progress request wakes every watch of the store; they are rare enough
        return poll_events(read_after, wait_beyond, start_revision - 1, wanted, self._notify)

    # -- revisions and time ----------------------------------------------------------

    async def _head(self) -> int:
        self._housekeep()
        return self._head_rev

    async def _floor(self) -> int:
        return self._floor_rev

    async def _compact(self, revision: int) -> None:
        for key in list(self._keys):
            rows = self._rows[key]
            keep_from = max(bisect.bisect_right(rows, revision, key=lambda r: r.revision) - 1, 0)
            del rows[:keep_from]
            if len(rows) == 1 and rows[0].value is None and rows[0].revision < revision:
                del self._rows[key]
                self._keys.remove(key)
        cut = bisect.bisect_left(self._events, revision, key=lambda e: e.revision)
        del self._events[:cut]
        self._floor_rev = revision

    async def _time_of(self, revision: int) -> float:
        check_readable(revision, self._head_rev, self._floor_rev)
        return self._times[revision - 1]

    async def _revision_at(self, when: float) -> int:
        return bisect.bisect_right(self._times, when)

    # -- leases ----------------------------------------------------------------------

    async def _grant_lease(self, ttl_s: float) -> tuple[int, float]:
        self._ensure_sweeper()
        lease_id = next(self._lease_ids)
        self._leases[lease_id] = _Lease(ttl_s, self._now() + ttl_s, set())
        return lease_id, ttl_s

    def _live_lease(self, lease_id: int) -> _Lease:
        self._housekeep()
        lease = self._leases.get(lease_id)
        if lease is None:
            raise LeaseExpired(lease_id)
        return lease

    async def _keep_alive(self, lease_id: int) -> float:
        lease = self._live_lease(lease_id)
        lease.expires_at = self._now() + lease.ttl_s
        return lease.ttl_s

    async def _revoke_lease(self, lease_id: int) -> None:
        self._live_lease(lease_id)
        self._end_lease(lease_id)

    async def _lease_ttl(self, lease_id: int) -> float | None:
        self._housekeep()
        lease = self._leases.get(lease_id)
        return None if lease is None else max(lease.expires_at - self._now(), 0.0)

    def _end_lease(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id)
        if lease.keys:
            self._apply([Delete(key) for key in sorted(lease.keys)])

    def _housekeep(self) -> None:
        now = self._now()
        for lease_id in [i for i, lease in self._leases.items() if lease.expires_at <= now]:
            self._end_lease(lease_id)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None and not self._closed:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._sweep_interval_s)
            self._housekeep()

    async def _aclose(self) -> None:
        self._closed = True
        self._notify()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
