"""The KV contract (DESIGN.md section 3), run against every backend.

Every test takes the parametrized ``store`` fixture; adding a backend adds a
fixture parameter, never a copied test. Keys live under ``ns`` so backends that
share one server (etcd) keep tests apart; revisions are taken from commits, never
assumed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

import pytest

from conftest import BACKENDS
from nucleusmem.errors import (
    Compacted,
    Conflict,
    InvalidKey,
    InvalidRevision,
    LeaseExpired,
    TxnTooLarge,
    UnsupportedURL,
    ValueTooLarge,
)
from nucleusmem.kv import Delete, Event, EventType, Put, Store, Watch, open_store


async def collect(watch: Watch, count: int, timeout_s: float = 5.0) -> list[Event]:
    """The next ``count`` events, failing if they do not come in time."""
    return [await watch.next(timeout_s) for _ in range(count)]


# -- puts, gets, revisions -------------------------------------------------------------


async def test_put_get_and_metadata(store: Store, ns: bytes) -> None:
    assert await store.get(ns + b"missing") is None
    r1 = await store.put(ns + b"a", b"1")
    r2 = await store.put(ns + b"a", b"2")
    assert r2 == r1 + 1
    kv = await store.get(ns + b"a")
    assert kv is not None
    assert (kv.value, kv.revision, kv.create_revision, kv.version) == (b"2", r2, r1, 2)
    assert await store.revision() >= r2


async def test_one_commit_is_one_revision(store: Store, ns: bytes) -> None:
    rev = await store.commit([Put(ns + b"x", b"1"), Put(ns + b"y", b"2"), Delete(ns + b"z")])
    x, y = await store.get(ns + b"x"), await store.get(ns + b"y")
    assert x is not None and y is not None
    assert x.revision == y.revision == rev
    assert await store.get(ns + b"z") is None


async def test_reads_at_past_revisions(store: Store, ns: bytes) -> None:
    r1 = await store.put(ns + b"k", b"old")
    await store.put(ns + b"other", b"x")
    r3 = await store.put(ns + b"k", b"new")
    r4 = await store.delete(ns + b"k")
    at = [await store.get(ns + b"k", revision=r) for r in (r1, r3 - 1, r3, r4)]
    assert [kv.value if kv else None for kv in at] == [b"old", b"old", b"new", None]
    assert await store.get(ns + b"other", revision=r1) is None
    old = await store.range(ns, revision=r1)
    assert [(kv.key, kv.value) for kv in old.items] == [(ns + b"k", b"old")]
    assert old.revision == r1


async def test_get_many_reads_at_one_revision(store: Store, ns: bytes) -> None:
    first = await store.commit([Put(ns + b"a", b"1"), Put(ns + b"b", b"2")])
    await store.commit([Put(ns + b"a", b"3"), Delete(ns + b"b")])
    now = await store.get_many([ns + b"a", ns + b"missing", ns + b"b"])
    assert [kv.value if kv else None for kv in now] == [b"3", None, None]
    then = await store.get_many([ns + b"b", ns + b"a"], revision=first)
    assert [kv.value if kv else None for kv in then] == [b"2", b"1"]
    assert [kv.revision if kv else None for kv in then] == [first, first]
    many = [ns + b"k%04d" % i for i in range(300)]  # more than one etcd transaction holds
    await store.commit([Put(k, k) for k in many[:100]])
    found = await store.get_many(many)
    assert [kv.value if kv else None for kv in found] == many[:100] + [None] * 200
    assert await store.get_many([]) == []
    with pytest.raises(InvalidKey):
        await store.get_many([b""])


async def test_conflict_names_the_key_among_many_reads(store: Store, ns: bytes) -> None:
    keys = [ns + b"r%02d" % i for i in range(12)]
    revision = await store.commit([Put(k, b"v") for k in keys])
    reads = dict.fromkeys(keys, revision)
    changed = await store.put(keys[7], b"w")
    with pytest.raises(Conflict) as caught:
        await store.commit([Put(ns + b"out", b"x")], reads=reads)
    assert (caught.value.key, caught.value.revision) == (keys[7], changed)
    reads[keys[7]] = changed
    assert await store.commit([Put(ns + b"out", b"x")], reads=reads) > changed


async def test_future_and_nonpositive_revisions_are_rejected(store: Store, ns: bytes) -> None:
    head = await store.put(ns + b"k", b"v")
    with pytest.raises(InvalidRevision):
        await store.get(ns + b"k", revision=head + 1000)
    with pytest.raises(InvalidRevision):
        await store.range(ns, revision=head + 1000)
    for bad in (0, -1):
        with pytest.raises(InvalidRevision):
            await store.get(ns + b"k", revision=bad)


async def test_range_by_prefix_in_key_order_with_pages(store: Store, ns: bytes) -> None:
    await store.commit([Put(ns + b"p/%02d" % i, b"%d" % i) for i in range(10)])
    await store.put(ns + b"q/0", b"not under p")
    await store.put(ns + b"p", b"the prefix itself is not under p/")
    everything = await store.range(ns + b"p/")
    assert [kv.key for kv in everything.items] == [ns + b"p/%02d" % i for i in range(10)]
    assert not everything.more
    first = await store.range(ns + b"p/", limit=4)
    assert [kv.key[-2:] for kv in first.items] == [b"00", b"01", b"02", b"03"] and first.more
    rest = await store.range(ns + b"p/", after=first.items[-1].key, limit=100)
    assert [kv.key[-2:] for kv in rest.items] == [b"%02d" % i for i in range(4, 10)]
    assert not rest.more
    before_prefix = await store.range(ns + b"p/", after=ns + b"a")
    assert [kv.key for kv in before_prefix.items] == [kv.key for kv in everything.items]


async def test_delete_keeps_history(store: Store, ns: bytes) -> None:
    r1 = await store.put(ns + b"k", b"v1")
    r2 = await store.put(ns + b"k", b"v2")
    r3 = await store.delete(ns + b"k")
    assert await store.get(ns + b"k") is None
    assert [kv.key for kv in (await store.range(ns)).items] == []
    history = await store.history(ns + b"k")
    assert [(v.revision, v.value, v.deleted) for v in history] == [
        (r1, b"v1", False),
        (r2, b"v2", False),
        (r3, b"", True),
    ]
    assert [v.revision for v in await store.history(ns + b"k", limit=2)] == [r2, r3]
    r4 = await store.put(ns + b"k", b"again")
    again = await store.get(ns + b"k")
    assert again is not None and (again.create_revision, again.version) == (r4, 1)


async def test_deleting_a_missing_key_commits_without_an_event(store: Store, ns: bytes) -> None:
    async with store.watch(ns) as watch:
        r1 = await store.delete(ns + b"never")
        r2 = await store.put(ns + b"k", b"v")
        assert r2 == r1 + 1
        (event,) = await collect(watch, 1)
        assert (event.key, event.revision) == (ns + b"k", r2)


# -- transactions ----------------------------------------------------------------------


async def test_transaction_read_modify_write(store: Store, ns: bytes) -> None:
    await store.put(ns + b"counter", b"1")
    async with store.transaction() as txn:
        kv = await txn.get(ns + b"counter")
        assert kv is not None
        txn.put(ns + b"counter", b"%d" % (int(kv.value) + 1))
        seen = await txn.get(ns + b"counter")
        assert seen is not None and seen.value == b"2"  # reads see the pending write
    assert txn.revision is not None
    final = await store.get(ns + b"counter")
    assert final is not None and (final.value, final.revision) == (b"2", txn.revision)


async def test_conflict_when_a_read_key_changed(store: Store, ns: bytes) -> None:
    await store.put(ns + b"k", b"1")
    txn = store.transaction()
    await txn.get(ns + b"k")
    await store.put(ns + b"k", b"changed by someone else")
    txn.put(ns + b"k", b"mine")
    with pytest.raises(Conflict) as info:
        await txn.commit()
    assert info.value.key == ns + b"k"
    kv = await store.get(ns + b"k")
    assert kv is not None and kv.value == b"changed by someone else"


async def test_conflict_when_an_absent_key_was_created_or_a_key_deleted(
    store: Store, ns: bytes
) -> None:
    txn = store.transaction()
    assert await txn.get(ns + b"new") is None
    await store.put(ns + b"new", b"theirs")
    txn.put(ns + b"new", b"mine")
    with pytest.raises(Conflict):
        await txn.commit()
    await store.put(ns + b"gone", b"v")
    txn = store.transaction()
    await txn.get(ns + b"gone")
    await store.delete(ns + b"gone")
    txn.put(ns + b"other", b"x")
    with pytest.raises(Conflict):
        await txn.commit()
    assert await store.get(ns + b"other") is None


async def test_conflict_when_a_written_key_changed_after_the_snapshot(
    store: Store, ns: bytes
) -> None:
    await store.put(ns + b"a", b"1")
    txn = store.transaction()
    await txn.get(ns + b"a")  # fixes the snapshot
    await store.put(ns + b"b", b"theirs")
    txn.put(ns + b"b", b"mine")
    with pytest.raises(Conflict) as info:
        await txn.commit()
    assert info.value.key == ns + b"b"


async def test_conflict_on_a_prefix_read(store: Store, ns: bytes) -> None:
    await store.put(ns + b"set/a", b"1")
    txn = store.transaction()
    assert len(await txn.range(ns + b"set/")) == 1
    await store.put(ns + b"set/b", b"2")
    txn.put(ns + b"count", b"1")
    with pytest.raises(Conflict):
        await txn.commit()


async def test_read_only_commit_validates_and_returns_head(store: Store, ns: bytes) -> None:
    head = await store.put(ns + b"k", b"v")
    assert await store.commit([], reads={ns + b"k": head}) == await store.revision()
    with pytest.raises(Conflict):
        await store.commit([], reads={ns + b"k": head - 1})


async def test_two_writers_racing_on_one_key(store: Store, ns: bytes) -> None:
    await store.put(ns + b"k", b"0")
    txns = [store.transaction() for _ in range(2)]
    for txn in txns:
        await txn.get(ns + b"k")
    for i, txn in enumerate(txns):
        txn.put(ns + b"k", b"writer %d" % i)
    outcomes = await asyncio.gather(*(t.commit() for t in txns), return_exceptions=True)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    winner = next(i for i, o in enumerate(outcomes) if isinstance(o, int))
    kv = await store.get(ns + b"k")
    assert kv is not None and kv.value == b"writer %d" % winner


async def test_many_racing_increments_lose_no_update(store: Store, ns: bytes) -> None:
    await store.put(ns + b"n", b"0")

    async def increment() -> int:
        conflicts = 0
        while True:
            txn = store.transaction()
            kv = await txn.get(ns + b"n")
            assert kv is not None
            txn.put(ns + b"n", b"%d" % (int(kv.value) + 1))
            try:
                await txn.commit()
                return conflicts
            except Conflict:
                conflicts += 1

    await asyncio.gather(*(increment() for _ in range(8)))
    kv = await store.get(ns + b"n")
    assert kv is not None and kv.value == b"8"


# -- watch -----------------------------------------------------------------------------


async def test_watch_from_now_sees_later_commits_in_order(store: Store, ns: bytes) -> None:
    await store.put(ns + b"before", b"x")
    async with store.watch(ns) as watch:
        r1 = await store.put(ns + b"a", b"1")
        await store.put(b"elsewhere/" + ns, b"not watched")
        r2 = await store.commit([Put(ns + b"c", b"3"), Put(ns + b"b", b"2")])
        r3 = await store.delete(ns + b"a")
        events = await collect(watch, 4)
    assert [(e.type, e.key, e.value, e.revision) for e in events] == [
        (EventType.PUT, ns + b"a", b"1", r1),
        (EventType.PUT, ns + b"b", b"2", r2),
        (EventType.PUT, ns + b"c", b"3", r2),
        (EventType.DELETE, ns + b"a", b"", r3),
    ]


async def test_watch_replays_from_a_past_revision(store: Store, ns: bytes) -> None:
    revs = [await store.put(ns + b"k%d" % i, b"%d" % i) for i in range(5)]
    async with store.watch(ns, start_revision=revs[2]) as watch:
        replayed = await collect(watch, 3)
        live = await store.put(ns + b"k5", b"5")
        (new,) = await collect(watch, 1)
    assert [e.revision for e in replayed] == revs[2:]
    assert new.revision == live and watch.last_revision == live


async def test_many_watches_each_see_everything(store: Store, ns: bytes) -> None:
    watches = [store.watch(ns) for _ in range(5)]
    for w in watches:  # pin "now" before writing
        await w.start()
    revs = [await store.put(ns + b"k", b"%d" % i) for i in range(20)]
    for w in watches:
        assert [e.revision for e in await collect(w, 20)] == revs
        await w.aclose()


# -- leases ----------------------------------------------------------------------------


async def test_lease_revoke_deletes_its_keys_as_a_new_revision(store: Store, ns: bytes) -> None:
    lease = await store.grant_lease(30)
    assert lease.ttl_s >= 30
    await store.put(ns + b"presence/a", b"here", lease=lease.id)
    await store.put(ns + b"presence/b", b"here", lease=lease.id)
    async with store.watch(ns) as watch:
        assert await lease.keep_alive() >= 30
        assert 0 < await lease.remaining_s() <= lease.ttl_s
        await lease.revoke()
        deletes = await collect(watch, 2)
    assert {(e.type, e.key) for e in deletes} == {
        (EventType.DELETE, ns + b"presence/a"),
        (EventType.DELETE, ns + b"presence/b"),
    }
    assert deletes[0].revision == deletes[1].revision
    assert await store.get(ns + b"presence/a") is None
    assert await store.lease_ttl(lease.id) is None
    with pytest.raises(LeaseExpired):
        await lease.keep_alive()
    with pytest.raises(LeaseExpired):
        await store.put(ns + b"late", b"x", lease=lease.id)


async def test_lease_expiry_deletes_keys_and_keep_alive_holds_them(store: Store, ns: bytes) -> None:
    short = await store.grant_lease(1)
    kept = await store.grant_lease(1)
    await store.put(ns + b"short", b"x", lease=short.id)
    await store.put(ns + b"kept", b"x", lease=kept.id)
    async with store.watch(ns) as watch:
        deadline = time.monotonic() + 10
        event = None
        while event is None and time.monotonic() < deadline:
            await kept.keep_alive()
            try:
                event = await watch.next(0.25)
            except TimeoutError:
                continue
    assert event is not None and (event.type, event.key) == (EventType.DELETE, ns + b"short")
    assert await store.get(ns + b"short") is None
    assert await store.get(ns + b"kept") is not None
    with pytest.raises(LeaseExpired):
        await short.keep_alive()
    await kept.revoke()


async def test_overwriting_without_a_lease_detaches_the_key(store: Store, ns: bytes) -> None:
    lease = await store.grant_lease(30)
    await store.put(ns + b"k", b"leased", lease=lease.id)
    await store.put(ns + b"k", b"free")
    await lease.revoke()
    kv = await store.get(ns + b"k")
    assert kv is not None and kv.value == b"free" and kv.lease is None


# -- time ------------------------------------------------------------------------------


async def test_revision_to_time_and_back(store: Store, ns: bytes) -> None:
    before = time.time()
    r1 = await store.put(ns + b"k", b"at t1")
    await asyncio.sleep(0.05)
    middle = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.05)
    r2 = await store.put(ns + b"k", b"at t2")
    after = time.time()
    t1, t2 = await store.time_of(r1), await store.time_of(r2)
    assert before - 0.01 <= t1.timestamp() <= t2.timestamp() <= after + 0.01
    assert await store.revision_at(middle) == r1
    assert await store.revision_at(t2) == r2
    as_of = await store.get(ns + b"k", revision=await store.revision_at(middle))
    assert as_of is not None and as_of.value == b"at t1"
    with pytest.raises(ValueError):
        await store.revision_at(dt.datetime.now())  # naive datetimes are ambiguous


# -- compaction ------------------------------------------------------------------------


async def test_compaction_floor(store: Store, ns: bytes) -> None:
    r1 = await store.put(ns + b"k", b"v1")
    r2 = await store.put(ns + b"k", b"v2")
    await store.put(ns + b"gone", b"x")
    r4 = await store.delete(ns + b"gone")
    r5 = await store.put(ns + b"k", b"v3")
    await store.compact(r4)
    assert await store.compaction_floor() == r4
    with pytest.raises(Compacted) as info:
        await store.get(ns + b"k", revision=r2)
    assert (info.value.floor, info.value.requested) == (r4, r2)
    at_floor = await store.get(ns + b"k", revision=r4)
    assert at_floor is not None and at_floor.value == b"v2"
    assert [v.revision for v in await store.history(ns + b"k")] == [r5]
    with pytest.raises(Compacted):
        await store.range(ns, revision=r1)
    with pytest.raises(Compacted):
        await store.watch(ns, start_revision=r1).next(5)
    async with store.watch(ns, start_revision=r4) as watch:
        assert [e.revision for e in await collect(watch, 2)] == [r4, r5]
    with pytest.raises(Compacted):
        await store.compact(r2)
    with pytest.raises(InvalidRevision):
        await store.compact(r5 + 1000)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [b"", "text", b"\x00reserved", b"k" * 5000], ids=["empty", "str", "reserved", "long"]
)
async def test_bad_keys_are_rejected(store: Store, key: object) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, b"v")  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        await store.get(key)  # type: ignore[arg-type]


async def test_sizes_are_limited(store: Store, ns: bytes) -> None:
    limit = store.limits.max_value_bytes
    await store.put(ns + b"big", b"x" * limit)
    kv = await store.get(ns + b"big")
    assert kv is not None and len(kv.value) == limit
    with pytest.raises(ValueTooLarge) as info:
        await store.put(ns + b"big", b"x" * (limit + 1))
    assert info.value.size == limit + 1
    too_many = [Put(ns + b"%d" % i, b"v") for i in range(store.limits.max_ops_per_txn + 1)]
    with pytest.raises(TxnTooLarge):
        await store.commit(too_many)
    with pytest.raises(InvalidKey):
        await store.commit([Put(ns + b"twice", b"1"), Delete(ns + b"twice")])
    assert await store.get(ns + b"0") is None


def test_unknown_urls_are_rejected() -> None:
    for url in ("postgres://x", "no-scheme", "sqlite://", "etcd://", "etcd://h:notaport"):
        with pytest.raises(UnsupportedURL):
            open_store(url)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_closing_the_store_ends_its_watches(
    open_backend: Callable[[str], Store], backend: str, ns: bytes
) -> None:
    store = open_backend(backend)
    watch = store.watch(ns)
    await watch.start()
    await store.put(ns + b"k", b"v")
    assert (await watch.next(5)).key == ns + b"k"
    await store.aclose()
    with pytest.raises(StopAsyncIteration):
        await watch.next(5)
