"""A space's search index, derived from the KV: fresh by watch, time travel, policy, lanes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from nucleusmem.kv import open_store
from nucleusmem.recall import HashingEmbedder, Vectors
from nucleusmem.recall._space_index import SpaceIndex
from nucleusmem.space import DataRegion, MemSpaceService, RecordWrite, Session

MEMORY = DataRegion.MEMORY


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    """Alice's session on a fresh SQLite file, with a space ``team``."""
    async with (
        open_store(f"sqlite://{tmp_path / 'recall.db'}") as store,
        MemSpaceService(store) as service,
    ):
        alice = service.session("alice")
        await alice.create_space("team")
        yield alice


async def put(session: Session, key: str, content: str, **fields: Any) -> int:
    """Write one record; its revision."""
    write = RecordWrite(key=key, content=content, **fields)
    return (await session.write("team", [write], region=MEMORY))[0].revision


async def opened(session: Session) -> SpaceIndex:
    """The index of ``team``, started."""
    index = SpaceIndex(session._svc.store, "team", HashingEmbedder())
    await index.start()
    return index


async def test_index_follows_writes_and_travels_in_time(session: Session) -> None:
    await put(session, "db", "The billing database runs PostgreSQL 15 on the primary host.")
    await put(session, "cache", "Redis caches the session tokens for thirty minutes.")
    index = await opened(session)
    try:
        assert [h.key for h in index.search("which database does billing use", k=1)] == ["db"]
        old = await put(session, "db", "Billing moved from PostgreSQL to a managed MySQL cluster.")
        new = await put(session, "queue", "Orders flow through a RabbitMQ queue named orders-v2.")
        await index.wait_for(new)
        assert index.search("RabbitMQ orders queue", k=1)[0].key == "queue"
        now = index.search("billing database", k=1)[0]
        assert (now.key, now.revision) == ("db", old)
        assert "MySQL" in now.text
        before = index.search("billing database", k=1, at=old - 1)[0]
        assert "PostgreSQL 15" in before.text  # the space as it was
        assert index.search("RabbitMQ orders queue", k=3, at=old - 1)[0].key != "queue"
        removed = await session.delete("team", "queue", region=MEMORY)
        await index.wait_for(removed)
        assert "queue" not in [h.key for h in index.search("RabbitMQ orders queue", k=3)]
        for mode in ("vector", "lexical"):
            assert index.search("managed MySQL cluster", k=1, mode=mode)[0].key == "db"
    finally:
        await index.aclose()


async def test_policy_skips_noise_but_keeps_it_stored(session: Session) -> None:
    index = await opened(session)
    try:
        await put(session, "hi", "Thanks a lot, see you tomorrow!")
        await put(session, "tool", '{"tool": "search", "args": {"q": "weather"}}')
        await put(session, "err", "Error: connection refused")
        last = await put(session, "fact", "The staging cluster lives in eu-west-3 since March.")
        dup = await put(session, "fact2", "The staging cluster lives in eu-west-3 since March!")
        await index.wait_for(dup)
        assert index.skipped == {
            "greeting": 1,
            "tool_json": 1,
            "short_error": 1,
            "near_duplicate": 1,
        }
        assert index.indexed_revision >= last
        assert (await session.get("team", "hi", region=MEMORY)).content.startswith("Thanks")
        keys = [h.key for h in index.search("thanks see you tomorrow", k=5)]
        assert "hi" not in keys
    finally:
        await index.aclose()


async def test_lanes_fall_back_and_keep_private_lanes_private(session: Session) -> None:
    await session.write(
        "team",
        [
            RecordWrite(
                key="t1",
                content="Deploy window for the API is Tuesday 10:00.",
                agent="ada",
                thread="release",
            ),
            RecordWrite(
                key="t2",
                content="Deploy window for mobile apps is Friday.",
                agent="ada",
                thread="mobile",
            ),
            RecordWrite(
                key="r1",
                content="Deploy checklist: migrations first, then traffic.",
                agent="ada",
                metadata={"resource": "runbook"},
            ),
            RecordWrite(key="a1", content="Ada prefers deploys before noon.", agent="ada"),
            RecordWrite(
                key="p1",
                content="Bo private note: deploy window secret is Sunday.",
                agent="bo",
                metadata={"private": True},
            ),
            RecordWrite(key="s1", content="Company deploy freeze starts December 20.", agent="cy"),
        ],
        region=MEMORY,
    )
    index = await opened(session)
    try:
        hits = index.search("deploy window", k=6, agent="ada", thread="release", resource="runbook")
        assert (hits[0].key, hits[0].lane) == ("t1", "thread")
        lanes = {h.key: h.lane for h in hits}
        assert lanes["r1"] == "resource" and lanes["a1"] == "agent" and lanes["s1"] == "space"
        assert lanes["t2"] == "agent"  # ada's other thread, found at the agent level
        assert "p1" not in lanes  # bo's private lane never shows for ada
        assert "p1" in [h.key for h in index.search("deploy window secret", k=6, agent="bo")]
        assert "p1" not in [h.key for h in index.search("deploy window secret", k=6)]
    finally:
        await index.aclose()


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts += len(texts)
        return super().embed(texts)


async def test_a_restarted_index_resumes_instead_of_reembedding(
    session: Session, tmp_path: Path
) -> None:
    store, snapshot = session._svc.store, tmp_path / "index" / "team.npz"
    for i in range(20):
        await put(session, f"fact/{i}", f"Fact number {i}: the service {i} runs on host h{i}.")
    first = CountingEmbedder()
    index = SpaceIndex(store, "team", first, snapshot=snapshot)
    await index.start()
    assert (first.texts, index.resumed_from) == (20, None)
    old = await put(session, "fact/3", "Service 3 moved to host h99 last week.")
    await index.wait_for(old)
    await index.aclose()  # saves
    assert snapshot.exists()

    await put(session, "late", "Written while the index was down: service 42 is on h42.")
    second = CountingEmbedder()
    again = SpaceIndex(store, "team", second, snapshot=snapshot)
    await again.start()
    try:
        assert again.resumed_from == old
        assert second.texts == 1 + 0  # only the record written meanwhile (queries come later)
        assert again.search("written while the index was down", k=1)[0].key == "late"
        assert "h99" in again.search("service 3 host", k=1)[0].text
        assert "h3." in again.search("service 3 host", k=1, at=old - 1)[0].text  # history kept
    finally:
        await again.aclose()
    other = SpaceIndex(store, "team", HashingEmbedder(dimensions=128), snapshot=snapshot)
    await other.start()  # another embedder: the snapshot does not fit, built afresh
    assert other.resumed_from is None and other.indexed == 22  # 21 records, one updated
    assert "h3." in other.search("service 3 host", k=1, at=old - 1)[0].text  # from history
    await other.aclose()


async def test_versions_replayed_in_one_batch_leave_only_the_newest_alive(
    session: Session,
) -> None:
    first = await put(session, "plan", "The launch is planned for Tuesday in Lisbon.")
    await put(session, "plan", "The launch moved to Friday in Porto.")
    await put(session, "other", "Unrelated note about the weekly sync.")
    index = await opened(session)  # replays all three writes in one batch
    try:
        hits = index.search("launch Lisbon Porto", k=5, mode="lexical")
        assert [(h.key, "Porto" in h.text) for h in hits] == [("plan", True)]
        then = index.search("launch Lisbon Porto", k=5, mode="lexical", at=first)
        assert [(h.key, "Lisbon" in h.text) for h in then] == [("plan", True)]
    finally:
        await index.aclose()


async def test_a_near_identical_rewrite_in_one_batch_is_not_dropped(session: Session) -> None:
    await put(session, "plan", "The launch is planned for Tuesday in Lisbon at noon.")
    await put(session, "plan", "The launch is planned for Tuesday in Lisbon at noon!")
    index = await opened(session)  # both versions in one batch, checked for near-duplicates
    try:
        hits = index.search("launch Lisbon", k=5, mode="lexical")
        assert [(h.key, h.text.endswith("!")) for h in hits] == [("plan", True)]
    finally:
        await index.aclose()
