"""SQLite across processes: crash safety under SIGKILL, shared watches, shared transactions."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from nucleusmem.kv import EventType, open_store

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from nucleusmem.kv import Put, open_store

    async def main(path):
        store = open_store("sqlite://" + path)
        i = 0
        while True:
            rev = await store.commit(
                [Put(b"w/%08d/%s" % (i, part), b"%d" % i) for part in (b"a", b"b", b"c")]
            )
            print(i, rev, flush=True)
            i += 1

    asyncio.run(main(sys.argv[1]))
    """
)

WATCHER = textwrap.dedent(
    """
    import asyncio, sys
    from nucleusmem.kv import open_store

    async def main(path, count):
        store = open_store("sqlite://" + path)
        async with store.watch(b"shared/", start_revision=1) as watch:
            print("ready", flush=True)
            for _ in range(count):
                event = await watch.next(30)
                print(event.type.value, event.key.decode(), event.revision, flush=True)
        await store.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)

INCREMENTER = textwrap.dedent(
    """
    import asyncio, sys
    from nucleusmem.errors import Conflict
    from nucleusmem.kv import open_store

    async def main(path, times):
        store = open_store("sqlite://" + path)
        conflicts = 0
        for _ in range(times):
            while True:
                txn = store.transaction()
                kv = await txn.get(b"counter")
                txn.put(b"counter", b"%d" % (int(kv.value) + 1))
                try:
                    await txn.commit()
                    break
                except Conflict:
                    conflicts += 1
        print(conflicts, flush=True)
        await store.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_sigkill_mid_stream_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    acknowledged: dict[int, int] = {}
    for round_ in range(3):
        writer = spawn(WRITER, path)
        assert writer.stdout is not None
        target = 150 + 37 * round_  # kill at a different point each round
        for seen, line in enumerate(writer.stdout, 1):
            i, rev = map(int, line.split())
            acknowledged[i] = rev
            if seen >= target:
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        assert writer.returncode == -signal.SIGKILL

        async with open_store(f"sqlite://{path}") as store:
            items = (await store.range(b"w/")).items
            by_i: dict[int, set[bytes]] = {}
            for kv in items:
                _, number, part = kv.key.split(b"/")
                by_i.setdefault(int(number), set()).add(part)
                assert kv.value == b"%d" % int(number)
            for i, rev in acknowledged.items():
                kv = await store.get(b"w/%08d/a" % i)
                assert kv is not None and kv.revision == rev, f"acknowledged commit {i} lost"
            half = {i: parts for i, parts in by_i.items() if parts != {b"a", b"b", b"c"}}
            assert not half, f"half-applied commits after the crash: {half}"
            # the next round's writer carries on from the same history


async def test_watches_in_another_process_see_every_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    async with open_store(f"sqlite://{path}") as store:
        await store.put(b"shared/before", b"x")
        watcher = spawn(WATCHER, path, "41")
        assert watcher.stdout is not None
        ready = await asyncio.to_thread(watcher.stdout.readline)
        assert ready.strip() == "ready", watcher.stderr.read() if watcher.stderr else ""
        revisions = [await store.put(b"shared/%d" % (i % 7), b"%d" % i) for i in range(39)]
        revisions.append(await store.delete(b"shared/0"))
        # read through the same buffered file readline used: communicate() would
        # bypass its buffer and drop lines already read into it
        out = await asyncio.to_thread(watcher.stdout.read)
        err = watcher.stderr.read() if watcher.stderr else ""
        await asyncio.to_thread(watcher.wait, 60)
    assert watcher.returncode == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert [int(rev) for _, _, rev in lines][1:] == revisions
    assert lines[0][1] == "shared/before"
    assert lines[-1][:2] == [EventType.DELETE.value, "shared/0"]


async def test_transactions_across_processes_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "counter.db")
    async with open_store(f"sqlite://{path}") as store:
        await store.put(b"counter", b"0")
    workers = [spawn(INCREMENTER, path, "60") for _ in range(3)]
    results = [await asyncio.to_thread(w.communicate, timeout=120) for w in workers]
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    async with open_store(f"sqlite://{path}") as store:
        kv = await store.get(b"counter")
        assert kv is not None and kv.value == b"180"
        assert kv.version == 181


async def test_leases_of_a_vanished_process_expire_for_a_reader(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'leases.db'}"
    async with open_store(url) as owner:
        lease = await owner.grant_lease(0.3)
        await owner.put(b"presence/agent", b"here", lease=lease.id)
    # the owner is gone without revoking; a store that only reads still sees expiry
    async with open_store(url) as reader:
        assert await reader.get(b"presence/agent") is not None
        for _ in range(40):
            await asyncio.sleep(0.05)
            if await reader.get(b"presence/agent") is None:
                break
        assert await reader.get(b"presence/agent") is None
        history = await reader.history(b"presence/agent")
        assert [v.deleted for v in history] == [False, True]


async def test_two_stores_on_one_file_keep_versions_right(tmp_path: Path) -> None:
    """Each store remembers the versions it wrote; a write by the other must not be missed."""
    url = f"sqlite://{tmp_path / 'two.db'}"
    async with open_store(url) as first, open_store(url) as second:
        writers = [first, second, second, first, first, second]
        for n, store in enumerate(writers, 1):
            await store.put(b"k", b"%d" % n)
            kv = await store.get(b"k")
            assert kv is not None and kv.version == n and kv.create_revision == 1
        await first.delete(b"k")
        await second.put(b"k", b"new")
        kv = await first.get(b"k")
        assert kv is not None and kv.version == 1 and kv.create_revision == len(writers) + 2
        await first.put(b"k", b"newer")
        kv = await second.get(b"k")
        assert kv is not None and kv.version == 2
