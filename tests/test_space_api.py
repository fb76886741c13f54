"""One API suite, run through the SDK embedded (in-process) and remote (HTTP + SSE)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from nucleusmem.errors import (
    AccessDenied,
    AlreadyExists,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    ValueTooLarge,
)
from nucleusmem.space import MAX_CONTENT_BYTES, ChangeType, DataRegion, Record, RecordWrite
from nucleusmem.space._models import trusted_record
from spaces import Deployment, deployment


@pytest.fixture(params=["embedded", "remote"])
async def dep(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A fresh deployment on a SQLite file, reached both ways in turn."""
    async with deployment(request.param, f"sqlite://{tmp_path / 'space.db'}") as d:
        yield d


async def test_space_lifecycle(dep: Deployment) -> None:
    alice, bob = await dep.connect("alice"), await dep.connect("bob")
    info = await alice.create_space("team", members={"bob": "ro"}, description="blackboard")
    assert (info.owner, info.kind, info.members) == ("alice", "shared", {"bob": "ro"})
    with pytest.raises(AlreadyExists):
        await alice.create_space("team")
    await alice.create_space("diary", kind="private")
    assert [s.name for s in await alice.spaces()] == ["diary", "team"]
    assert [s.name for s in await bob.spaces()] == ["team"]
    with pytest.raises(InvalidRequest):
        await alice.create_space("Bad Name!")
    with pytest.raises(InvalidRequest):
        await alice.create_space("secret", kind="private", members={"bob": "rw"})
    updated = await alice.space("team").set_member("bob", "rw")
    assert updated.members == {"bob": "rw"}
    await alice.delete_space("team")
    with pytest.raises(NotFound):
        await bob.space("team").info()
    assert [s.name for s in await bob.spaces()] == []


async def test_records_write_read_update_delete(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("team")
    team = alice.space("team")
    first = await team.put(
        "notes/plan", "draft", metadata={"p": 1}, kind="plan", agent="ada", thread="t1"
    )
    assert (first.version, first.created_revision) == (1, first.revision)
    second = await team.put("notes/plan", "final", agent="ada")
    assert second.version == 2 and second.created_revision == first.revision
    assert second.revision > first.revision
    got = await team.get("notes/plan")
    assert (got.content, got.agent, got.revision) == ("final", "ada", second.revision)
    removed = await team.delete("notes/plan")
    with pytest.raises(NotFound):
        await team.get("notes/plan")
    history = await team.history("notes/plan")
    assert [(h.content, h.deleted) for h in history] == [
        ("draft", False),
        ("final", False),
        ("", True),
    ]
    assert history[-1].revision == removed
    with pytest.raises(NotFound):
        await team.delete("notes/plan")


async def test_batch_list_filters_and_paging(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("team")
    team = alice.space("team")
    writes = [
        RecordWrite(key=f"m/{i:03d}", content=f"c{i}", agent="ada" if i % 2 else "bo", kind="fact")
        for i in range(30)
    ]
    records = await team.put_many(writes)
    assert len({r.revision for r in records}) == 1  # one transaction
    page = await team.list(agent="ada", limit=10)
    assert [r.key for r in page.items] == [f"m/{i:03d}" for i in range(1, 20, 2)]
    assert page.next_after == "m/019"
    rest = await team.list(agent="ada", limit=10, after=page.next_after)
    assert [r.key for r in rest.items] == [f"m/{i:03d}" for i in range(21, 30, 2)]
    assert rest.next_after is None
    assert len([r async for r in team.iter(prefix="m/00")]) == 10
    assert (await team.list(kind="nope")).items == []
    await team.put("t/other", "x", region="task")
    assert [r.key for r in (await team.list(region="task")).items] == ["t/other"]
    with pytest.raises(InvalidRequest):
        await team.put_many([RecordWrite(key="a", content="1"), RecordWrite(key="a", content="2")])


async def test_limits_and_quota(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("small", quota_bytes=2000)
    small = alice.space("small")
    with pytest.raises(ValueTooLarge):
        await small.put("big", "x" * (MAX_CONTENT_BYTES + 1))
    for bad in ("", "../etc", "a//b", "/lead", "sp ace"):
        with pytest.raises(InvalidRequest):
            await small.put(bad, "x")
    await small.put("a", "y" * 1000)
    with pytest.raises(QuotaExceeded):
        await small.put("b", "y" * 1500)
    await small.delete("a")
    await small.put("b", "y" * 1500)  # the deleted record's bytes were given back
    assert 1500 < (await small.info()).used_bytes <= 2000


async def test_time_travel(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("team")
    team = alice.space("team")
    v1 = await team.put("doc", "one")
    other = await team.put("other", "x")
    await asyncio.sleep(0.05)
    moment = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.05)
    v2 = await team.put("doc", "two")
    await team.delete("other")
    assert (await team.get("doc", at=v1.revision)).content == "one"
    assert (await team.get("doc", at=moment)).content == "one"
    assert (await team.get("doc", at=v2.revision)).content == "two"
    view = team.at(moment)
    assert sorted(r.key for r in (await view.list()).items) == ["doc", "other"]
    assert (await view.get("other")).content == "x"
    with pytest.raises(NotFound):
        await team.get("other")
    changes = await team.diff(other.revision)
    assert {(c.key, c.type) for c in changes} == {
        ("doc", ChangeType.MODIFIED),
        ("other", ChangeType.DELETED),
    }
    doc = next(c for c in changes if c.key == "doc")
    assert doc.before is not None and doc.after is not None
    assert (doc.before.content, doc.after.content) == ("one", "two")
    assert await team.diff(v1.revision, other.revision - 1) == []


async def test_mounts_persist_and_modes(dep: Deployment) -> None:
    alice, bob = await dep.connect("alice"), await dep.connect("bob")
    await alice.create_space("team", members={"bob": "ro"})
    await alice.create_space("dev")
    planner = alice.agent("planner")
    mounted = await planner.mount("team")
    await mounted.put("plan", "from planner")
    assert (await alice.space("team").get("plan")).agent == "planner"
    await planner.mount("dev", mode="ro")
    again = await (await dep.connect("alice")).agent("planner").mounts()  # a restarted agent
    assert {(m.space, m.mode) for m in again} == {("team", "rw"), ("dev", "ro")}
    with pytest.raises(AccessDenied):
        await planner.space("dev").put("x", "read-only mount")
    await planner.unmount("dev")  # switching persona: unmount one, mount another
    assert [m.space for m in await planner.mounts()] == ["team"]
    with pytest.raises(AccessDenied):
        await bob.agent("reader").mount("team", mode="rw")
    await bob.agent("reader").mount("team", mode="ro")
    with pytest.raises(AccessDenied):
        await bob.agent("planner").mounts()  # an agent id belongs to its first principal


async def test_registry_presence(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("team")
    team = alice.space("team")
    entry = await team.register("ada", address="inbox://ada", role="planner", ttl_s=1.0)
    assert entry.online and entry.capabilities == []
    await team.register("bo", role="coder", capabilities=["python"], ttl_s=None)
    listed = {a.agent: a for a in await team.agents()}
    assert listed["ada"].online and listed["bo"].capabilities == ["python"]
    await asyncio.sleep(2.5)
    assert not {a.agent: a for a in await team.agents()}["ada"].online
    assert await team.heartbeat("ada") == 1.0
    assert {a.agent: a for a in await team.agents()}["ada"].online
    await team.deregister("bo")
    assert [a.agent for a in await team.agents()] == ["ada"]


async def test_send_listen_ack_replay_trace(dep: Deployment) -> None:
    alice, bob = await dep.connect("alice"), await dep.connect("bob")
    await alice.create_space("team", members={"bob": "rw"})
    team_a, team_b = alice.space("team"), bob.space("team")
    await team_b.register("bo")
    await team_b.subscribe("bo", ["news"])
    memo = await team_a.put("memo", "read me")
    listener = team_b.listen("bo")
    first = await team_a.send("ada", to="bo", content="hello bo")
    got = await asyncio.wait_for(anext(listener), 5)
    assert (got.revision, got.sender, got.to) == (first.revision, "ada", "bo")
    assert (await team_b.get(got.ref_key)).content == "hello bo"  # pull by key
    second = await team_a.send("ada", topic="news", ref_key="memo")
    got = await asyncio.wait_for(anext(listener), 5)
    assert (got.topic, got.ref_key, got.revision) == ("news", "memo", second.revision)
    assert memo.revision < second.revision
    await team_a.send("ada", topic="elsewhere", content="not followed")
    await team_b.ack("bo", got.revision)
    await listener.aclose()

    missed = [await team_a.send("ada", to="bo", content=f"while away {i}") for i in range(3)]
    backlog = await team_b.messages("bo")
    assert [m.revision for m in backlog] == [m.revision for m in missed]
    again = team_b.listen("bo")
    replayed = [await asyncio.wait_for(anext(again), 5) for _ in range(3)]
    assert [m.revision for m in replayed] == [m.revision for m in missed]
    await again.aclose()

    trace = await team_a.trace(agent="bo")
    assert [m.revision for m in trace] == [first.revision] + [m.revision for m in missed]
    assert [m.topic for m in await team_a.trace(topic="news")] == ["news"]
    with pytest.raises(NotFound):
        await team_a.send("ada", to="nobody", content="?")
    with pytest.raises(NotFound):
        await team_a.send("ada", topic="news", ref_key="missing")
    with pytest.raises(InvalidRequest):
        await team_a.send("ada", to="bo", topic="news", content="both")


async def test_private_space_is_owners_alone(dep: Deployment) -> None:
    alice, eve = await dep.connect("alice"), await dep.connect("eve")
    await alice.create_space("diary", kind="private")
    diary = alice.space("diary")
    await diary.put("secret", "mine")
    await diary.register("ada")
    spy = eve.space("diary")
    for call in (
        spy.info(),
        spy.get("secret"),
        spy.list(),
        spy.history("secret"),
        spy.put("x", "y"),
        spy.agents(),
        spy.trace(),
        spy.send("eve-agent", to="ada", content="hi"),
        spy.messages("eve-agent"),
        spy.diff(1),
    ):
        with pytest.raises(AccessDenied):
            await call
    with pytest.raises(AccessDenied):
        await anext(spy.listen("eve-agent"))
    assert await eve.spaces() == []


async def test_search_by_meaning_and_words(dep: Deployment) -> None:
    alice, eve = await dep.connect("alice"), await dep.connect("eve")
    await alice.create_space("team")
    team = alice.space("team")
    await team.put("db", "The billing service stores invoices in PostgreSQL.", agent="ada")
    await team.put("cdn", "Static assets are served from the edge cache.", agent="ada")
    await team.put("hi", "Thanks, see you!", agent="ada")  # noise: not indexed
    hits = await team.search("where are invoices stored")
    assert hits[0].key == "db" and hits[0].lane == "space" and hits[0].region == "memory"
    newer = await team.put("db", "Invoices now live in the billing warehouse.", agent="ada")
    hits = await team.search("invoices billing", k=1)
    assert (hits[0].key, hits[0].revision) == ("db", newer.revision)  # fresh after a write
    old = await team.search("invoices PostgreSQL", k=1, at=newer.revision - 1, mode="lexical")
    assert "PostgreSQL" in old[0].text
    assert "hi" not in [h.key for h in await team.search("thanks see you")]
    with pytest.raises(AccessDenied):
        await eve.space("team").search("invoices")
    with pytest.raises(InvalidRequest):
        await team.search("invoices", mode="telepathy")


async def test_recall_settings_per_space(dep: Deployment) -> None:
    alice = await dep.connect("alice")
    await alice.create_space("team")
    team = alice.space("team")
    await team.put("short", "Deploy at noon.")
    await team.put("long", "Deploys happen at noon after the release review.")
    assert {h.key for h in await team.search("deploy noon", mode="lexical")} == {"short", "long"}
    info = await team.set_recall(min_chars=20)
    assert info.recall.min_chars == 20 and info.recall.skip_greetings  # others unchanged
    async with asyncio.timeout(10):  # the index rebuilds in the background, then takes over
        while (status := await team.index_status()).settings.min_chars != 20 or status.reindex:
            await asyncio.sleep(0.02)
    assert status.skipped == {"too_short": 1}
    assert [h.key for h in await team.search("deploy noon", mode="lexical")] == ["long"]
    with pytest.raises(InvalidRequest):
        await team.set_recall(embedder="no-such-model")
    with pytest.raises(InvalidRequest):
        await team.set_recall(min_chars=-1)


def test_trusted_records_are_what_model_construct_makes() -> None:
    fields = {
        "space": "team",
        "region": DataRegion.MEMORY,
        "key": "a/b",
        "content": "the blue door",
        "metadata": {"resource": "house"},
        "kind": "fact",
        "agent": None,
        "thread": "t1",
        "revision": 7,
        "created_revision": 3,
        "version": 2,
        "time": 1.5,
        "deleted": False,
    }
    fast, slow = trusted_record(dict(fields)), Record.model_construct(**fields)
    assert fast.__getstate__() == slow.__getstate__()
    assert fast == slow and fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == set(fields)
    with pytest.raises(ValidationError):  # still frozen
        fast.content = "changed"  # type: ignore[misc]
