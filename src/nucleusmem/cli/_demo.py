"""The ``demo`` command: the KV seam at work on a real store."""

from __future__ import annotations

import datetime as dt

from nucleusmem import __version__
from nucleusmem.errors import Conflict
from nucleusmem.kv import Put, Store, open_store

__all__ = ["demo"]


async def demo(url: str) -> None:
    """Show the KV seam at work: revisions, a transaction race, time travel, a watch."""
    store: Store
    async with open_store(url) as store:
        print(f"NucleusMem {__version__} store: {url}")
        async with store.watch(b"demo/comm/") as watch:
            r1 = await store.commit(
                [
                    Put(b"demo/memory/plan", b"draft the launch post"),
                    Put(b"demo/memory/owner", b"ada"),
                ]
            )
            print(f"  rev {r1:>4}  wrote plan and owner in one commit")
            r2 = await store.put(b"demo/memory/plan", b"publish the launch post")
            print(f"  rev {r2:>4}  updated the plan")

            first, second = store.transaction(), store.transaction()
            for txn in (first, second):
                await txn.get(b"demo/memory/owner")
                txn.put(b"demo/memory/owner", b"grace")
            await first.commit()
            try:
                await second.commit()
            except Conflict as exc:
                print(
                    f"  rev {first.revision:>4}  two writers raced; the second got Conflict ({exc})"
                )

            old = await store.get(b"demo/memory/plan", revision=r1)
            print(f"  as of rev {r1}: plan = {old.value.decode() if old else None!r}")
            when = await store.time_of(r2)
            print(f"  rev {r2} was committed at {when.isoformat(timespec='milliseconds')}")

            lease = await store.grant_lease(30)
            r3 = await store.put(b"demo/comm/ada", b"see demo/memory/plan", lease=lease.id)
            event = await watch.next(5)
            print(f"  rev {r3:>4}  watcher got {event.type.value} {event.key.decode()}")
            await lease.revoke()
            event = await watch.next(5)
            print(f"  rev {event.revision:>4}  lease revoked; watcher got {event.type.value}")
        versions = await store.history(b"demo/memory/plan")
        print(f"  history of demo/memory/plan: {[v.revision for v in versions]}")
        print(
            f"  head revision {await store.revision()}, at {dt.datetime.now(dt.UTC):%H:%M:%S} UTC"
        )
