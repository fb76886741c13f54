"""Two nodes (services) on one store: caches never make a read or a count wrong."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nucleusmem.errors import AccessDenied, Compacted
from nucleusmem.kv import MemoryStore, Store, open_store
from nucleusmem.space import DataRegion, MemSpaceService, RecordWrite, Session

MEMORY = DataRegion.MEMORY


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[MemSpaceService, MemSpaceService]]:
    """Two services, each with its own store handle on one SQLite file."""
    url = f"sqlite://{tmp_path / 'nodes.db'}"
    async with (
        open_store(url) as one,
        open_store(url) as two,
        MemSpaceService(one) as a,
        MemSpaceService(two) as b,
    ):
        yield a, b


async def stored_bytes(store: Store, space: str) -> int:
    """What the byte counter should say: the live records and messages of ``space``."""
    total = 0
    for prefix in (b"nm/d/%s/" % space.encode(), b"nm/c/%s/" % space.encode()):
        total += sum(len(kv.value) for kv in (await store.range(prefix)).items)
    return total


async def test_versions_and_usage_stay_exact_across_nodes(
    nodes: tuple[MemSpaceService, MemSpaceService],
) -> None:
    a, b = nodes[0].session("alice"), nodes[1].session("alice")
    await a.create_space("team")
    first = (await a.write("team", [RecordWrite(key="k", content="one")], region=MEMORY))[0]
    # b never saw "k": its first guess (absent) fails, and it reads
    second = (await b.write("team", [RecordWrite(key="k", content="two!")], region=MEMORY))[0]
    third = (await a.write("team", [RecordWrite(key="k", content="3")], region=MEMORY))[0]
    assert [r.version for r in (first, second, third)] == [1, 2, 3]
    assert second.created_revision == third.created_revision == first.revision
    await b.delete("team", "k", region=MEMORY)
    fourth = (await a.write("team", [RecordWrite(key="k", content="new")], region=MEMORY))[0]
    assert (fourth.version, fourth.created_revision) == (1, fourth.revision)
    assert (await a.get_space("team")).used_bytes == await stored_bytes(nodes[0].store, "team")


async def test_concurrent_writers_on_two_nodes_keep_the_count(
    nodes: tuple[MemSpaceService, MemSpaceService],
) -> None:
    sessions: list[Session] = [n.session("alice") for n in nodes]
    await sessions[0].create_space("busy")
    rng = random.Random(7)

    async def writer(session: Session, n: int) -> None:
        for _i in range(15):
            key = f"k{rng.randrange(12)}"
            if rng.random() < 0.2:
                with contextlib.suppress(LookupError):
                    await session.delete("busy", key, region=MEMORY)
            else:
                body = "x" * rng.randrange(1, 300)
                await session.write("busy", [RecordWrite(key=key, content=body)], region=MEMORY)

    await asyncio.gather(*(writer(sessions[i % 2], i) for i in range(6)))
    used = (await sessions[1].get_space("busy")).used_bytes
    assert used == await stored_bytes(nodes[0].store, "busy")


async def test_a_removed_member_loses_access_on_every_node(
    nodes: tuple[MemSpaceService, MemSpaceService],
) -> None:
    owner, bob_elsewhere = nodes[0].session("alice"), nodes[1].session("bob")
    await owner.create_space("team", members={"bob": "rw"})
    await owner.write("team", [RecordWrite(key="k", content="v")], region=MEMORY)
    assert (await bob_elsewhere.get("team", "k", region=MEMORY)).content == "v"  # now cached
    await owner.set_member("team", "bob", None)
    for _ in range(200):
        try:
            await bob_elsewhere.get("team", "k", region=MEMORY)
        except AccessDenied:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("node two still lets a removed member read after 2 s")
    with pytest.raises(AccessDenied):
        await bob_elsewhere.write("team", [RecordWrite(key="x", content="y")], region=MEMORY)


async def test_history_retention_compacts_only_what_no_space_needs() -> None:
    clock = [1_000_000.0]
    store = MemoryStore(now=lambda: clock[0])
    async with store, MemSpaceService(store, now=lambda: clock[0]) as service:
        alice = service.session("alice")
        await alice.create_space("short", history_retention_s=60)
        old = (await alice.write("short", [RecordWrite(key="k", content="v1")], region=MEMORY))[0]
        clock[0] += 10
        new = (await alice.write("short", [RecordWrite(key="k", content="v2")], region=MEMORY))[0]
        clock[0] += 120  # v1 was replaced 120 s ago: older than the 60 s kept
        await alice.create_space("forever")  # keeps every version: nothing may go
        assert await service.apply_retention() is None
        await alice.delete_space("forever")
        floor = await service.apply_retention()
        assert floor is not None and old.revision < floor <= new.revision
        assert [r.content for r in await alice.history("short", "k", region=MEMORY)] == ["v2"]
        with pytest.raises(Compacted):
            await alice.get("short", "k", region=MEMORY, at=old.revision)
        assert (await alice.get("short", "k", region=MEMORY)).content == "v2"


async def test_an_open_listener_ends_when_its_member_is_removed(
    nodes: tuple[MemSpaceService, MemSpaceService],
) -> None:
    owner, bob = nodes[0].session("alice"), nodes[1].session("bob")
    await owner.create_space("team", members={"bob": "ro"})
    await bob.subscribe("team", "bo", ["news"])
    listener = bob.listen("team", "bo")
    await owner.register("team", "ada", ttl_s=None)
    await owner.send("team", sender="ada", topic="news", content="first")
    assert (await asyncio.wait_for(anext(listener), 5)).topic == "news"
    await owner.set_member("team", "bob", None)
    await asyncio.sleep(0.2)  # the other node's settings watch drops its cache entry
    await owner.send("team", sender="ada", topic="news", content="not for bob")
    with pytest.raises(AccessDenied):
        await asyncio.wait_for(anext(listener), 5)
