"""Failover on a real three-member etcd cluster: no acknowledged write or event is lost.

Each test starts its own cluster on free ports (``EtcdCluster``) and SIGKILLs a member
mid-stream, as a crash would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from nucleusmem.errors import StoreUnavailable
from nucleusmem.kv import Event, Store, open_store
from nucleusmem.testing.etcd import EtcdCluster, free_ports


@pytest.fixture
def cluster() -> Iterator[EtcdCluster]:
    """A fresh three-member cluster."""
    with EtcdCluster(size=3) as started:
        yield started


async def put_until_known(store: Store, key: bytes, value: bytes) -> tuple[int, bool]:
    """Put ``key`` until it is known to have landed: (its revision, acknowledged?).

    A put that fails with `StoreUnavailable` may still have been applied; the key is
    read back (retrying reads) and the put is retried only if it is not there.
    """
    while True:
        try:
            return await store.put(key, value), True
        except StoreUnavailable:
            pass
        while True:
            try:
                kv = await store.get(key)
                break
            except StoreUnavailable:
                await asyncio.sleep(0.05)
        if kv is not None and kv.value == value:
            return kv.revision, False


async def collect_until(events: list[Event], revision: int, timeout_s: float) -> None:
    """Wait until ``events`` holds an event at or beyond ``revision``."""
    deadline = time.monotonic() + timeout_s
    while not events or events[-1].revision < revision:
        assert time.monotonic() < deadline, f"watch stuck before revision {revision}"
        await asyncio.sleep(0.05)


async def test_leader_kill_loses_no_acknowledged_write_or_event(cluster: EtcdCluster) -> None:
    store = open_store(cluster.url)
    acked: dict[bytes, tuple[bytes, int]] = {}
    landed: dict[bytes, int] = {}  # applied although the put reported StoreUnavailable
    acked_after_kill = 0
    killed = asyncio.Event()
    stop = asyncio.Event()
    seen: list[Event] = []

    async def writer() -> None:
        nonlocal acked_after_kill
        i = 0
        while not stop.is_set():
            key, value = b"w/%06d" % i, b"value %d" % i
            revision, acknowledged = await put_until_known(store, key, value)
            if acknowledged:
                acked[key] = (value, revision)
                acked_after_kill += killed.is_set()
            else:
                landed[key] = revision
            i += 1

    async def watcher() -> None:
        async with store.watch(b"w/", start_revision=1) as watch:
            async for event in watch:
                seen.append(event)

    watching = asyncio.create_task(watcher())
    writing = asyncio.create_task(writer())
    try:
        while len(acked) < 150:
            await asyncio.sleep(0.01)
        cluster.kill(cluster.leader_index())
        killed.set()
        before = len(acked)
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.wait_for(writing, 30)
        assert acked_after_kill > 0 and len(acked) > before, "writes did not resume"
        last = max(rev for _, rev in acked.values())
        await collect_until(seen, last, timeout_s=20)
    finally:
        stop.set()
        writing.cancel()
        watching.cancel()
        await asyncio.gather(writing, watching, return_exceptions=True)

    for key, (value, revision) in acked.items():
        kv = await store.get(key)
        assert kv is not None and kv.value == value, key
        assert kv.revision >= revision
    revisions = [e.revision for e in seen]
    unique = list(dict.fromkeys(revisions))
    assert unique == sorted(set(revisions)), "the watch went back in revision order"
    missing = {rev for _, rev in acked.values()} - set(unique)
    assert not missing, f"the watch missed acknowledged revisions {sorted(missing)[:10]}"
    assert not set(landed.values()) - set(unique)
    await store.aclose()


async def test_a_dead_endpoint_first_in_the_list_fails_over(cluster: EtcdCluster) -> None:
    (dead_port,) = free_ports(1)
    url = cluster.url.replace("etcd://", f"etcd://127.0.0.1:{dead_port},")
    async with open_store(url + "?timeout_s=5") as store:
        revision = await store.put(b"k", b"v")
        kv = await store.get(b"k")
        assert kv is not None and (kv.value, kv.revision) == (b"v", revision)
    cluster.kill(0)  # maybe the leader: the first put may time out while they elect
    async with open_store(cluster.url) as store:
        again, _ = await put_until_known(store, b"k", b"again")
        assert again > revision


async def test_watch_resumes_after_its_member_is_killed(cluster: EtcdCluster) -> None:
    async with open_store(cluster.url) as store, store.watch(b"r/") as watch:
        first = [await store.put(b"r/%d" % i, b"x") for i in range(5)]
        assert [(await watch.next(5)).revision for _ in first] == first
        connected = store._current  # type: ignore[attr-defined]  # white box: whom we talk to
        cluster.kill(connected)
        later = [(await put_until_known(store, b"r/late%d" % i, b"y"))[0] for i in range(5)]
        got = [(await watch.next(15)).revision for _ in later]
        assert got == later
        assert watch.resumes >= 1
        assert store._current != connected  # type: ignore[attr-defined]
