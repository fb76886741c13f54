"""Random histories against every backend and a plain reference model: zero divergence.

A hypothesis state machine runs puts, deletes, multi-key commits, optimistic
transactions that may race, leases, compaction, as-of reads and ranges against a real
store and a dictionary-of-lists model side by side, and checks at the end that a watch
opened before the first step and a watch replayed from the first revision both saw
exactly the model's events.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from nucleusmem.errors import Compacted, Conflict
from nucleusmem.kv import Delete, EventType, MemoryStore, Put, Store, Watch, open_store

T = TypeVar("T")
KEYS = st.sampled_from([b"a", b"ab", b"b", b"c/1", b"c/2"])
VALUES = st.binary(min_size=0, max_size=8)
Row = tuple[int, bytes | None]  # (revision, value or None for a tombstone)
ModelEvent = tuple[EventType, bytes, bytes, int]


class Model:
    """The reference: every key's versions, the event log, leases, the floor."""

    def __init__(self) -> None:
        self.rows: dict[bytes, list[Row]] = {}
        self.events: list[ModelEvent] = []
        self.leases: dict[int, set[bytes]] = {}
        self.floor = 0

    def value_at(self, key: bytes, revision: int) -> bytes | None:
        found = None
        for rev, value in self.rows.get(key, []):
            if rev <= revision:
                found = value
        return found

    def live_revision(self, key: bytes, revision: int) -> int:
        found = 0
        for rev, value in self.rows.get(key, []):
            if rev <= revision:
                found = rev if value is not None else 0
        return found

    def apply(self, revision: int, writes: list[tuple[bytes, bytes | None, int | None]]) -> None:
        for key, value, lease in sorted(writes, key=lambda w: w[0]):
            for keys in self.leases.values():
                keys.discard(key)
            if value is None:
                if self.value_at(key, revision) is None:
                    continue
                self.events.append((EventType.DELETE, key, b"", revision))
            else:
                self.events.append((EventType.PUT, key, value, revision))
                if lease is not None:
                    self.leases[lease].add(key)
            self.rows.setdefault(key, []).append((revision, value))


class KVMachine(RuleBasedStateMachine):
    """Drives one store and the model with the same random operations."""

    open_store: Callable[[], Store]
    ns: bytes

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = self.open_store()
        self.model = Model()
        self.revisions: list[int] = []  # every revision this run committed
        self.first: int | None = None
        self.live: Watch | None = None
        self.lease_ids: list[int] = []
        self.live_seen = 0  # model events the live watch has delivered so far

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def k(self, key: bytes) -> bytes:
        return self.ns + key

    def committed(
        self, revision: int, writes: list[tuple[bytes, bytes | None, int | None]]
    ) -> None:
        if self.revisions:
            assert revision == self.revisions[-1] + 1, "revisions must be consecutive"
        self.revisions.append(revision)
        self.model.apply(revision, writes)

    @initialize()
    def open_live_watch(self) -> None:
        self.live = self.store.watch(self.ns)
        self.run(self.live.start())

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        self.committed(self.run(self.store.put(self.k(key), value)), [(key, value, None)])

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        self.committed(self.run(self.store.delete(self.k(key))), [(key, None, None)])

    @rule(writes=st.dictionaries(KEYS, st.none() | VALUES, min_size=1, max_size=4))
    def multi(self, writes: dict[bytes, bytes | None]) -> None:
        ops = [Delete(self.k(k)) if v is None else Put(self.k(k), v) for k, v in writes.items()]
        rev = self.run(self.store.commit(ops))
        self.committed(rev, [(k, v, None) for k, v in writes.items()])

    @rule(read=KEYS, write=KEYS, value=VALUES, racer=st.none() | KEYS)
    def transaction(self, read: bytes, write: bytes, value: bytes, racer: bytes | None) -> None:
        """Read one key, maybe let another writer in, write; the model predicts Conflict."""
        txn = self.store.transaction()
        self.run(txn.get(self.k(read)))
        if racer is not None:
            self.put(racer, b"racer")  # a put always moves the key's mod revision
        txn.put(self.k(write), value)
        expect_conflict = racer in (read, write)
        if expect_conflict:
            with pytest.raises(Conflict):
                self.run(txn.commit())
        else:
            self.committed(self.run(txn.commit()), [(write, value, None)])

    @rule(key=KEYS, value=VALUES)
    def put_with_lease(self, key: bytes, value: bytes) -> None:
        lease = self.run(self.store.grant_lease(600))
        self.lease_ids.append(lease.id)
        self.model.leases[lease.id] = set()
        self.committed(
            self.run(self.store.put(self.k(key), value, lease=lease.id)), [(key, value, lease.id)]
        )

    @precondition(lambda self: bool(self.lease_ids))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        lease_id = data.draw(st.sampled_from(self.lease_ids))
        self.lease_ids.remove(lease_id)
        keys = self.model.leases.pop(lease_id)
        self.run(self.store.revoke_lease(lease_id))
        if keys:
            self.committed(self.run(self.store.revision()), [(k, None, None) for k in keys])

    @precondition(lambda self: len(self.revisions) > 2)
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        floor = data.draw(st.sampled_from(self.revisions[-3:]))
        if floor > self.model.floor:
            self.drain_live_watch()  # a watcher left below the floor would get Compacted
            self.run(self.store.compact(floor))
            self.model.floor = floor
            head = self.run(self.store.revision())
            if head != self.revisions[-1]:  # etcd records the floor at a revision of its own
                self.committed(head, [])

    @precondition(lambda self: bool(self.revisions))
    @rule(key=KEYS, data=st.data())
    def get_as_of(self, key: bytes, data: st.DataObject) -> None:
        revision = data.draw(st.sampled_from(self.revisions))
        if revision < self.model.floor:
            with pytest.raises(Compacted):
                self.run(self.store.get(self.k(key), revision=revision))
            return
        kv = self.run(self.store.get(self.k(key), revision=revision))
        assert (kv.value if kv else None) == self.model.value_at(key, revision)

    @precondition(lambda self: bool(self.revisions))
    @rule(prefix=st.sampled_from([b"", b"a", b"c/"]), data=st.data())
    def range_as_of(self, prefix: bytes, data: st.DataObject) -> None:
        revision = data.draw(st.sampled_from(self.revisions))
        if revision < self.model.floor:
            return
        got = self.run(self.store.range(self.k(prefix), revision=revision))
        expected = sorted(
            (key, value)
            for key in self.model.rows
            if key.startswith(prefix) and (value := self.model.value_at(key, revision)) is not None
        )
        assert [(kv.key[len(self.ns) :], kv.value) for kv in got.items] == expected

    @invariant()
    def now_matches(self) -> None:
        if not self.revisions:
            return
        got = self.run(self.store.range(self.ns))
        head = self.revisions[-1]
        expected = sorted(
            (key, v) for key in self.model.rows if (v := self.model.value_at(key, head)) is not None
        )
        assert [(kv.key[len(self.ns) :], kv.value) for kv in got.items] == expected

    def drain_live_watch(self) -> None:
        """Check that the live watch delivers exactly the model's events so far."""
        assert self.live is not None
        expected = self.model.events[self.live_seen :]
        seen = [self.run(self.live.next(10)) for _ in expected]
        assert [(e.type, e.key[len(self.ns) :], e.value, e.revision) for e in seen] == expected
        self.live_seen = len(self.model.events)

    def teardown(self) -> None:
        try:
            expected = self.model.events
            self.drain_live_watch()
            if self.revisions:
                start = max(self.revisions[0], self.model.floor)
                replay = [e for e in expected if e[3] >= start]
                watch = self.store.watch(self.ns, start_revision=start)
                seen = [self.run(watch.next(10)) for _ in replay]
                self.run(watch.aclose())
                assert [
                    (e.type, e.key[len(self.ns) :], e.value, e.revision) for e in seen
                ] == replay
        finally:
            if self.live is not None:
                self.run(self.live.aclose())
            self.run(self.store.aclose())
            self.loop.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite", "etcd"])
def test_random_histories_match_the_model(backend: str, request: pytest.FixtureRequest) -> None:
    counter = iter(range(1_000_000))
    tmp = Path(tempfile.mkdtemp(prefix="nm-model-"))

    def opener() -> Store:
        if backend == "memory":
            return MemoryStore()
        if backend == "sqlite":
            return open_store(f"sqlite://{tmp / f'model-{next(counter)}.db'}")
        return open_store(request.getfixturevalue("etcd_server").url)

    class Machine(KVMachine):
        open_store = staticmethod(opener)

        def __init__(self) -> None:
            self.ns = b"model%06d/" % next(counter)
            super().__init__()

    examples = {"memory": 60, "sqlite": 30, "etcd": 20}[backend]
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
