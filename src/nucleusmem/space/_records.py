"""Records in the data regions: batch writes with quota accounting, reads, time travel."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from nucleusmem.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    TxnTooLarge,
    ValueTooLarge,
)
from nucleusmem.kv import Delete, KeyValue, Put, Write
from nucleusmem.space._api import At, RecordPage
from nucleusmem.space._base import SessionBase, validated
from nucleusmem.space._codec import decode_record, deleted_record, encode_record, loads
from nucleusmem.space._keys import K
from nucleusmem.space._models import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    Change,
    ChangeType,
    DataRegion,
    Record,
    RecordWrite,
    check_record_key,
    written_record,
)

__all__ = ["RecordCalls", "Stamped"]

_SCAN_LIMIT = 10_000  # keys one listing call examines before it returns a partial page


class RecordCalls(SessionBase):
    """The record calls of `SpaceAPI`."""

    async def write(
        self, space: str, writes: Sequence[RecordWrite | dict[str, Any]], *, region: DataRegion
    ) -> list[Record]:
        """Write records in one transaction; each gets a new revision-stamped version."""
        region = _region(region)
        batch = [validated(RecordWrite, w) for w in writes]
        stamped = await self.write_stamped(space, batch, region=region)
        return [
            written_record(space, region, w, stamped.revision, created, version, stamped.time)
            for w, created, version in zip(batch, stamped.created, stamped.versions, strict=True)
        ]

    async def write_stamped(
        self, space: str, writes: Sequence[RecordWrite | dict[str, Any]], *, region: DataRegion
    ) -> Stamped:
        """`write`, answering only what the writer does not know: revision and versions."""
        region = _region(region)
        batch = [validated(RecordWrite, w) for w in writes]
        if not batch:
            raise InvalidRequest("a write needs at least one record")
        if len(batch) > MAX_BATCH_RECORDS:
            raise TxnTooLarge(len(batch), MAX_BATCH_RECORDS)
        if len({w.key for w in batch}) != len(batch):
            raise InvalidRequest("a batch names the same key twice")
        await self._svc.check(self.principal, space, "write")
        for agent in {w.agent for w in batch if w.agent is not None}:
            await self._svc.claim_agent(self.principal, agent)
            await self._check_mount_writable(agent, space)
        now = self._svc.now()
        values = [encode_record(w, now) for w in batch]
        size = sum(len(v) for v in values)
        if size > MAX_BATCH_BYTES:
            raise ValueTooLarge(b"<batch>", size, MAX_BATCH_BYTES)
        keys = [K.data(space, region, w.key) for w in batch]
        puts: list[Write] = [Put(k, v) for k, v in zip(keys, values, strict=True)]

        olds, _, revision = await self.commit_counted(space, puts)
        return Stamped(
            revision,
            now,
            [w.key for w in batch],
            [old.create_revision if old is not None else revision for old in olds],
            [old.version + 1 if old is not None else 1 for old in olds],
        )

    async def commit_counted(
        self,
        space: str,
        writes: Sequence[Write],
        *,
        new_keys: Collection[bytes] = (),
        also_read: Sequence[bytes] = (),
        check: Callable[[list[KeyValue | None]], None] | None = None,
    ) -> tuple[list[KeyValue | None], list[KeyValue | None], int]:
        """Commit ``writes`` and the space's byte counter, retrying lost races.

        The old values of the written keys and the counter are read in one round trip
        (keys in ``new_keys`` are fresh ids, taken as absent), with ``also_read``, whose
        values go to ``check`` (which may raise). The commit is conditional on the
        settings, the counter and the old values being unchanged, so usage stays exact
        and a deleted space takes no writes. Writes to one space from this node are
        serialised, since they all move its counter. Returns the old values, the
        ``also_read`` values and the revision; raises `QuotaExceeded`.
        """
        usage_key = K.usage(space)
        read_keys = [w.key for w in writes if w.key not in new_keys]
        known = self._svc.known
        async with self._svc.write_lock(space):
            for attempt in range(32):
                info = await self._svc.check(self.principal, space, "write")
                # Fast path: trust what this node last saw of the counter and the keys
                # it reads, and take unseen written keys as absent; the conditional
                # commit proves it right, or fails and the next attempt reads.
                fast = attempt == 0 and known.trusted(space)
                needed = [usage_key, *read_keys, *also_read]
                found = known.lookup(needed, set(read_keys)) if fast else None
                if found is None:
                    fast = False
                    found = await self._store.get_many(needed)
                usage = found[0]
                old_by_key = dict(zip(read_keys, found[1 : 1 + len(read_keys)], strict=True))
                extra = found[1 + len(read_keys) :]
                if check is not None:
                    check(extra)
                olds = [old_by_key.get(w.key) for w in writes]
                used = int(usage.value) if usage is not None else 0
                delta = sum(len(w.value) for w in writes if isinstance(w, Put)) - sum(
                    len(o.value) for o in olds if o is not None
                )
                if info.quota_bytes is not None and delta > 0 and used + delta > info.quota_bytes:
                    raise QuotaExceeded(space, used + delta, info.quota_bytes)
                reads = {
                    w.key: (o.revision if o is not None else 0)
                    for w, o in zip(writes, olds, strict=True)
                }
                for key, kv in zip(also_read, extra, strict=True):
                    reads[key] = kv.revision if kv is not None else 0
                reads[usage_key] = usage.revision if usage is not None else 0
                reads[K.space(space)] = info.revision
                counter = Put(usage_key, str(used + delta).encode())
                try:
                    revision = await self._store.commit([*writes, counter], reads=reads)
                except Conflict as exc:
                    known.forget(needed)
                    if exc.key == K.space(space):
                        self._svc.forget_space(space)
                    elif fast and exc.key in old_by_key:
                        known.distrust(space)  # it writes keys this node has not seen
                    if attempt == 31:
                        raise
                    if not fast:
                        await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                    continue
                known.remember([*writes, counter], [*olds, usage], revision)
                known.remember_reads(also_read, extra)
                return olds, extra, revision
        raise AssertionError("unreachable")

    async def get(self, space: str, key: str, *, region: DataRegion, at: At = None) -> Record:
        """One record, now or as of ``at``; `NotFound` if it did not exist then."""
        region = _region(region)
        check_record_key(key)
        await self._svc.check(self.principal, space, "read")
        revision = await self._svc.resolve(at)
        kv = await self._store.get(K.data(space, region, key), revision=revision)
        if kv is None:
            raise NotFound("record", f"{space}/{region}/{key}")
        return decode_record(space, region, key, kv)

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
        region = _region(region)
        if not 1 <= limit <= 1000:
            raise InvalidRequest(f"limit must be between 1 and 1000, got {limit}")
        if after is not None:
            check_record_key(after)
        await self._svc.check(self.principal, space, "read")
        revision = await self._svc.resolve(at) or await self._store.revision()
        base = K.data(space, region)
        start = base + after.encode() if after is not None else None
        items: list[Record] = []
        scanned = 0
        while True:
            page = await self._store.range(
                base + prefix.encode(), revision=revision, after=start, limit=500
            )
            for kv in page.items:
                scanned += 1
                start = kv.key
                value = loads(kv.value)
                if (
                    (agent is None or value.get("a") == agent)
                    and (kind is None or value.get("k") == kind)
                    and (thread is None or value.get("t") == thread)
                    and (since is None or value["w"] >= since)
                    and (until is None or value["w"] < until)
                ):
                    key = kv.key[len(base) :].decode()
                    items.append(decode_record(space, region, key, kv))
                    if len(items) == limit:
                        more = page.more or kv is not page.items[-1]
                        return RecordPage(
                            items=items, revision=revision, next_after=key if more else None
                        )
            if not page.more or not page.items:
                return RecordPage(items=items, revision=revision)
            if scanned >= _SCAN_LIMIT:
                assert start is not None
                next_after = start[len(base) :].decode()
                return RecordPage(items=items, revision=revision, next_after=next_after)

    async def delete(self, space: str, key: str, *, region: DataRegion) -> int:
        """Delete a record (history keeps its versions); returns the revision."""
        region = _region(region)
        check_record_key(key)
        kv_key = K.data(space, region, key)

        def exists(found: list[KeyValue | None]) -> None:
            if found[0] is None:
                raise NotFound("record", f"{space}/{region}/{key}")

        _, _, revision = await self.commit_counted(
            space, [Delete(kv_key)], also_read=[kv_key], check=exists
        )
        return revision

    async def history(
        self, space: str, key: str, *, region: DataRegion, limit: int | None = None
    ) -> list[Record]:
        """Versions of a record, oldest first; deletions carry ``deleted=True``."""
        region = _region(region)
        check_record_key(key)
        await self._svc.check(self.principal, space, "read")
        records: list[Record] = []
        created, version = 0, 0
        for v in await self._store.history(K.data(space, region, key)):
            if v.deleted:
                records.append(
                    deleted_record(space, region, key, v.revision, v.time, created, version)
                )
                created, version = 0, 0
                continue
            created, version = created or v.revision, version + 1
            kv = KeyValue(v.key, v.value, v.revision, created, version)
            records.append(decode_record(space, region, key, kv))
        if limit is not None:
            records = records[-limit:] if limit > 0 else []
        return records

    async def diff(
        self, space: str, from_at: At, to_at: At = None, *, region: DataRegion | None = None
    ) -> list[Change]:
        """The records that differ between two points in history."""
        if from_at is None:
            raise InvalidRequest("diff needs the revision or time to compare from (0: the start)")
        regions = list(DataRegion) if region is None else [_region(region)]
        await self._svc.check(self.principal, space, "read")
        before_rev = None if from_at == 0 else await self._svc.resolve(from_at)
        after_rev = await self._svc.resolve(to_at) or await self._store.revision()
        changes: list[Change] = []
        for r in regions:
            base = K.data(space, r)
            before = (
                {}
                if before_rev is None
                else {kv.key: kv async for kv in self._range_all(base, before_rev)}
            )
            after = {kv.key: kv async for kv in self._range_all(base, after_rev)}
            for k in sorted(before.keys() | after.keys()):
                old, new = before.get(k), after.get(k)
                if old is not None and new is not None and old.revision == new.revision:
                    continue
                key = k[len(base) :].decode()
                kind = (
                    ChangeType.ADDED
                    if old is None
                    else ChangeType.DELETED
                    if new is None
                    else ChangeType.MODIFIED
                )
                changes.append(
                    Change(
                        region=r,
                        key=key,
                        type=kind,
                        before=None if old is None else decode_record(space, r, key, old),
                        after=None if new is None else decode_record(space, r, key, new),
                    )
                )
        return changes

    async def revision(self, space: str, at: At = None) -> int:
        """The revision of the store now, or the revision that was current at ``at``."""
        await self._svc.check(self.principal, space, "read")
        return await self._svc.resolve(at) or await self._store.revision()


def _region(region: object) -> DataRegion:
    try:
        return DataRegion(str(region))
    except ValueError:
        raise InvalidRequest(
            f"unknown region {region!r}; one of {', '.join(r.value for r in DataRegion)}"
        ) from None


class Stamped(NamedTuple):
    """What a batch write made: its revision and time, each record's versions, in order."""

    revision: int
    time: float
    keys: list[str]
    created: list[int]
    versions: list[int]

    def to_json(self) -> bytes:
        """The `WriteResult` JSON of this write (built by hand: it is on the hot path)."""
        records = b",".join(
            b'{"key":%s,"created_revision":%d,"version":%d}'
            % (encode_basestring(key).encode(), created, version)
            for key, created, version in zip(self.keys, self.created, self.versions, strict=True)
        )
        return b'{"revision":%d,"time":%s,"records":[%s]}' % (
            self.revision,
            repr(self.time).encode(),
            records,
        )
