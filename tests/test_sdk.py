"""The SDK's own behaviour (conversions, views, listening, the sync twin), embedded."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

import nucleusmem
from nucleusmem.errors import AccessDenied, InvalidRequest, NotFound, UnsupportedURL
from nucleusmem.space import Mode


async def test_open_async_is_awaitable_and_a_context_manager() -> None:
    client = await nucleusmem.open_async("memory://", principal="alice")
    try:
        assert (await client.whoami()).name == "alice"
    finally:
        await client.aclose()
    assert client.closed
    async with nucleusmem.open_async("memory://") as client:
        assert (await client.whoami()).name == "local"
    assert client.closed
    with pytest.raises(UnsupportedURL):
        await nucleusmem.open_async("ftp://example")


async def test_strings_for_enums_and_pages_read_at_one_revision() -> None:
    async with nucleusmem.open_async("memory://") as client:
        info = await client.create_space("team", kind="shared", members={"bob": "ro"})
        assert info.members == {"bob": Mode.RO}
        team = client.space("team")
        await team.put_many([{"key": f"k{i}", "content": str(i)} for i in range(5)], region="task")
        pages = team.iter(region="task", page_size=2)
        first = await anext(pages)
        await team.put(
            "k9", "late", region="task"
        )  # not seen: every page reads at page 1's revision
        rest = [r.key async for r in pages]
        assert [first.key, *rest] == ["k0", "k1", "k2", "k3", "k4"]
        with pytest.raises(InvalidRequest, match="unknown region"):
            await team.get("k0", region="attic")
        with pytest.raises(InvalidRequest, match="invalid record"):
            await team.put("../up", "x")


async def test_a_view_pins_a_moment_to_one_revision() -> None:
    async with nucleusmem.open_async("memory://") as client:
        await client.create_space("team")
        team = client.space("team")
        first = await team.put("plan", "draft")
        moment = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive means UTC
        await asyncio.sleep(0.01)
        await team.put("plan", "final")
        view = team.at(moment)
        assert await view.revision() == first.revision
        assert (await view.get("plan")).content == "draft"
        await team.put("other", "x")
        assert [r.key async for r in view.iter()] == ["plan"]
        changes = await view.diff(1)
        assert [(c.key, c.type.value) for c in changes] == [("plan", "added")]
        with pytest.raises(InvalidRequest):
            team.at(None)  # type: ignore[arg-type]


async def test_listen_auto_ack_acknowledges_what_was_handled() -> None:
    async with nucleusmem.open_async("memory://") as client:
        await client.create_space("team")
        team = client.space("team")
        await team.register("bob", ttl_s=None)
        sent = [await team.send("ada", to="bob", content=f"m{i}") for i in range(3)]
        async with team.listen("bob", auto_ack=True) as messages:
            assert (await anext(messages)).revision == sent[0].revision
            assert await team.cursor("bob") == 0  # not acknowledged until the next is asked for
            await anext(messages)
            assert await team.cursor("bob") == sent[0].revision
        assert await team.cursor("bob") == sent[1].revision  # closing acknowledged the last

        with pytest.raises(RuntimeError):
            async with team.listen("bob", auto_ack=True) as messages:
                async for _message in messages:
                    raise RuntimeError("handler failed")
        assert await team.cursor("bob") == sent[1].revision  # the failed one comes again


async def test_a_mounted_space_acts_as_its_agent() -> None:
    async with nucleusmem.open_async("memory://") as client:
        await client.create_space("team")
        planner = await client.agent("planner").mount("team", "rw")
        assert planner.agent == "planner" and planner.mode is not None
        record = await planner.put("plan", "ship it")
        assert record.agent == "planner"
        await planner.register(role="plans", ttl_s=None)
        message = await planner.send(to="planner", ref_key="plan")
        assert message.sender == "planner"
        assert [m.revision for m in await planner.messages()] == [message.revision]
        await planner.ack(message.revision)
        assert await planner.cursor() == message.revision
        assert [m.space for m in await client.agent("planner").mounts()] == ["team"]
        await planner.unmount()
        with pytest.raises(NotFound):
            await planner.unmount()


def test_the_sync_twin_forwards_to_the_async_client() -> None:
    with nucleusmem.open("memory://", principal="alice") as client:
        client.create_space("team", kind="private")
        team = client.space("team")
        first = team.put("plan", "draft", agent="ada")
        team.put("plan", "final")
        assert team.get("plan", at=first.revision).content == "draft"
        assert team.at(first.revision).get("plan").content == "draft"
        assert [r.key for r in team.iter()] == ["plan"]
        assert [v.content for v in team.history("plan")] == ["draft", "final"]
        team.register("bob", ttl_s=None)
        sent = team.send("ada", to="bob", content="hi")
        with team.listen("bob", auto_ack=True) as messages:
            for message in messages:
                assert team.get(message.ref_key).content == "hi"
                break
        assert team.cursor("bob") == sent.revision
        mounted = client.agent("ada").mount("team")
        assert mounted.put("note", "x").agent == "ada"
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.spaces()


def test_errors_surface_unchanged_through_the_sync_twin() -> None:
    with nucleusmem.open("memory://") as client:
        with pytest.raises(NotFound):
            client.space("nosuch").info()
        with pytest.raises(AccessDenied):
            client.create_principal("bob")
