"""``sqlite:///path``: the embedded default, one file in WAL mode.

Every version of every key is a row of ``kv_history`` keyed by (key, revision), so a
read as of any revision is one index seek. Commits run on one writer thread under
``BEGIN IMMEDIATE`` with ``synchronous=FULL``: a commit is on disk when it returns.
Several processes may open the same file; each one's watches see the others' commits
through ``PRAGMA data_version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nucleusmem.errors import Compacted, LeaseExpired, StoreUnavailable
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

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv_revisions (revision INTEGER PRIMARY KEY, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS kv_revisions_by_time ON kv_revisions (time);
CREATE TABLE IF NOT EXISTS kv_history (
    key BLOB NOT NULL,
    revision INTEGER NOT NULL,
    value BLOB,
    lease INTEGER,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (key, revision)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_history_by_revision ON kv_history (revision);
CREATE INDEX IF NOT EXISTS kv_history_by_lease ON kv_history (lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS kv_leases (
    id INTEGER PRIMARY KEY, ttl_s REAL NOT NULL, expires_at REAL NOT NULL
);
"""

_WATCH_BATCH_REVISIONS = 512
_LIVE_CACHE_KEYS = 100_000
_LATEST = (
    "SELECT value, revision, create_revision, version, lease FROM kv_history "
    "WHERE key = ? AND revision <= ? ORDER BY revision DESC LIMIT 1"
)
_LATEST_NOW = (
    "SELECT h.value, h.revision, h.create_revision, h.version, h.lease, r.head "
    "FROM (SELECT COALESCE(MAX(revision), 0) AS head FROM kv_revisions) AS r LEFT JOIN "
    "(SELECT * FROM kv_history WHERE key = ? ORDER BY revision DESC LIMIT 1) AS h"
)


class SQLiteStore(Store):
    """A store in one SQLite file, shared safely by several processes.

    ``poll_interval_s`` is how often other processes' commits are looked for while a
    watch waits; ``sweep_interval_s`` how often expired leases are swept;
    ``busy_timeout_s`` how long a commit waits for another process's write lock;
    ``commit_inline`` lets uncontended commits run on the event loop's thread (an
    fsync; turn it off on slow disks to keep the loop free).
    """

    scheme = "sqlite"
    durable = True
    shared = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limits: Limits | None = None,
        now: Callable[[], float] = time.time,
        poll_interval_s: float = 0.005,
        sweep_interval_s: float = 0.1,
        busy_timeout_s: float = 10.0,
        commit_inline: bool = True,
    ) -> None:
        super().__init__(limits=limits)
        self.path = os.fspath(path)
        self._now = now
        self._poll_interval_s = poll_interval_s
        self._sweep_interval_s = sweep_interval_s
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nm-sqlite")
        self._thread_conn: sqlite3.Connection | None = None
        # (create_revision, version) of live keys (None: absent) as this process last
        # wrote them; valid while no other connection has written (PRAGMA data_version)
        self._live: dict[bytes, tuple[int, int] | None] = {}
        self._live_pending: dict[bytes, tuple[int, int] | None] = {}
        self._live_seen: int | None = None
        self._commit_inline = commit_inline
        self._reader = self._connect()
        self._inline = self._connect(busy_timeout_ms=0)
        with _translated("open"):
            self._reader.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        self._tick = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._watching = 0
        self._closed = False

    def _connect(self, *, busy_timeout_ms: int | None = None) -> sqlite3.Connection:
        timeout_ms = self._busy_timeout_ms if busy_timeout_ms is None else busy_timeout_ms
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path!r}: {exc}") from exc
        return conn

    # -- plumbing --------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction and commit it durably.

        When the file's write lock is free, the transaction runs right here on the
        event loop's thread (a handoff to a thread costs more than a small commit);
        when another connection holds it, it waits on the writer thread instead, so
        the event loop never blocks on another process.
        """
        if self._closed:
            raise StoreUnavailable(f"SQLite store {self.path!r} is closed")
        self._ensure_poller()
        if self._commit_inline:
            try:
                self._inline.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                pass  # locked by another connection: wait for it on the writer thread
            else:
                with _translated("commit"):
                    version = self._inline.execute("PRAGMA data_version").fetchone()[0]
                    if version != self._live_seen:  # another connection wrote: forget
                        self._live.clear()
                        self._live_seen = version
                    self._live_pending.clear()
                    result = _finish(self._inline, fn)
                if len(self._live) > _LIVE_CACHE_KEYS:
                    self._live.clear()
                self._live.update(self._live_pending)
                self._notify()
                return result

        def run() -> T:
            if self._thread_conn is None:
                self._thread_conn = self._connect()
            with _translated("commit"):
                self._thread_conn.execute("BEGIN IMMEDIATE")
                return _finish(self._thread_conn, fn)

        result = await asyncio.get_running_loop().run_in_executor(self._writer, run)
        self._notify()
        return result

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot on the reader connection."""
        if self._closed:
            raise StoreUnavailable(f"SQLite store {self.path!r} is closed")
        self._ensure_poller()
        with _translated("read"):
            self._reader.execute("BEGIN")
            try:
                yield self._reader
            finally:
                self._reader.execute("COMMIT")

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    @staticmethod
    def _head_of(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(revision) FROM kv_revisions").fetchone()
        return int(row[0] or 0)

    @staticmethod
    def _floor_of(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM kv_meta WHERE name = 'floor'").fetchone()
        return int(row[0]) if row else 0

    def _at(self, conn: sqlite3.Connection, revision: int | None) -> int:
        head = self._head_of(conn)
        if revision is None:
            return head
        check_readable(revision, head, self._floor_of(conn))
        return revision

    # -- writes ----------------------------------------------------------------------

    async def _commit(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
    ) -> int:
        def txn(conn: sqlite3.Connection) -> int:
            head, head_time = _head_and_time(conn)
            if snapshot is not None:
                check_readable(snapshot, head, self._floor_of(conn))
            checked = [*reads, *(w.key for w in writes)] if snapshot is not None else [*reads]
            newest = _newest_versions(conn, checked)  # one statement for every compared key
            conflict = first_conflict(
                writes,
                reads,
                prefix_reads,
                snapshot,
                lambda key: _mod_revision(newest.get(key)),
                lambda prefix: _newest_under(conn, prefix),
            )
            if conflict is not None:
                raise conflict
            for write in writes:
                if isinstance(write, Put) and write.lease is not None:
                    found = conn.execute("SELECT 1 FROM kv_leases WHERE id = ?", (write.lease,))
                    if found.fetchone() is None:
                        raise LeaseExpired(write.lease)
            if not writes:
                return head
            return self._apply(conn, head, head_time, writes, newest)

        return await self._write(txn)

    def _apply(
        self,
        conn: sqlite3.Connection,
        head: int,
        head_time: float,
        writes: tuple[Write, ...],
        known: Mapping[bytes, _Newest | None],
    ) -> int:
        """Append ``writes`` as revision ``head + 1``, at or after ``head_time``.

        ``known`` holds the newest rows of some of the keys, read in this transaction.
        """
        revision = head + 1
        cache = self._live if conn is self._inline else {}
        found: dict[bytes, tuple[int, int] | None] = {
            key: _live_of(row) for key, row in known.items()
        }
        missing = [w.key for w in writes if w.key not in cache and w.key not in found]
        found |= {key: _live_of(row) for key, row in _newest_versions(conn, missing).items()}
        now: dict[bytes, tuple[int, int] | None] = {}
        rows: list[tuple[bytes, int, bytes | None, int | None, int, int]] = []
        for write in writes:
            key = write.key
            prev = found[key] if key in found else cache[key]
            if type(write) is Delete:
                now[key] = None
                if prev is not None:
                    rows.append((key, revision, None, None, 0, 0))
            else:
                live = (prev[0], prev[1] + 1) if prev else (revision, 1)
                now[key] = live
                rows.append((key, revision, write.value, write.lease, *live))  # type: ignore[union-attr]
        at = max(self._now(), head_time)
        conn.execute("INSERT INTO kv_revisions VALUES (?, ?)", (revision, at))
        conn.executemany("INSERT INTO kv_history VALUES (?, ?, ?, ?, ?, ?)", rows)
        if conn is self._inline:  # taken into the cache once the commit is durable
            self._live_pending.update(now)
        return revision

    # -- reads -----------------------------------------------------------------------

    async def _get(self, key: bytes, revision: int | None) -> tuple[KeyValue | None, int]:
        if revision is None:  # one statement reads the key and the head consistently
            if self._closed:
                raise StoreUnavailable(f"SQLite store {self.path!r} is closed")
            self._ensure_poller()
            with _translated("read"):
                row = self._reader.execute(_LATEST_NOW, (key,)).fetchone()
            return _kv(key, row), int(row[5])
        with self._read() as conn:
            at = self._at(conn, revision)
            return _kv(key, conn.execute(_LATEST, (key, at)).fetchone()), at

    async def _range(
        self, prefix: bytes, revision: int | None, after: bytes | None, limit: int | None
    ) -> RangeResult:
        lo = prefix if after is None else max(prefix, after + b"\x00")
        end = prefix_end(prefix)
        sql = (
            "SELECT key, value, MAX(revision), create_revision, version, lease "
            "FROM kv_history WHERE key >= ? AND revision <= ?"
            + ("" if end is None else " AND key < ?")
            + " GROUP BY key HAVING value IS NOT NULL ORDER BY key"
            + ("" if limit is None else " LIMIT ?")
        )
        with self._read() as conn:
            at = self._at(conn, revision)
            params: list[Any] = [lo, at]
            if end is not None:
                params.append(end)
            if limit is not None:
                params.append(limit + 1)
            rows = conn.execute(sql, params).fetchall()
        items = [KeyValue(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
        if limit is not None and len(items) > limit:
            return RangeResult(items[:limit], at, more=True)
        return RangeResult(items, at)

    async def _history(self, key: bytes) -> list[Version]:
        await self._sweep_expired()
        with self._read() as conn:
            rows = conn.execute(
                "SELECT h.revision, h.value, r.time FROM kv_history h "
                "JOIN kv_revisions r ON r.revision = h.revision "
                "WHERE h.key = ? AND h.revision >= ? ORDER BY h.revision",
                (key, self._floor_of(conn)),
            ).fetchall()
        return [Version(key, v or b"", rev, t, deleted=v is None) for rev, v, t in rows]

    # -- watch -----------------------------------------------------------------------

    def _stream(
        self, prefix: bytes, start_revision: int, wanted: ProgressWanted
    ) -> AsyncIterator[Event | Progress | None]:
        self._ensure_poller()
        end = prefix_end(prefix)
        sql = (
            "SELECT key, value, revision, lease FROM kv_history "
            "WHERE revision > ? AND revision <= ? AND key >= ?"
            + ("" if end is None else " AND key < ?")
            + " ORDER BY revision, key"
        )

        async def read_after(cursor: int) -> tuple[list[Event], int]:
            with self._read() as conn:
                floor = self._floor_of(conn)
                if cursor + 1 < floor:
                    raise Compacted(floor, cursor + 1)
                read_to = min(self._head_of(conn), cursor + _WATCH_BATCH_REVISIONS)
                params: list[Any] = [cursor, read_to, prefix]
                if end is not None:
                    params.append(end)
                rows = conn.execute(sql, params).fetchall()
            events = [
                Event(EventType.PUT, k, v, r, lease)
                if v is not None
                else Event(EventType.DELETE, k, b"", r)
                for k, v, r, lease in rows
            ]
            return events, max(read_to, cursor)

        async def wait_beyond(cursor: int) -> None:
            while not self._closed and not wanted.is_set():
                tick = self._tick
                with self._read() as conn:
                    if self._head_of(conn) > cursor:
                        return
                await tick.wait()

        # a progress request wakes every watch of the store; they are rare enough
        stream = poll_events(read_after, wait_beyond, start_revision - 1, wanted, self._notify)
        return self._counted(stream)

    async def _counted(
        self, stream: AsyncIterator[Event | Progress | None]
    ) -> AsyncIterator[Event | Progress | None]:
        """``stream``, counted among the watches that want fast polling."""
        self._watching += 1
        try:
            async for item in stream:
                yield item
        finally:
            self._watching -= 1

    def _ensure_poller(self) -> None:
        if self._poller is None and not self._closed:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        """Wake watches on other processes' commits; sweep expired leases."""
        version = None
        next_sweep = 0.0
        while not self._closed:
            try:
                now = time.monotonic()
                if now >= next_sweep:
                    next_sweep = now + self._sweep_interval_s
                    await self._sweep_expired()
                with _translated("poll"):
                    current = self._reader.execute("PRAGMA data_version").fetchone()[0]
                if current != version:
                    version = current
                    self._notify()
            except StoreUnavailable:
                pass  # the next round tries again; watches see the error on their reads
            idle = not self._watching  # without watches, only leases need looking after
            await asyncio.sleep(self._sweep_interval_s if idle else self._poll_interval_s)

    # -- revisions and time ----------------------------------------------------------

    async def _head(self) -> int:
        with self._read() as conn:
            return self._head_of(conn)

    async def _floor(self) -> int:
        with self._read() as conn:
            return self._floor_of(conn)

    async def _compact(self, revision: int) -> None:
        def txn(conn: sqlite3.Connection) -> None:
            if revision <= self._floor_of(conn):
                return
            conn.execute(
                "DELETE FROM kv_history WHERE revision < :floor AND (value IS NULL OR EXISTS ("
                " SELECT 1 FROM kv_history later WHERE later.key = kv_history.key"
                " AND later.revision > kv_history.revision AND later.revision <= :floor))",
                {"floor": revision},
            )
            conn.execute(
                "INSERT INTO kv_meta VALUES ('floor', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (revision,),
            )

        await self._write(txn)

    async def _time_of(self, revision: int) -> float:
        with self._read() as conn:
            self._at(conn, revision)
            row = conn.execute(
                "SELECT time FROM kv_revisions WHERE revision = ?", (revision,)
            ).fetchone()
        return float(row[0])

    async def _revision_at(self, when: float) -> int:
        with self._read() as conn:
            row = conn.execute(
                "SELECT MAX(revision) FROM kv_revisions WHERE time <= ?", (when,)
            ).fetchone()
        return int(row[0] or 0)

    # -- leases ----------------------------------------------------------------------

    async def _grant_lease(self, ttl_s: float) -> tuple[int, float]:
        self._ensure_poller()
        lease_id = secrets.randbits(62) | 1

        def txn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO kv_leases VALUES (?, ?, ?)", (lease_id, ttl_s, self._now() + ttl_s)
            )

        await self._write(txn)
        return lease_id, ttl_s

    async def _keep_alive(self, lease_id: int) -> float:
        await self._sweep_expired()

        def txn(conn: sqlite3.Connection) -> float:
            row = conn.execute("SELECT ttl_s FROM kv_leases WHERE id = ?", (lease_id,)).fetchone()
            if row is None:
                raise LeaseExpired(lease_id)
            ttl_s = float(row[0])
            conn.execute(
                "UPDATE kv_leases SET expires_at = ? WHERE id = ?", (self._now() + ttl_s, lease_id)
            )
            return ttl_s

        return await self._write(txn)

    async def _revoke_lease(self, lease_id: int) -> None:
        def txn(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM kv_leases WHERE id = ?", (lease_id,)).fetchone() is None:
                raise LeaseExpired(lease_id)
            self._end_lease(conn, lease_id)

        await self._write(txn)

    async def _lease_ttl(self, lease_id: int) -> float | None:
        await self._sweep_expired()
        with self._read() as conn:
            row = conn.execute(
                "SELECT expires_at FROM kv_leases WHERE id = ?", (lease_id,)
            ).fetchone()
        return None if row is None else max(float(row[0]) - self._now(), 0.0)

    def _end_lease(self, conn: sqlite3.Connection, lease_id: int) -> None:
        keys = [
            row[0]
            for row in conn.execute(
                "SELECT h.key FROM kv_history h WHERE h.lease = ? AND h.value IS NOT NULL AND "
                "h.revision = (SELECT MAX(revision) FROM kv_history WHERE key = h.key) "
                "ORDER BY h.key",
                (lease_id,),
            )
        ]
        conn.execute("DELETE FROM kv_leases WHERE id = ?", (lease_id,))
        if keys:
            self._apply(conn, *_head_and_time(conn), tuple(Delete(k) for k in keys), {})

    async def _sweep_expired(self) -> None:
        """Delete the keys of expired leases, at one new revision per lease."""
        if self._closed:
            return
        with self._read() as conn:
            due = conn.execute(
                "SELECT 1 FROM kv_leases WHERE expires_at <= ? LIMIT 1", (self._now(),)
            ).fetchone()
        if due is None:
            return

        def txn(conn: sqlite3.Connection) -> None:
            expired = conn.execute(
                "SELECT id FROM kv_leases WHERE expires_at <= ?", (self._now(),)
            ).fetchall()
            for (lease_id,) in expired:
                self._end_lease(conn, lease_id)

        await self._write(txn)

    async def _aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._notify()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await asyncio.get_running_loop().run_in_executor(self._writer, self._close_writer)
        self._writer.shutdown(wait=True)
        self._inline.close()
        self._reader.close()

    def _close_writer(self) -> None:
        if self._thread_conn is not None:
            self._thread_conn.close()
            self._thread_conn = None


def _finish(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in the transaction just begun on ``conn``; commit, or roll back."""
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _kv(key: bytes, row: tuple[Any, ...] | None) -> KeyValue | None:
    if row is None or row[0] is None:
        return None
    return KeyValue(key, row[0], row[1], row[2], row[3], row[4])


def _head_and_time(conn: sqlite3.Connection) -> tuple[int, float]:
    """The newest revision and its time ((0, 0.0) in an empty store)."""
    row = conn.execute(
        "SELECT revision, time FROM kv_revisions ORDER BY revision DESC LIMIT 1"
    ).fetchone()
    return (0, 0.0) if row is None else (int(row[0]), float(row[1]))


_Newest = tuple[int, bool, int, int]
"""A key's newest row: (revision, is a deletion, create revision, version)."""

_KEYS_PER_STATEMENT = 500


def _newest_versions(conn: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, _Newest | None]:
    """The newest row of each of ``keys`` (None for a key never written), by index seeks."""
    out: dict[bytes, _Newest | None] = dict.fromkeys(keys)
    if not out:
        return out
    unique = list(out)
    for start in range(0, len(unique), _KEYS_PER_STATEMENT):
        chunk = unique[start : start + _KEYS_PER_STATEMENT]
        rows = conn.execute(_newest_sql(len(chunk)), chunk)
        for key, revision, deleted, created, version in rows:
            out[key] = (revision, bool(deleted), created, version)
    return out


@functools.cache
def _newest_sql(count: int) -> str:
    """The statement `_newest_versions` runs for ``count`` keys."""
    return (
        f"WITH w(k) AS (VALUES {','.join(['(?)'] * count)}) "
        "SELECT h.key, h.revision, h.value IS NULL, h.create_revision, h.version "
        "FROM w JOIN kv_history h ON h.key = w.k AND h.revision = "
        "(SELECT MAX(revision) FROM kv_history WHERE key = w.k)"
    )


def _mod_revision(newest: _Newest | None) -> int:
    """A key's current mod revision, 0 if it is absent."""
    return 0 if newest is None or newest[1] else newest[0]


def _live_of(newest: _Newest | None) -> tuple[int, int] | None:
    """(create revision, version) of a live key, None if it is absent."""
    return None if newest is None or newest[1] else (newest[2], newest[3])


def _newest_under(conn: sqlite3.Connection, prefix: bytes) -> tuple[bytes, int] | None:
    end = prefix_end(prefix)
    row = conn.execute(
        "SELECT key, rev FROM (SELECT key, value, MAX(revision) AS rev FROM kv_history "
        "WHERE key >= ?" + ("" if end is None else " AND key < ?") + " GROUP BY key) "
        "WHERE value IS NOT NULL ORDER BY rev DESC LIMIT 1",
        (prefix,) if end is None else (prefix, end),
    ).fetchone()
    return None if row is None else (row[0], int(row[1]))


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn sqlite3 errors into `StoreUnavailable`; let NucleusMem errors through."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"SQLite {action} failed: {exc}") from exc
