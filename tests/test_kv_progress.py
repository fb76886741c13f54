"""Watch progress markers (part of the KV contract), run against every backend.

A `Progress(r)` from `Watch.next_change` says every event under the watch's prefix up
to revision r came before it, even when the commits up to r were all elsewhere.
Revisions are taken from commits, never assumed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from nucleusmem.errors import StoreUnavailable
from nucleusmem.kv import Event, Progress, Put, Store, Watch
from nucleusmem.kv._watch import ProgressWanted


async def changes_until(watch: Watch, revision: int, timeout_s: float = 5.0) -> list[Any]:
    """Events and markers up to the first marker at or beyond ``revision``."""
    seen: list[Event | Progress] = []
    async with asyncio.timeout(timeout_s):
        while not (seen and isinstance(seen[-1], Progress) and seen[-1].revision >= revision):
            before = watch.progress_revision
            seen.append(await watch.next_change())
            assert watch.progress_revision == max(before, seen[-1].revision)
    return seen


def assert_ordered(seen: list[Event | Progress], commits: set[int]) -> None:
    """Each marker comes after the events of every watched commit (a revision) up to it."""
    delivered: set[int] = set()
    for item in seen:
        if isinstance(item, Event):
            delivered.add(item.revision)
        else:
            missing = {r for r in commits if r <= item.revision} - delivered
            assert not missing, f"Progress({item.revision}) came before events {missing}"


async def test_progress_passes_commits_outside_the_prefix(store: Store, ns: bytes) -> None:
    async with store.watch(ns + b"a/") as watch:
        for i in range(3):
            await store.put(ns + b"b/%d" % i, b"elsewhere")
        head = await store.revision()
        watch.request_progress()
        seen = await changes_until(watch, head)
    assert all(isinstance(item, Progress) for item in seen), seen
    assert watch.progress_revision >= head and watch.last_revision is None


async def test_each_request_is_answered_and_requests_coalesce(store: Store, ns: bytes) -> None:
    async with store.watch(ns + b"a/") as watch:
        head = await store.put(ns + b"b", b"elsewhere")
        watch.request_progress()
        await changes_until(watch, head)
        for _ in range(3):  # nothing new committed: answered again, once
            watch.request_progress()
        again = await watch.next_change(5)
        assert isinstance(again, Progress) and again.revision >= head
        with pytest.raises(TimeoutError):
            await watch.next_change(0.2)


async def test_markers_follow_the_events_up_to_them(store: Store, ns: bytes) -> None:
    commits: set[int] = set()
    async with store.watch(ns + b"a/") as watch:
        for i in range(4):
            commits.add(await store.put(ns + b"a/%d" % i, b"watched"))
            await store.put(ns + b"b/%d" % i, b"elsewhere")
            watch.request_progress()
            await store.put(ns + b"b/%d/more" % i, b"elsewhere")
        watch.request_progress()
        seen = await changes_until(watch, await store.revision())
    assert [e.revision for e in seen if isinstance(e, Event)] == sorted(commits)
    assert_ordered(seen, commits)


async def test_a_marker_requested_during_a_replay_follows_it(store: Store, ns: bytes) -> None:
    commits: set[int] = set()
    for i in range(20):
        commits.add(await store.commit([Put(ns + b"a/%d/%d" % (i, j), b"x") for j in range(50)]))
        await store.put(ns + b"b/%d" % i, b"elsewhere")
    head = await store.revision()
    async with store.watch(ns + b"a/", start_revision=min(commits)) as watch:
        watch.request_progress()  # etcd 3.4 would answer at once, ahead of the replay
        seen = await changes_until(watch, head)
    assert sum(isinstance(item, Event) for item in seen) == 20 * 50
    assert_ordered(seen, commits)


async def test_next_gives_events_only(store: Store, ns: bytes) -> None:
    async with store.watch(ns + b"a/") as watch:
        elsewhere = await store.put(ns + b"b", b"elsewhere")
        watch.request_progress()
        await asyncio.sleep(0.05)  # memory and sqlite queue the marker ahead of the event
        watched = await store.put(ns + b"a/k", b"watched")
        event = await watch.next(5)
        assert event.revision == watched and watch.last_revision == watched
        assert watch.progress_revision >= watched > elsewhere
        watch.request_progress()
        with pytest.raises(TimeoutError):
            await watch.next(0.2)


async def test_a_dropped_stream_resumes_after_the_last_marker(
    store: Store, ns: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    threshold = 1 << 62  # the revision of the marker to drop the stream after
    stream = store._stream

    def dropping(prefix: bytes, start: int, wanted: ProgressWanted) -> AsyncIterator[Any]:
        opened.append(start)

        async def items() -> AsyncIterator[Any]:
            async for item in stream(prefix, start, wanted):
                yield item
                if len(opened) == 1 and isinstance(item, Progress) and item.revision >= threshold:
                    raise StoreUnavailable("the connection dropped")

        return items()

    monkeypatch.setattr(store, "_stream", dropping)
    async with store.watch(ns + b"a/") as watch:
        before = await store.put(ns + b"a/1", b"watched")
        threshold = await store.put(ns + b"b/1", b"elsewhere")
        watch.request_progress()
        seen = await changes_until(watch, threshold)
        marker = seen[-1].revision
        after = await store.put(ns + b"a/2", b"watched")
        assert (await watch.next(5)).revision == after
        head = await store.put(ns + b"b/2", b"elsewhere")
        watch.request_progress()
        await changes_until(watch, head)
    assert [e.revision for e in seen if isinstance(e, Event)] == [before]
    assert opened[1] == marker + 1 and watch.resumes == 1


async def test_progress_after_etcd_drops_the_watch_stream(open_backend: Any, ns: bytes) -> None:
    async def drop() -> None:
        connection = store._conns.pop(store._current)  # white box: the watch's channel
        await connection.channel.close()

    async with open_backend("etcd") as store, store.watch(ns + b"a/") as watch:
        await drop()
        first = await store.put(ns + b"a/1", b"watched")
        assert (await watch.next(5)).revision == first
        await drop()
        watch.request_progress()  # the broken stream may take it: it must not be lost
        await changes_until(watch, first)
        head = await store.put(ns + b"b/1", b"elsewhere")
        watch.request_progress()
        seen = await changes_until(watch, head)
        assert not any(isinstance(item, Event) for item in seen)
        again = await store.put(ns + b"a/2", b"watched")
        assert (await watch.next(5)).revision == again
    assert watch.resumes >= 2


def test_an_etcd_fence_answers_after_two_passes_and_starts_over_when_lost() -> None:
    from nucleusmem.kv._etcd_watch import Fence

    def reply(watch_id: int, events: int = 0, **flags: Any) -> Any:
        fields = {"compact_revision": 0, "canceled": False, **flags}
        return SimpleNamespace(watch_id=watch_id, events=[object()] * events, **fields)

    def kinds(requests: list[Any]) -> list[tuple[str, int]]:
        return [
            ("create", r.create_request.watch_id)
            if r.HasField("create_request")
            else ("cancel", r.cancel_request.watch_id)
            for r in requests
        ]

    fence = Fence(40, b"\x00clock", 38, itertools.count(1))
    assert kinds(fence.open()) == [("create", 1)]
    assert fence.answered(reply(1)) == [] and not fence.done  # created
    assert kinds(fence.answered(reply(1, events=1))) == [("create", 2)]  # the first pass
    assert kinds(fence.open()) == [("cancel", 1), ("cancel", 2), ("create", 3)]  # cut short
    assert not fence.owns(1) and fence.owns(3)
    assert kinds(fence.answered(reply(3, events=2))) == [("create", 4)]
    assert kinds(fence.answered(reply(4, events=1))) == [("cancel", 3), ("cancel", 4)]
    assert fence.done and not fence.lost and not fence.owns(4)

    lost = Fence(40, b"\x00clock", 38, itertools.count(1))
    lost.open()
    assert kinds(lost.answered(reply(1, compact_revision=39))) == [("cancel", 1)]
    assert lost.lost and not lost.done
