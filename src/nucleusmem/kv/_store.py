"""The KV seam: one abstract `Store`, a handful of primitives per backend.

Every user-facing method is written here once, on top of the primitives a backend
implements (the ``_``-prefixed abstract methods). Inputs are validated here, so all
backends reject bad input with the same typed errors.
"""

from __future__ import annotations

import abc
import datetime as dt
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import ClassVar, Self

from nucleusmem.errors import Compacted, Conflict, InvalidRevision, LeaseExpired
from nucleusmem.kv._types import (
    Delete,
    Event,
    KeyValue,
    Limits,
    Progress,
    Put,
    RangeResult,
    Version,
    Write,
)
from nucleusmem.kv._watch import ProgressWanted, Watch

__all__ = ["Lease", "Store", "Transaction"]


class Store(abc.ABC):
    """An ordered, versioned, transactional key-value history.

    Every commit gets the next revision; reads may be made at any revision above the
    compaction floor; watches replay from any such revision. Keys and values are bytes.
    """

    scheme: ClassVar[str]
    """The URL scheme that opens this backend."""
    durable: ClassVar[bool]
    """Whether acknowledged commits survive a restart of the process."""
    shared: ClassVar[bool]
    """Whether several processes can open the same store and see each other's commits."""

    def __init__(self, *, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()

    # -- primitives each backend implements ------------------------------------------

    @abc.abstractmethod
    async def _commit(
        self,
        writes: tuple[Write, ...],
        reads: Mapping[bytes, int],
        prefix_reads: tuple[bytes, ...],
        snapshot: int | None,
    ) -> int:
        """Apply ``writes`` atomically at a new revision, or raise `Conflict`.

        Conflict when a key in ``reads`` has a live mod revision other than the one
        recorded (0 for absent), when a live key under one of ``prefix_reads`` was
        modified after ``snapshot``, or when a written key was modified after it.
        With no writes, only validate and return the current revision.
        """

    @abc.abstractmethod
    async def _get(self, key: bytes, revision: int | None) -> tuple[KeyValue | None, int]:
        """The live key at ``revision`` (None: now), and the revision read at."""

    @abc.abstractmethod
    async def _range(
        self, prefix: bytes, revision: int | None, after: bytes | None, limit: int | None
    ) -> RangeResult:
        """Live keys under ``prefix`` (strictly after ``after``) at ``revision``."""

    @abc.abstractmethod
    async def _history(self, key: bytes) -> list[Version]:
        """Every put and delete of ``key`` above the floor, oldest first."""

    @abc.abstractmethod
    def _stream(
        self, prefix: bytes, start_revision: int, wanted: ProgressWanted
    ) -> AsyncIterator[Event | Progress | None]:
        """Events under ``prefix`` with revisions from ``start_revision`` on.

        The stream yields None once the backend has registered it (later commits will
        reach it live), before or between events. It yields `Progress(r)` only once
        every event up to r has been yielded; it may do so whenever it learns of
        progress, and must soon after ``wanted`` is set: it takes the request, then
        yields a marker at or beyond the head as of the take (see `ProgressWanted`).

        The iterator raises `StoreUnavailable` when its stream breaks; `Watch` then
        resumes it from the revision after the last event or marker delivered.
        """

    @abc.abstractmethod
    async def _head(self) -> int:
        """The current revision (0 for an empty store)."""

    @abc.abstractmethod
    async def _floor(self) -> int:
        """The compaction floor: the lowest revision still readable (0 if none)."""

    @abc.abstractmethod
    async def _compact(self, revision: int) -> None:
        """Drop history below ``revision`` (already validated)."""

    @abc.abstractmethod
    async def _time_of(self, revision: int) -> float:
        """Wall-clock time (epoch seconds) of the commit at ``revision``."""

    @abc.abstractmethod
    async def _revision_at(self, when: float) -> int:
        """The newest revision committed at or before ``when`` (0 if none)."""

    @abc.abstractmethod
    async def _grant_lease(self, ttl_s: float) -> tuple[int, float]:
        """A new lease id and its granted TTL in seconds."""

    @abc.abstractmethod
    async def _keep_alive(self, lease_id: int) -> float:
        """Refresh a lease; its TTL in seconds. `LeaseExpired` if it is gone."""

    @abc.abstractmethod
    async def _revoke_lease(self, lease_id: int) -> None:
        """End a lease now, deleting its keys. `LeaseExpired` if it is gone."""

    @abc.abstractmethod
    async def _lease_ttl(self, lease_id: int) -> float | None:
        """Seconds a lease has left, or None if it is gone."""

    @abc.abstractmethod
    async def _aclose(self) -> None:
        """Release connections, files and background tasks."""

    async def _get_many(self, keys: Sequence[bytes], revision: int | None) -> list[KeyValue | None]:
        """Several keys at one revision; backends with round trips override it."""
        if revision is None:
            revision = await self._head()
        return [(await self._get(key, revision))[0] for key in keys]

    # -- user-facing API, written once -----------------------------------------------

    async def get(self, key: bytes, *, revision: int | None = None) -> KeyValue | None:
        """The value of ``key`` now, or as of ``revision``; None if it did not exist."""
        self.limits.check_key(key)
        _check_revision_arg(revision)
        kv, _ = await self._get(key, revision)
        return kv

    async def get_many(
        self, keys: Sequence[bytes], *, revision: int | None = None
    ) -> list[KeyValue | None]:
        """The values of ``keys`` (None where absent), all read at one revision."""
        keys = list(keys)
        for key in keys:
            self.limits.check_key(key)
        _check_revision_arg(revision)
        if not keys:
            return []
        return await self._get_many(keys, revision)

    async def range(
        self,
        prefix: bytes = b"",
        *,
        revision: int | None = None,
        after: bytes | None = None,
        limit: int | None = None,
    ) -> RangeResult:
        """Live keys starting with ``prefix``, in key order, now or as of ``revision``.

        Page with ``after`` (the last key of the previous page) and ``limit``.
        """
        self.limits.check_prefix(prefix)
        if after is not None:
            self.limits.check_prefix(after)
        if limit is not None and limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        _check_revision_arg(revision)
        return await self._range(prefix, revision, after, limit)

    async def history(self, key: bytes, *, limit: int | None = None) -> list[Version]:
        """Versions of ``key`` above the floor, oldest first; the newest ``limit`` if set."""
        self.limits.check_key(key)
        versions = await self._history(key)
        return versions if limit is None else versions[-limit:] if limit > 0 else []

    async def put(self, key: bytes, value: bytes, *, lease: int | None = None) -> int:
        """Set ``key`` to ``value`` unconditionally; returns the commit revision."""
        return await self.commit([Put(key, value, lease)])

    async def delete(self, key: bytes) -> int:
        """Delete ``key`` unconditionally; returns the commit revision."""
        return await self.commit([Delete(key)])

    async def commit(
        self,
        writes: Iterable[Write],
        *,
        reads: Mapping[bytes, int] | None = None,
        prefix_reads: Iterable[bytes] = (),
        snapshot: int | None = None,
    ) -> int:
        """Apply ``writes`` atomically and durably; returns the commit revision.

        The writes are applied (and their watch events delivered) in key order.

        ``reads`` maps keys to the mod revision the caller saw (0 for absent);
        ``prefix_reads`` names prefixes the caller listed at ``snapshot``. `Conflict`
        is raised if any of them, or a written key, changed after that.
        """
        batch = tuple(writes)
        self.limits.check_writes(batch)
        batch = tuple(sorted(batch, key=_write_key))
        read_map = dict(reads or {})
        for key in read_map:
            self.limits.check_key(key)
        prefixes = tuple(prefix_reads)
        for prefix in prefixes:
            self.limits.check_prefix(prefix)
        if snapshot != 0:  # 0: a snapshot of the empty store
            _check_revision_arg(snapshot)
        return await self._commit(batch, read_map, prefixes, snapshot)

    def transaction(self) -> Transaction:
        """An optimistic transaction: read at one snapshot, buffer writes, commit once."""
        return Transaction(self)

    def watch(self, prefix: bytes = b"", *, start_revision: int | None = None) -> Watch:
        """Follow changes under ``prefix``, from ``start_revision`` or from now on.

        "Now" is when the watch is entered (``async with``) or first awaited.

        The watch resumes by itself after a dropped stream; delivery is at least once,
        ordered by revision, so consumers deduplicate by (revision, key). Its
        `Watch.next_change` also gives `Progress` markers (see `Watch.request_progress`).
        """
        self.limits.check_prefix(prefix)
        _check_revision_arg(start_revision)
        watch = Watch(
            lambda start, wanted: self._stream(prefix, start, wanted),
            start_revision,
            head=self._head,
        )
        self._watches.add(watch)
        return watch

    async def revision(self) -> int:
        """The current revision: the one the last commit got (0 for an empty store)."""
        return await self._head()

    async def compaction_floor(self) -> int:
        """The lowest revision still readable; 0 when nothing was compacted."""
        return await self._floor()

    async def compact(self, revision: int) -> None:
        """Drop history below ``revision``; reads and watches below it raise `Compacted`."""
        _check_revision_arg(revision)
        head = await self._head()
        if revision > head:
            raise InvalidRevision(revision, head, f"the store is at revision {head}")
        floor = await self._floor()
        if revision < floor:
            raise Compacted(floor, revision)
        if revision > floor:
            await self._compact(revision)

    async def time_of(self, revision: int) -> dt.datetime:
        """The wall-clock time (UTC) at which ``revision`` was committed."""
        _check_revision_arg(revision)
        return dt.datetime.fromtimestamp(await self._time_of(revision), dt.UTC)

    async def revision_at(self, when: dt.datetime | float) -> int:
        """The newest revision committed at or before ``when`` (0 if none was)."""
        if isinstance(when, dt.datetime):
            if when.tzinfo is None:
                raise ValueError("give an aware datetime (with tzinfo), not a naive one")
            # datetimes have microsecond resolution: include a commit that rounds to it
            when = when.timestamp() + 0.5e-6
        return await self._revision_at(float(when))

    async def grant_lease(self, ttl_s: float) -> Lease:
        """A new lease; keys put with it are deleted when it expires or is revoked."""
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        lease_id, granted = await self._grant_lease(ttl_s)
        return Lease(self, lease_id, granted)

    async def keep_alive(self, lease_id: int) -> float:
        """Refresh a lease to its full TTL; returns the TTL. `LeaseExpired` if gone."""
        return await self._keep_alive(lease_id)

    async def revoke_lease(self, lease_id: int) -> None:
        """End a lease now; its keys are deleted at a new revision."""
        await self._revoke_lease(lease_id)

    async def lease_ttl(self, lease_id: int) -> float | None:
        """Seconds the lease has left, or None if it expired or was revoked."""
        return await self._lease_ttl(lease_id)

    async def aclose(self) -> None:
        """End this store's watches, then release its connections, files and tasks."""
        for watch in list(self._watches):
            await watch.aclose()
        await self._aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Lease:
    """A granted lease. Keys put with ``lease=lease.id`` live as long as it does."""

    def __init__(self, store: Store, lease_id: int, ttl_s: float) -> None:
        self.store = store
        self.id = lease_id
        self.ttl_s = ttl_s

    async def keep_alive(self) -> float:
        """Refresh to the full TTL. `LeaseExpired` if the lease is gone."""
        return await self.store.keep_alive(self.id)

    async def revoke(self) -> None:
        """End the lease now, deleting its keys."""
        await self.store.revoke_lease(self.id)

    async def remaining_s(self) -> float:
        """Seconds left. `LeaseExpired` if the lease is gone."""
        ttl = await self.store.lease_ttl(self.id)
        if ttl is None:
            raise LeaseExpired(self.id)
        return ttl

    def __repr__(self) -> str:
        return f"Lease(id={self.id:x}, ttl_s={self.ttl_s})"


class Transaction:
    """Optimistic transaction: reads see one snapshot, writes commit together.

    Use as ``async with store.transaction() as txn:``; leaving the block without an
    error commits, and `Conflict` is raised if anything read or written changed since
    the snapshot. Reads inside see the transaction's own pending writes.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.snapshot: int | None = None
        self.revision: int | None = None
        """The commit revision, once committed."""
        self._reads: dict[bytes, int] = {}
        self._prefixes: list[bytes] = []
        self._writes: dict[bytes, Write] = {}

    async def get(self, key: bytes) -> KeyValue | None:
        """The value of ``key`` at the snapshot, or as this transaction wrote it."""
        pending = self._writes.get(key)
        if isinstance(pending, Delete):
            return None
        if isinstance(pending, Put):
            return KeyValue(key, pending.value, 0, 0, 0, pending.lease)
        self.store.limits.check_key(key)
        kv, at = await self.store._get(key, self.snapshot)
        if self.snapshot is None:
            self.snapshot = at
        self._reads.setdefault(key, kv.revision if kv else 0)
        return kv

    async def range(self, prefix: bytes = b"") -> list[KeyValue]:
        """Live keys under ``prefix`` at the snapshot (pending writes not merged)."""
        self.store.limits.check_prefix(prefix)
        result = await self.store._range(prefix, self.snapshot, None, None)
        if self.snapshot is None:
            self.snapshot = result.revision
        self._prefixes.append(prefix)
        return result.items

    def put(self, key: bytes, value: bytes, *, lease: int | None = None) -> None:
        """Buffer a put."""
        self._writes[key] = Put(key, value, lease)

    def delete(self, key: bytes) -> None:
        """Buffer a delete."""
        self._writes[key] = Delete(key)

    async def commit(self) -> int:
        """Commit the buffered writes; returns the revision. `Conflict` on a race."""
        self.revision = await self.store.commit(
            self._writes.values(),
            reads=self._reads,
            prefix_reads=self._prefixes,
            snapshot=self.snapshot,
        )
        return self.revision

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self.revision is None:
            await self.commit()


def _write_key(write: Write) -> bytes:
    return write.key


def _check_revision_arg(revision: int | None) -> None:
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
        raise TypeError(f"a revision is an int, not {type(revision).__name__}")
    if revision is not None and revision <= 0:
        raise InvalidRevision(revision, None, "revisions start at 1")


def first_conflict(
    writes: tuple[Write, ...],
    reads: Mapping[bytes, int],
    prefix_reads: tuple[bytes, ...],
    snapshot: int | None,
    live_revision: Callable[[bytes], int],
    newest_under: Callable[[bytes], tuple[bytes, int] | None],
) -> Conflict | None:
    """The conflict a commit would hit, for backends that check it themselves.

    ``live_revision(key)`` is a key's current mod revision (0 if absent);
    ``newest_under(prefix)`` the live key under a prefix with the highest mod revision.
    """
    for key, seen in reads.items():
        now = live_revision(key)
        if now != seen:
            return Conflict(key, now, snapshot)
    if snapshot is None:
        return None
    for prefix in prefix_reads:
        newest = newest_under(prefix)
        if newest is not None and newest[1] > snapshot:
            return Conflict(newest[0], newest[1], snapshot)
    for write in writes:
        if write.key not in reads:
            now = live_revision(write.key)
            if now > snapshot:
                return Conflict(write.key, now, snapshot)
    return None


def check_readable(revision: int, head: int, floor: int) -> None:
    """Raise the typed error for a read at ``revision`` that is not readable."""
    if revision > head:
        raise InvalidRevision(revision, head, f"it is in the future; the store is at {head}")
    if revision < floor:
        raise Compacted(floor, revision)
