"""Several server nodes on one etcd: each keeps its own search index fresh from the KV.

Every node here is real: its own etcd client, `MemSpaceService`, `RecallService` and
HTTP server on a free loopback port, all on the session's etcd. Principals, agents
and spaces carry a per-test tag, since other suites share that etcd.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import nucleusmem
from nucleusmem import AsyncSpace
from nucleusmem.kv import open_store
from nucleusmem.recall._service import RecallService, SearchHit
from nucleusmem.server import AppServer, create_app
from nucleusmem.server._run import bind
from nucleusmem.space import DataRegion, MemSpaceService, Mode, RecordWrite

if TYPE_CHECKING:
    from nucleusmem.testing.etcd import EtcdServer

MEMORY = DataRegion.MEMORY


@dataclass
class Node:
    """One running server node and the services behind it."""

    url: str
    service: MemSpaceService
    recall: RecallService


@contextlib.asynccontextmanager
async def serving(store_url: str, *, index_dir: Path | None = None) -> AsyncIterator[Node]:
    """A node on ``store_url`` (its own store client and index), saving to ``index_dir``."""
    async with open_store(store_url) as store, MemSpaceService(store) as service:
        recall = RecallService(service, index_dir=index_dir)
        server = AppServer(create_app(service, recall=recall))
        sock = bind("127.0.0.1", 0)
        task = asyncio.get_running_loop().create_task(server.serve_on(sock))
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            yield Node(f"http://127.0.0.1:{sock.getsockname()[1]}", service, recall)
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            await recall.aclose()  # as `nucleusmem serve` does: saves the index


class Cluster:
    """Nodes on one etcd, with principals and a space named apart from other tests."""

    def __init__(self, store_url: str, stack: contextlib.AsyncExitStack) -> None:
        self.store_url = store_url
        self.tag = uuid.uuid4().hex[:8]
        self.space = f"recall-{self.tag}"
        """The space every test works in (owned by ``alice``)."""
        self.tokens: dict[str, str] = {}
        self._stack = stack

    def name(self, who: str) -> str:
        """The tagged name of principal or agent ``who``."""
        return f"{who}-{self.tag}"

    async def start(self, *, index_dir: Path | None = None) -> Node:
        """Another node, stopped when the test ends."""
        return await self._stack.enter_async_context(serving(self.store_url, index_dir=index_dir))

    async def create_space(self, node: Node) -> None:
        """Create the space through ``node``: owner ``alice``, ``bob`` a rw member."""
        await self.token(node, "alice")
        await self.token(node, "bob")
        owner = node.service.session(self.name("alice"))
        await owner.create_space(self.space, members={self.name("bob"): Mode.RW})

    async def token(self, node: Node, who: str) -> str:
        """Principal ``who``'s token (the principal is created on first use)."""
        if who not in self.tokens:
            admin = node.service.session("admin")
            self.tokens[who] = await admin.create_principal(self.name(who))
        return self.tokens[who]

    async def alice_on_two_nodes(self) -> tuple[Node, Node, AsyncSpace, AsyncSpace]:
        """Two nodes, the space, and ``alice``'s view through each, both indexes built."""
        a, b = await self.start(), await self.start()
        await self.create_space(a)
        on_a, on_b = await self.view(a, "alice"), await self.view(b, "alice")
        await searched(on_a, on_b)
        return a, b, on_a, on_b

    async def view(
        self, node: Node, who: str, *, stack: contextlib.AsyncExitStack | None = None
    ) -> AsyncSpace:
        """The space as ``who`` sees it through ``node``'s HTTP API."""
        token = await self.token(node, who)
        opener = nucleusmem.open_async(node.url, token=token)
        client = await (stack or self._stack).enter_async_context(opener)
        return client.space(self.space)


@pytest.fixture
async def cluster(etcd_server: EtcdServer) -> AsyncIterator[Cluster]:
    """A cluster on the session's etcd; nodes and clients end with the test."""
    async with contextlib.AsyncExitStack() as stack:
        yield Cluster(etcd_server.url, stack)


async def searched(*spaces: AsyncSpace) -> None:
    """Search each view once: the first search builds a node's index, which then follows."""
    for space in spaces:
        await space.search("anything at all")


def keys(hits: list[SearchHit]) -> list[str]:
    """The record keys of ``hits``, best first."""
    return [h.key for h in hits]


def hit(hits: list[SearchHit], key: str) -> SearchHit:
    """The hit for ``key`` (fails the test if there is none)."""
    found = [h for h in hits if h.key == key]
    assert found, f"{key!r} not in {keys(hits)}"
    return found[0]


async def index_status(node: Node, token: str, space: str) -> dict[str, Any]:
    """``GET /v1/spaces/{space}/index`` on ``node``."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=node.url, headers=headers) as http:
        response = await http.get(f"/v1/spaces/{space}/index")
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status


async def test_a_write_on_one_node_is_found_on_the_other(cluster: Cluster) -> None:
    _, b, on_a, on_b = await cluster.alice_on_two_nodes()

    written = await on_a.put("infra/db", "The billing database runs PostgreSQL 15 on host pg-7.")
    found = hit(await on_b.search("which database does billing use"), "infra/db")
    assert found.revision == written.revision
    assert "PostgreSQL 15" in found.text

    back = await on_b.put("infra/queue", "Orders flow through a RabbitMQ queue named orders-v2.")
    found = hit(await on_a.search("RabbitMQ orders queue", mode="lexical"), "infra/queue")
    assert (found.revision, found.lane) == (back.revision, "space")
    assert keys(await on_b.search("RabbitMQ orders queue", k=1)) == ["infra/queue"]
    status = await index_status(b, cluster.tokens["alice"], cluster.space)
    assert status["indexed_revision"] >= back.revision and status["indexed"] == 2


async def test_an_update_on_one_node_replaces_the_old_text_on_the_other(cluster: Cluster) -> None:
    _, _, on_a, on_b = await cluster.alice_on_two_nodes()

    first = await on_a.put("deploy", "Deploys happen on Tuesday mornings via Jenkins pipelines.")
    await on_a.put("other", "The office coffee machine is descaled every second Friday.")
    assert hit(await on_b.search("Jenkins Tuesday"), "deploy").revision == first.revision
    updated = await on_b.put("deploy", "Releases now ship on Thursday evenings through ArgoCD.")

    new = hit(await on_a.search("ArgoCD Thursday releases"), "deploy")
    assert (new.revision, new.text) == (updated.revision, updated.content)
    assert "deploy" not in keys(await on_a.search("Jenkins Tuesday", mode="lexical"))
    assert all("Jenkins" not in h.text for h in await on_a.search("Jenkins Tuesday"))
    old = hit(await on_a.search("Jenkins Tuesday", at=first.revision), "deploy")
    assert (old.revision, old.text) == (first.revision, first.content)
    assert "deploy" not in keys(await on_a.search("ArgoCD", mode="lexical", at=first.revision))


async def test_a_delete_on_one_node_removes_the_record_on_the_other(cluster: Cluster) -> None:
    _, _, on_a, on_b = await cluster.alice_on_two_nodes()

    gone = await on_a.put("vpn", "The VPN gateway certificate expires in March 2031.")
    kept = await on_a.put("wiki", "The team wiki lives in Confluence under the OPS space.")
    assert set(keys(await on_b.search("VPN gateway certificate"))) == {"vpn", "wiki"}
    removed = await on_a.delete("vpn")

    assert keys(await on_b.search("VPN gateway certificate")) == ["wiki"]
    assert keys(await on_b.search("VPN certificate", mode="lexical")) == []
    before = await on_b.search("VPN gateway certificate", at=removed - 1)
    assert hit(before, "vpn").revision == gone.revision  # time travel still sees it

    await on_b.delete("wiki")  # and the other way round
    assert await on_a.search("team wiki Confluence") == []
    assert hit(await on_a.search("team wiki", at=kept.revision), "wiki").revision == kept.revision


async def test_a_private_lane_stays_private_on_every_node(cluster: Cluster) -> None:
    a, b = await cluster.start(), await cluster.start()
    await cluster.create_space(a)
    x, y = cluster.name("x"), cluster.name("y")
    alice_a, alice_b = await cluster.view(a, "alice"), await cluster.view(b, "alice")
    bob_b = await cluster.view(b, "bob")
    await bob_b.put("y/hello", "Agent y keeps the on-call rota in PagerDuty.", agent=y)
    await searched(alice_a, alice_b, bob_b)

    secret = await alice_a.put(
        "x/secret",
        "The staging root password rotates on the first Monday of each month.",
        agent=x,
        metadata={"private": True},
    )
    shared = await alice_a.put(
        "x/shared", "The staging cluster runs in the Frankfurt region.", agent=x
    )
    query = "staging root password rotates"

    mine = hit(await alice_b.search(query, agent=x), "x/secret")  # its own agent, on B
    assert (mine.revision, mine.lane) == (secret.revision, "agent")
    for hits in (
        await bob_b.search(query, agent=y),
        await bob_b.search(query),
        await alice_b.search(query),  # its owner too, when not searching as x
        await bob_b.search("staging root password", mode="lexical", agent=y),
        await alice_b.search(query, at=shared.revision),
    ):
        assert "x/secret" not in keys(hits)
        assert hit(hits, "x/shared").revision == shared.revision  # B has caught up
    assert "x/secret" in keys(await alice_a.search(query, agent=x))
    assert "x/secret" not in keys(await alice_a.search(query))


async def test_a_restarted_node_resumes_its_index_and_catches_up(
    cluster: Cluster, tmp_path: Path
) -> None:
    index_dir = tmp_path / "node-b-index"
    a = await cluster.start()
    await cluster.create_space(a)
    token = cluster.tokens["alice"]
    on_a = await cluster.view(a, "alice")
    early = await on_a.put("early", "The first incident review is held on Wednesday at noon.")
    doomed = await on_a.put("doomed", "The legacy FTP server at ftp-3 is being retired soon.")

    async with (
        serving(cluster.store_url, index_dir=index_dir) as b,
        contextlib.AsyncExitStack() as clients,
    ):
        on_b = await cluster.view(b, "alice", stack=clients)
        assert hit(await on_b.search("incident review"), "early").revision == early.revision
        saved = (await index_status(b, token, cluster.space))["indexed_revision"]
        assert saved >= doomed.revision
    assert list(index_dir.glob(f"{cluster.space}--*.npz")), "node B saved no index on close"

    meanwhile = [  # node B is down
        await on_a.put("late/1", "Kafka topics are retained for seven days by default."),
        await on_a.put("early", "Incident reviews moved to Friday afternoons in room 4."),
    ]
    removed = await on_a.delete("doomed")

    async with (
        serving(cluster.store_url, index_dir=index_dir) as b,
        contextlib.AsyncExitStack() as clients,
    ):
        on_b = await cluster.view(b, "alice", stack=clients)
        assert hit(await on_b.search("Kafka topics retained"), "late/1").revision == (
            meanwhile[0].revision
        )
        review = hit(await on_b.search("incident reviews Friday"), "early")
        assert (review.revision, review.text) == (meanwhile[1].revision, meanwhile[1].content)
        assert "doomed" not in keys(await on_b.search("legacy FTP server"))
        assert "doomed" in keys(await on_b.search("legacy FTP", at=removed - 1))
        status = await index_status(b, token, cluster.space)
    assert status["resumed_from"] == saved  # not rebuilt: resumed from the saved revision
    assert status["indexed_revision"] >= removed


async def test_writes_to_other_spaces_do_not_stall_a_node(cluster: Cluster, tmp_path: Path) -> None:
    """On a shared etcd the newest commit is usually in some other space."""
    index_dir = tmp_path / "node-b-index"
    a = await cluster.start()
    await cluster.create_space(a)
    on_a = await cluster.view(a, "alice")
    owner, other = a.service.session(cluster.name("alice")), f"{cluster.space}-other"
    await owner.create_space(other)

    async def write_elsewhere() -> None:
        await owner.write(other, [RecordWrite(key="n", content="Unrelated.")], region=MEMORY)

    await on_a.put("runbook", "Rotate the TLS certificates with the certbot cron job.")
    async with (
        serving(cluster.store_url, index_dir=index_dir) as b,
        contextlib.AsyncExitStack() as clients,
    ):
        await searched(await cluster.view(b, "alice", stack=clients))

    later = await on_a.put("later", "Backups of the ledger are copied to the cold bucket nightly.")
    await write_elsewhere()
    async with serving(cluster.store_url, index_dir=index_dir) as b:
        token = await cluster.token(b, "alice")
        async with nucleusmem.open_async(b.url, token=token, timeout_s=5) as client:
            on_b = client.space(cluster.space)
            found = hit(await on_b.search("ledger backups cold bucket"), "later")
            assert found.revision == later.revision  # a resumed index is not left waiting
            for _ in range(3):
                await write_elsewhere()
                started = time.monotonic()
                assert keys(await on_b.search("TLS certificates certbot", k=1)) == ["runbook"]
                assert time.monotonic() - started < 1.0  # nor waits out its catch-up time
