"""Changing a space's embedder or policy: a background rebuild, the old index serving meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from nucleusmem.errors import AccessDenied, InvalidRequest
from nucleusmem.kv import open_store
from nucleusmem.recall import HashingEmbedder, Vectors
from nucleusmem.recall._service import IndexStatus, RecallService, RecallSession
from nucleusmem.space import DataRegion, MemSpaceService, RecallSettings, RecordWrite

MEMORY = DataRegion.MEMORY


class GatedEmbedder:
    """The hashing embedder at another width, held at a gate until released.

    A real embedder under a brake: the rebuild cannot finish before the test says so.
    """

    def __init__(self) -> None:
        self._inner = HashingEmbedder(dimensions=256)
        self.name = "gated-" + self._inner.name
        self.gate = threading.Event()
        self.texts = 0

    @property
    def dimensions(self) -> int:
        """Vector length."""
        return self._inner.dimensions

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Wait for the gate, then embed."""
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        self.texts += len(texts)
        return self._inner.embed(texts)


class Node:
    """A space service and its recall service on one SQLite file, with a gated embedder."""

    def __init__(
        self, service: MemSpaceService, recall: RecallService, gated: GatedEmbedder
    ) -> None:
        self.service, self.recall, self.gated = service, recall, gated
        self.alice = RecallSession(service, "alice", recall)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    gated = GatedEmbedder()
    async with (
        open_store(f"sqlite://{tmp_path / 'switch.db'}") as store,
        MemSpaceService(store) as service,
    ):
        recall = RecallService(
            service, embedders={"gated": lambda: gated}, index_dir=tmp_path / "index"
        )
        node = Node(service, recall, gated)
        await node.alice.create_space("team")
        try:
            yield node
        finally:
            gated.gate.set()
            await recall.aclose()


async def fill(node: Node, prefix: str, n: int) -> int:
    writes = [
        RecordWrite(key=f"{prefix}{i}", content=f"Note {prefix}{i}: the {prefix} runbook step {i}.")
        for i in range(n)
    ]
    return (await node.alice.write("team", writes, region=MEMORY))[-1].revision


async def settled(node: Node, timeout_s: float = 20.0) -> IndexStatus:
    """The status once no rebuild is under way."""
    async with asyncio.timeout(timeout_s):
        while True:
            status = await node.alice.index_status("team")
            if status.reindex is None:
                return status
            await asyncio.sleep(0.02)


async def test_switch_rebuilds_in_background_and_old_index_serves(node: Node) -> None:
    gated = node.gated
    await fill(node, "alpha", 40)
    assert len(await node.alice.search("team", "alpha runbook", k=50)) == 40
    before = await node.alice.index_status("team")
    assert before.embedder == "hashing-384-v1" and before.settings.embedder is None
    old_snapshots = set((node.recall.index_dir or Path()).glob("team--*"))

    await node.alice.set_recall("team", RecallSettings(embedder="gated"))
    async with asyncio.timeout(5):  # the settings watch starts the rebuild
        while (status := await node.alice.index_status("team")).reindex is None:
            await asyncio.sleep(0.01)
    assert status.embedder == "hashing-384-v1"  # still serving the old index
    assert status.reindex is not None and status.reindex.embedder == gated.name
    assert status.reindex.done < status.reindex.total

    # the old index keeps serving, and keeps following writes, while the new one waits
    last = await fill(node, "beta", 10)
    hits = await node.alice.search("team", "beta runbook", k=50)
    assert {h.key for h in hits} >= {f"beta{i}" for i in range(10)}
    assert gated.texts == 0

    gated.gate.set()
    after = await settled(node)
    assert after.embedder == gated.name and after.settings.embedder == "gated"
    assert after.indexed_revision >= last and after.error is None
    assert gated.texts >= 50  # every record, embedded once by the new model
    queries = gated.texts
    hits = await node.alice.search("team", "alpha beta runbook", k=60)
    assert len(hits) == 50 and gated.texts == queries + 1  # the query used the new model
    written = await fill(node, "gamma", 3)
    hits = await node.alice.search("team", "gamma runbook", k=3)
    assert {h.key for h in hits} == {"gamma0", "gamma1", "gamma2"}
    assert all(h.revision == written for h in hits)
    await node.recall.aclose()  # saves the new index; the old one's snapshot is gone
    snapshots = set((node.recall.index_dir or Path()).glob("team--*"))
    assert snapshots and not snapshots & old_snapshots
    assert all("gated" in path.name for path in snapshots)


async def test_policy_change_reindexes_what_it_skips(node: Node) -> None:
    await node.alice.write(
        "team",
        [
            RecordWrite(key="short", content="Deploy at noon."),
            RecordWrite(key="long", content="Deploys happen at noon after the release review."),
        ],
        region=MEMORY,
    )
    hits = await node.alice.search("team", "deploy noon", mode="lexical")
    assert {h.key for h in hits} == {"short", "long"}
    await node.alice.set_recall("team", RecallSettings(min_chars=20))
    async with asyncio.timeout(10):
        while (await node.alice.index_status("team")).settings.min_chars != 20:
            await asyncio.sleep(0.02)
    status = await settled(node)
    assert status.skipped == {"too_short": 1} and status.indexed == 1
    hits = await node.alice.search("team", "deploy noon", mode="lexical")
    assert [h.key for h in hits] == ["long"]
    info = await node.alice.get_space("team")
    assert info.recall.min_chars == 20  # stored with the space, for every node


async def test_settings_are_checked_and_owner_only(node: Node) -> None:
    with pytest.raises(InvalidRequest, match="no embedder 'word2vec'"):
        await node.alice.set_recall("team", RecallSettings(embedder="word2vec"))
    await node.alice.create_space("shared", members={"bob": "rw"})  # type: ignore[dict-item]
    bob = RecallSession(node.service, "bob", node.recall)
    with pytest.raises(AccessDenied):
        await bob.set_recall("shared", RecallSettings(min_chars=1))
    assert (await bob.index_status("shared")).started is False
    eve = RecallSession(node.service, "eve", node.recall)
    with pytest.raises(AccessDenied):
        await eve.index_status("team")
