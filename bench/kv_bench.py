"""Benchmark the KV stores against their raw engines, measured in the same run.

Usage: ``python bench/kv_bench.py [--quick] [--backends memory,sqlite,etcd]
[--profile FILE]``; ``--profile`` writes cProfile stats of the whole run to FILE.

Every number is the median of several repetitions, and each repetition runs our
store and its raw baseline back to back (alternating which goes first), so a noisy
machine slows both sides alike; a ratio is the median of the repetitions' ratios.
A table goes to stdout, then, as the last line, one JSON object with the results.
Ratios are "ours over raw": for rates, 1.0 means no overhead and higher is better;
for latencies, 1.0 means no overhead and lower is better. Keys of backends that
were not run, or could not run, are null.

SQLite (raw: plain ``sqlite3`` on an equivalent schema: a ``(key, revision, value,
lease, create_revision, version)`` WITHOUT ROWID table keyed by (key, revision) with
an index by revision, plus a revisions table with an index by time; WAL mode,
``synchronous=FULL``, one ``BEGIN IMMEDIATE`` transaction per commit that inserts
one revisions row and the key rows):

- ``sqlite_batch_commit_ratio``: records/s through ``SQLiteStore.commit`` with
  ``sqlite_batch_size`` puts per commit over records/s of raw ``executemany`` with
  the same batches. Target >= 0.7.
- ``sqlite_single_commit_ratio``: the same with one put per commit (``store.put``).
- ``sqlite_get_ratio``: ``store.get(key)`` per second over a raw ``SELECT`` of the
  newest row of the key, per second.
- ``sqlite_watch_p50_ms`` / ``_p99_ms``: time from starting ``store.put`` until the
  event arrives through ``store.watch(prefix)`` in the same process, one at a time.
  The first event of each watch is left out of these and reported as
  ``sqlite_watch_first_event_ms``, counted from opening the watch (``async with``).
- ``sqlite_asof_get_1m_vs_1k_ratio``: latency of ``get(key, revision=r)`` at random
  past revisions in a store holding ``sqlite_asof_big_revisions`` revisions (1M;
  200k with ``--quick``) over the same in a store holding 1k. Both stores keep about
  100 versions per key; the big one is bulk-loaded into the schema the store creates.
  Target <= 2.0.
- ``sqlite_deep_batch_commit_ratio``: as ``sqlite_batch_commit_ratio``, but the keys
  written already have about 100 versions each (the bulk-loaded as-of store; raw
  inserts into a copy of the same file), so a commit's cost in history depth shows.

etcd (one fresh server in a temp dir; raw: ``aetcd.Client`` to the same server, our
keys and the raw keys are the same names under two prefixes of equal length):

- ``etcd_commit_ratio``: sequential ``EtcdStore.put`` per second over sequential
  ``client.put`` per second. Target >= 0.8.
- ``etcd_get_ratio``: ``store.get`` per second over ``client.get`` per second.
- ``etcd_watch_p50_ratio``: median put-to-event latency through ``store.watch`` over
  the same through ``client.watch_prefix``; each sample starts the put and waits for
  its event before the next. Target <= 1.5. ``etcd_watch_p50_ms`` / ``_p99_ms`` are
  ours; ``etcd_raw_watch_p50_ms`` / ``_p99_ms`` the raw client's. As for SQLite, the
  first event of each watch is left out and reported as ``etcd_watch_first_event_ms``
  (and ``etcd_raw_watch_first_event_ms``), counted from starting to open the watch.

memory: ``memory_commits_per_s``, ``memory_batch_records_per_s`` and
``memory_gets_per_s``, for reference (there is no raw engine to compare with).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nucleusmem.errors import ConfigurationError
from nucleusmem.kv import MemoryStore, Put, Store, open_store

BACKENDS = ("memory", "sqlite", "etcd")
VALUE = random.Random(7).randbytes(100)
KEY_SPACE = 10_000
VERSIONS_PER_KEY = 100
SMALL_ASOF_REVISIONS = 1_000

Measure = Callable[[], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Plan:
    """How much work each measurement does; ``--quick`` shrinks everything."""

    quick: bool
    reps: int
    memory_ops: int
    sqlite_single_commits: int
    sqlite_batches: int
    batch_size: int
    sqlite_gets: int
    watch_samples: int
    asof_big_revisions: int
    asof_gets: int
    etcd_puts: int
    etcd_gets: int

    @classmethod
    def make(cls, *, quick: bool) -> Plan:
        """The quick plan (well under a minute) or the full one (a few minutes)."""
        scale = 1 if quick else 3
        return cls(
            quick=quick,
            reps=5 if quick else 9,
            memory_ops=5_000 * scale,
            sqlite_single_commits=150 * scale,
            sqlite_batches=20 * scale,
            batch_size=100,
            sqlite_gets=3_000 * scale,
            watch_samples=100 * scale,
            asof_big_revisions=200_000 if quick else 1_000_000,
            asof_gets=2_000 * scale,
            etcd_puts=300 * scale,
            etcd_gets=1_000 * scale,
        )


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: our number, the raw one, their ratio and its target."""

    metric: str
    unit: str
    ours: float | None
    raw: float | None = None
    ratio: float | None = None
    target: str = ""

    @property
    def verdict(self) -> str:
        """Whether the ratio meets its target: "ok", "MISS", or empty without a target."""
        if not self.target or self.ratio is None:
            return ""
        op, bound = self.target.split()
        good = self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)
        return "ok" if good else "MISS"


@dataclass(slots=True)
class Report:
    """Rows for the table and keys for the JSON line, per backend."""

    rows: dict[str, list[Row]]
    results: dict[str, Any]
    failed: bool = False
    """Whether a benchmark failed with an unexpected error (the exit status is 1)."""

    def add(self, backend: str, row: Row) -> None:
        """Append a row under ``backend``."""
        self.rows.setdefault(backend, []).append(row)


# -- measuring -----------------------------------------------------------------------


def key_of(prefix: bytes, i: int) -> bytes:
    """The ``i``-th key of the benchmark's key space under ``prefix``."""
    return b"%sk%06d" % (prefix, i % KEY_SPACE)


async def paired(reps: int, ours: Measure, raw: Measure) -> tuple[list[float], list[float]]:
    """Run both measurements ``reps`` times, alternating which goes first."""
    ours_runs: list[float] = []
    raw_runs: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            ours_runs.append(await ours())
            raw_runs.append(await raw())
        else:
            raw_runs.append(await raw())
            ours_runs.append(await ours())
    return ours_runs, raw_runs


async def repeated(reps: int, measure: Measure) -> list[float]:
    """Run one measurement ``reps`` times."""
    return [await measure() for _ in range(reps)]


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ratio_row(
    metric: str, unit: str, ours: list[float], raw: list[float], target: str = ""
) -> tuple[Row, float]:
    """A row comparing ``ours`` with ``raw``, and the ratio itself.

    The runs are paired (each ours ran next to its raw twin), so the ratio is the
    median of the pairs' ratios: noise that slows one pair slows both of its sides.
    """
    ratio = median([o / r for o, r in zip(ours, raw, strict=True)])
    return Row(metric, unit, median(ours), median(raw), ratio, target), ratio


@dataclass(frozen=True, slots=True)
class WatchRun:
    """Put-to-event latencies of one watch, in seconds.

    ``first`` counts from starting to open the watch until the first put's event
    arrives, so it includes setting the watch up; ``steady`` are the later samples,
    each from starting its put until its event arrives.
    """

    first: float
    steady: list[float]


async def store_watch_latencies(store: Store, prefix: bytes, samples: int) -> WatchRun:
    """Open ``store.watch(prefix)``, then put and await each event, one at a time."""
    latencies: list[float] = []
    opened = time.perf_counter()
    async with store.watch(prefix) as watch:
        for i in range(samples + 1):
            key = key_of(prefix, i)
            started = opened if i == 0 else time.perf_counter()
            put = asyncio.ensure_future(store.put(key, VALUE))
            event = await watch.next(timeout_s=10.0)
            latencies.append(time.perf_counter() - started)
            await put
            if event.key != key:
                raise AssertionError(f"watch delivered {event.key!r}, expected {key!r}")
    return WatchRun(latencies[0], latencies[1:])


# -- memory --------------------------------------------------------------------------


async def bench_memory(plan: Plan, report: Report) -> None:
    """Commits, batched commits and gets per second on `MemoryStore`, for reference."""
    prefix = b"bench/mem/"
    async with MemoryStore() as store:

        async def commits() -> float:
            started = time.perf_counter()
            for i in range(plan.memory_ops):
                await store.put(key_of(prefix, i), VALUE)
            return plan.memory_ops / (time.perf_counter() - started)

        async def batches() -> float:
            count = plan.memory_ops // plan.batch_size
            started = time.perf_counter()
            for b in range(count):
                base = b * plan.batch_size
                await store.commit(
                    [Put(key_of(prefix, base + j), VALUE) for j in range(plan.batch_size)]
                )
            return count * plan.batch_size / (time.perf_counter() - started)

        rng = random.Random(1)
        keys = [key_of(prefix, rng.randrange(KEY_SPACE)) for _ in range(plan.memory_ops)]

        async def gets() -> float:
            started = time.perf_counter()
            for key in keys:
                await store.get(key)
            return len(keys) / (time.perf_counter() - started)

        commit_rate = median(await repeated(plan.reps, commits))
        batch_rate = median(await repeated(plan.reps, batches))
        get_rate = median(await repeated(plan.reps, gets))
    report.add("memory", Row("single commits", "commits/s", commit_rate))
    report.add("memory", Row(f"batch commits ({plan.batch_size}/commit)", "records/s", batch_rate))
    report.add("memory", Row("gets", "gets/s", get_rate))
    report.results.update(
        memory_commits_per_s=commit_rate,
        memory_batch_records_per_s=batch_rate,
        memory_gets_per_s=get_rate,
    )


# -- sqlite --------------------------------------------------------------------------

RAW_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE revisions (revision INTEGER PRIMARY KEY, time REAL NOT NULL);
CREATE INDEX revisions_by_time ON revisions (time);
CREATE TABLE kv (
    key BLOB NOT NULL,
    revision INTEGER NOT NULL,
    value BLOB,
    lease INTEGER,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (key, revision)
) WITHOUT ROWID;
CREATE INDEX kv_by_revision ON kv (revision);
"""
RAW_GET = (
    "SELECT value, revision, create_revision, version, lease FROM kv "
    "WHERE key = ? ORDER BY revision DESC LIMIT 1"
)


class RawSQLite:
    """The raw engine: what a commit and a get cost in plain ``sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.executescript(RAW_SCHEMA)
        self.revision = 0

    def commit(self, keys: list[bytes]) -> None:
        """One transaction: a revisions row and one kv row per key."""
        self.revision += 1
        revision = self.revision
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO revisions VALUES (?, ?)", (revision, time.time()))
        conn.executemany(
            "INSERT INTO kv VALUES (?, ?, ?, NULL, ?, 1)",
            [(key, revision, VALUE, revision) for key in keys],
        )
        conn.execute("COMMIT")

    def get(self, key: bytes) -> tuple[Any, ...] | None:
        """The newest row of ``key``."""
        row: tuple[Any, ...] | None = self.conn.execute(RAW_GET, (key,)).fetchone()
        return row

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


async def bench_sqlite(plan: Plan, report: Report, workdir: Path) -> None:
    """Commits, gets and watch latency of `SQLiteStore` against raw ``sqlite3``."""
    prefix = b"bench/sql/"
    raw = RawSQLite(workdir / "raw.db")
    store = open_store(f"sqlite://{workdir / 'ours.db'}")
    try:
        await bench_sqlite_commits(plan, report, store, raw, prefix)
        await bench_sqlite_gets(plan, report, store, raw, prefix)
        await store_watch_latencies(store, b"bench/sqlwatch/", 20)  # warm-up
        runs = [
            await store_watch_latencies(store, b"bench/sqlwatch/", plan.watch_samples)
            for _ in range(plan.reps)
        ]
    finally:
        await store.aclose()
        raw.close()
    p50_ms = median([percentile(run.steady, 0.5) for run in runs]) * 1e3
    p99_ms = percentile([x for run in runs for x in run.steady], 0.99) * 1e3
    first_ms = median([run.first for run in runs]) * 1e3
    report.add("sqlite", Row("watch put->event p50", "ms", p50_ms))
    report.add("sqlite", Row("watch put->event p99", "ms", p99_ms))
    report.add("sqlite", Row("watch open+first event", "ms", first_ms))
    report.results.update(
        sqlite_watch_p50_ms=p50_ms, sqlite_watch_p99_ms=p99_ms, sqlite_watch_first_event_ms=first_ms
    )
    await bench_sqlite_asof(plan, report, workdir)


async def bench_sqlite_commits(
    plan: Plan, report: Report, store: Store, raw: RawSQLite, prefix: bytes
) -> None:
    """Single and batched commits per second, ours and raw.

    Both stores first get every key of the key space once (untimed), so every timed
    commit updates keys that exist, as quick and full runs alike.
    """
    everything = [key_of(prefix, i) for i in range(KEY_SPACE)]
    for start in range(0, KEY_SPACE, plan.batch_size):
        batch = everything[start : start + plan.batch_size]
        await store.commit([Put(key, VALUE) for key in batch])
        raw.commit(batch)
    cursor = {"ours": 0, "raw": 0}

    def next_keys(side: str, count: int) -> list[bytes]:
        start = cursor[side]
        cursor[side] = start + count
        return [key_of(prefix, start + j) for j in range(count)]

    async def ours_single() -> float:
        keys = next_keys("ours", plan.sqlite_single_commits)
        started = time.perf_counter()
        for key in keys:
            await store.put(key, VALUE)
        return len(keys) / (time.perf_counter() - started)

    async def raw_single() -> float:
        keys = next_keys("raw", plan.sqlite_single_commits)
        started = time.perf_counter()
        for key in keys:
            raw.commit([key])
        return len(keys) / (time.perf_counter() - started)

    async def ours_batch() -> float:
        batches = [next_keys("ours", plan.batch_size) for _ in range(plan.sqlite_batches)]
        started = time.perf_counter()
        for keys in batches:
            await store.commit([Put(key, VALUE) for key in keys])
        return plan.sqlite_batches * plan.batch_size / (time.perf_counter() - started)

    async def raw_batch() -> float:
        batches = [next_keys("raw", plan.batch_size) for _ in range(plan.sqlite_batches)]
        started = time.perf_counter()
        for keys in batches:
            raw.commit(keys)
        return plan.sqlite_batches * plan.batch_size / (time.perf_counter() - started)

    await paired(1, ours_single, raw_single)  # warm-up
    ours, theirs = await paired(plan.reps, ours_single, raw_single)
    row, single_ratio = ratio_row("single commits", "commits/s", ours, theirs)
    report.add("sqlite", row)
    report.results.update(
        sqlite_single_commit_ratio=single_ratio,
        sqlite_single_commits_per_s=median(ours),
        sqlite_raw_single_commits_per_s=median(theirs),
    )
    ours, theirs = await paired(plan.reps, ours_batch, raw_batch)
    metric = f"batch commits ({plan.batch_size}/commit)"
    row, batch_ratio = ratio_row(metric, "records/s", ours, theirs, ">= 0.7")
    report.add("sqlite", row)
    report.results.update(
        sqlite_batch_commit_ratio=batch_ratio,
        sqlite_batch_size=plan.batch_size,
        sqlite_batch_records_per_s=median(ours),
        sqlite_raw_batch_records_per_s=median(theirs),
    )


async def bench_sqlite_gets(
    plan: Plan, report: Report, store: Store, raw: RawSQLite, prefix: bytes
) -> None:
    """Gets of the newest version per second, ours and raw, on the same keys."""
    rng = random.Random(2)
    keys = [key_of(prefix, rng.randrange(KEY_SPACE)) for _ in range(plan.sqlite_gets)]

    async def ours() -> float:
        started = time.perf_counter()
        for key in keys:
            await store.get(key)
        return len(keys) / (time.perf_counter() - started)

    async def theirs() -> float:
        started = time.perf_counter()
        for key in keys:
            raw.get(key)
        return len(keys) / (time.perf_counter() - started)

    ours_runs, raw_runs = await paired(plan.reps, ours, theirs)
    row, ratio = ratio_row("gets", "gets/s", ours_runs, raw_runs)
    report.add("sqlite", row)
    report.results.update(
        sqlite_get_ratio=ratio,
        sqlite_gets_per_s=median(ours_runs),
        sqlite_raw_gets_per_s=median(raw_runs),
    )


@dataclass(frozen=True, slots=True)
class History:
    """A bulk-loaded store: its file, and which key was written at which revision."""

    path: Path
    revisions: int
    keys: list[bytes]
    created: list[int]
    """The revision that created each key (the first put of it)."""


async def load_history(path: Path, revisions: int, seed: int) -> History:
    """A SQLite store holding ``revisions`` puts, written straight into its tables.

    The store is opened once so that it creates its own schema; the rows then go in
    with plain ``executemany``: one ``kv_revisions`` row per revision with increasing
    times, one ``kv_history`` put per revision on a random key, with consistent
    ``create_revision`` and ``version``, about ``VERSIONS_PER_KEY`` versions per key.
    """
    await open_store(f"sqlite://{path}").aclose()
    key_count = max(10, revisions // VERSIONS_PER_KEY)
    keys = [b"bench/asof/k%07d" % i for i in range(key_count)]
    created = [0] * key_count
    versions = [0] * key_count
    rng = random.Random(seed)
    written = [rng.randrange(key_count) for _ in range(revisions)]
    first_time = time.time() - revisions * 0.001

    def history_rows() -> Iterator[tuple[bytes, int, bytes, int, int]]:
        for revision, k in enumerate(written, start=1):
            if not created[k]:
                created[k] = revision
            versions[k] += 1
            yield keys[k], revision, VALUE, created[k], versions[k]

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        expect_columns(conn, "kv_revisions", ["revision", "time"])
        expect_columns(
            conn,
            "kv_history",
            ["key", "revision", "value", "lease", "create_revision", "version"],
        )
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO kv_revisions (revision, time) VALUES (?, ?)",
            ((r, first_time + r * 0.001) for r in range(1, revisions + 1)),
        )
        conn.executemany(
            "INSERT INTO kv_history (key, revision, value, lease, create_revision, version)"
            " VALUES (?, ?, ?, NULL, ?, ?)",
            history_rows(),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return History(path, revisions, keys, created)


def expect_columns(conn: sqlite3.Connection, table: str, columns: list[str]) -> None:
    """Fail loudly if the store's schema is not the one this loader writes."""
    found = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    if found != columns:
        raise RuntimeError(f"{table} has columns {found}; the bench loads {columns}")


def asof_queries(history: History, count: int, seed: int) -> list[tuple[bytes, int]]:
    """Random (key, past revision) pairs where the key existed at that revision."""
    rng = random.Random(seed)
    queries: list[tuple[bytes, int]] = []
    while len(queries) < count:
        revision = rng.randint(1, history.revisions)
        k = rng.randrange(len(history.keys))
        if history.created[k] and history.created[k] <= revision:
            queries.append((history.keys[k], revision))
    return queries


async def bench_sqlite_asof(plan: Plan, report: Report, workdir: Path) -> None:
    """Latency of a read at a past revision, 1M (or 200k) revisions against 1k."""
    big = await load_history(workdir / "asof-big.db", plan.asof_big_revisions, seed=3)
    small = await load_history(workdir / "asof-small.db", SMALL_ASOF_REVISIONS, seed=4)
    shutil.copyfile(big.path, workdir / "deep-raw.db")  # for bench_sqlite_deep_commits
    big_store = open_store(f"sqlite://{big.path}")
    small_store = open_store(f"sqlite://{small.path}")
    try:

        def measure(store: Store, queries: list[tuple[bytes, int]]) -> Measure:
            async def run() -> float:
                started = time.perf_counter()
                for key, revision in queries:
                    if await store.get(key, revision=revision) is None:
                        raise AssertionError(f"{key!r} missing at revision {revision}")
                return (time.perf_counter() - started) / len(queries)

            return run

        big_run = measure(big_store, asof_queries(big, plan.asof_gets, seed=5))
        small_run = measure(small_store, asof_queries(small, plan.asof_gets, seed=6))
        await paired(1, big_run, small_run)  # warm-up: pages into the caches
        big_runs, small_runs = await paired(plan.reps, big_run, small_run)
    finally:
        await big_store.aclose()
        await small_store.aclose()
    big_us, small_us = median(big_runs) * 1e6, median(small_runs) * 1e6
    ratio = big_us / small_us
    label = f"{plan.asof_big_revisions // 1000}k" if plan.quick else "1M"
    report.add(
        "sqlite",
        Row(f"as-of get, {label} vs 1k revisions", "us/get", big_us, small_us, ratio, "<= 2.0"),
    )
    report.results.update(
        sqlite_asof_get_1m_vs_1k_ratio=ratio,
        sqlite_asof_big_revisions=plan.asof_big_revisions,
        sqlite_asof_small_revisions=SMALL_ASOF_REVISIONS,
        sqlite_asof_get_big_us=big_us,
        sqlite_asof_get_small_us=small_us,
    )
    await bench_sqlite_deep_commits(plan, report, big, workdir / "deep-raw.db")


async def bench_sqlite_deep_commits(
    plan: Plan, report: Report, history: History, raw_path: Path
) -> None:
    """Batched commits of existing keys that have deep histories, ours and raw.

    Ours commits into the bulk-loaded as-of store (about ``VERSIONS_PER_KEY`` versions
    per key); raw inserts the same batches with plain ``sqlite3`` into a copy of it.
    """
    rng = random.Random(9)
    batches = [
        rng.sample(history.keys, plan.batch_size) for _ in range(plan.sqlite_batches * plan.reps)
    ]
    store = open_store(f"sqlite://{history.path}")
    raw = sqlite3.connect(raw_path, isolation_level=None)
    raw.execute("PRAGMA synchronous = FULL")
    revision = history.revisions
    try:

        def ours() -> Measure:
            todo = iter(batches)

            async def run() -> float:
                mine = [next(todo) for _ in range(plan.sqlite_batches)]
                started = time.perf_counter()
                for keys in mine:
                    await store.commit([Put(key, VALUE) for key in keys])
                return plan.sqlite_batches * plan.batch_size / (time.perf_counter() - started)

            return run

        def theirs() -> Measure:
            todo = iter(batches)

            async def run() -> float:
                nonlocal revision
                mine = [next(todo) for _ in range(plan.sqlite_batches)]
                started = time.perf_counter()
                for keys in mine:
                    revision += 1
                    raw.execute("BEGIN IMMEDIATE")
                    raw.execute("INSERT INTO kv_revisions VALUES (?, ?)", (revision, time.time()))
                    raw.executemany(
                        "INSERT INTO kv_history VALUES (?, ?, ?, NULL, ?, 1)",
                        [(key, revision, VALUE, revision) for key in keys],
                    )
                    raw.execute("COMMIT")
                return plan.sqlite_batches * plan.batch_size / (time.perf_counter() - started)

            return run

        ours_runs, raw_runs = await paired(plan.reps, ours(), theirs())
    finally:
        await store.aclose()
        raw.close()
    metric = f"batch commits, {VERSIONS_PER_KEY} versions/key"
    row, ratio = ratio_row(metric, "records/s", ours_runs, raw_runs)
    report.add("sqlite", row)
    report.results.update(
        sqlite_deep_batch_commit_ratio=ratio,
        sqlite_deep_batch_records_per_s=median(ours_runs),
        sqlite_raw_deep_batch_records_per_s=median(raw_runs),
    )


# -- etcd ----------------------------------------------------------------------------

ETCD_KEYS = (
    "etcd_commit_ratio",
    "etcd_puts_per_s",
    "etcd_raw_puts_per_s",
    "etcd_get_ratio",
    "etcd_gets_per_s",
    "etcd_raw_gets_per_s",
    "etcd_watch_p50_ratio",
    "etcd_watch_p50_ms",
    "etcd_watch_p99_ms",
    "etcd_raw_watch_p50_ms",
    "etcd_raw_watch_p99_ms",
    "etcd_watch_first_event_ms",
    "etcd_raw_watch_first_event_ms",
)


async def raw_watch_latencies(client: Any, prefix: bytes, samples: int) -> WatchRun:
    """The same as `store_watch_latencies`, through aetcd's ``watch_prefix``."""
    latencies: list[float] = []
    opened = time.perf_counter()
    watch = await client.watch_prefix(prefix)
    events = aiter(watch)
    try:
        for i in range(samples + 1):
            key = key_of(prefix, i)
            started = opened if i == 0 else time.perf_counter()
            put = asyncio.ensure_future(client.put(key, VALUE))
            event = await asyncio.wait_for(anext(events), 10.0)
            latencies.append(time.perf_counter() - started)
            await put
            if event.kv.key != key:
                raise AssertionError(f"watch delivered {event.kv.key!r}, expected {key!r}")
    finally:
        await watch.cancel()
        await events.aclose()
    return WatchRun(latencies[0], latencies[1:])


async def bench_etcd(plan: Plan, report: Report) -> None:
    """Puts, gets and watch latency of `EtcdStore` against the raw aetcd client."""
    try:
        import aetcd

        from nucleusmem.testing.etcd import EtcdServer
    except ImportError as exc:
        raise EtcdUnavailable(f"cannot import the etcd pieces: {exc}") from exc
    server = EtcdServer()
    try:
        try:
            server.start()
        except Exception as exc:
            raise EtcdUnavailable(f"etcd did not start: {exc!r}") from exc
        host, port = server.endpoints[0]
        try:
            store = open_store(server.url)
        except (ImportError, ConfigurationError) as exc:
            raise EtcdUnavailable(f"cannot open the etcd store: {exc!r}") from exc
        client = aetcd.Client(host, port)
        try:
            await bench_etcd_with(plan, report, store, client)
        finally:
            await store.aclose()
            await client.close()
    finally:
        server.stop()


class EtcdUnavailable(Exception):
    """etcd could not be started or reached; the etcd keys are reported as null."""


async def bench_etcd_with(plan: Plan, report: Report, store: Store, client: Any) -> None:
    """The etcd measurements, given an open store and raw client to one server."""
    ours_prefix, raw_prefix = b"bench/ours/", b"bench/raw_/"

    def puts(put: Callable[[bytes, bytes], Awaitable[Any]], prefix: bytes, n: int) -> Measure:
        async def run() -> float:
            started = time.perf_counter()
            for i in range(n):
                await put(key_of(prefix, i), VALUE)
            return n / (time.perf_counter() - started)

        return run

    def gets(get: Callable[[bytes], Awaitable[Any]], prefix: bytes, n: int) -> Measure:
        rng = random.Random(8)
        keys = [key_of(prefix, rng.randrange(plan.etcd_puts)) for _ in range(n)]

        async def run() -> float:
            started = time.perf_counter()
            for key in keys:
                if await get(key) is None:
                    raise AssertionError(f"{key!r} missing")
            return len(keys) / (time.perf_counter() - started)

        return run

    await paired(1, puts(store.put, ours_prefix, 50), puts(client.put, raw_prefix, 50))
    ours, raw = await paired(
        plan.reps,
        puts(store.put, ours_prefix, plan.etcd_puts),
        puts(client.put, raw_prefix, plan.etcd_puts),
    )
    row, put_ratio = ratio_row("sequential puts", "puts/s", ours, raw, ">= 0.8")
    report.add("etcd", row)
    report.results.update(
        etcd_commit_ratio=put_ratio, etcd_puts_per_s=median(ours), etcd_raw_puts_per_s=median(raw)
    )

    ours, raw = await paired(
        plan.reps,
        gets(store.get, ours_prefix, plan.etcd_gets),
        gets(client.get, raw_prefix, plan.etcd_gets),
    )
    row, get_ratio = ratio_row("gets", "gets/s", ours, raw)
    report.add("etcd", row)
    report.results.update(
        etcd_get_ratio=get_ratio, etcd_gets_per_s=median(ours), etcd_raw_gets_per_s=median(raw)
    )

    ours_runs: list[WatchRun] = []
    raw_runs: list[WatchRun] = []

    async def ours_watch() -> float:
        run = await store_watch_latencies(store, b"bench/watch/ours/", plan.watch_samples)
        ours_runs.append(run)
        return percentile(run.steady, 0.5) * 1e3

    async def raw_watch() -> float:
        run = await raw_watch_latencies(client, b"bench/watch/raw_/", plan.watch_samples)
        raw_runs.append(run)
        return percentile(run.steady, 0.5) * 1e3

    await store_watch_latencies(store, b"bench/watch/ours/", 20)  # warm-up
    await raw_watch_latencies(client, b"bench/watch/raw_/", 20)
    ours_ms, raw_ms = await paired(plan.reps, ours_watch, raw_watch)
    row, watch_ratio = ratio_row("watch put->event p50", "ms", ours_ms, raw_ms, "<= 1.5")
    report.add("etcd", row)
    p99_ms = percentile([x for run in ours_runs for x in run.steady], 0.99) * 1e3
    raw_p99_ms = percentile([x for run in raw_runs for x in run.steady], 0.99) * 1e3
    report.add("etcd", Row("watch put->event p99", "ms", p99_ms, raw_p99_ms, p99_ms / raw_p99_ms))
    first_ms = median([run.first for run in ours_runs]) * 1e3
    raw_first_ms = median([run.first for run in raw_runs]) * 1e3
    report.add(
        "etcd",
        Row("watch open+first event", "ms", first_ms, raw_first_ms, first_ms / raw_first_ms),
    )
    report.results.update(
        etcd_watch_p50_ratio=watch_ratio,
        etcd_watch_p50_ms=median(ours_ms),
        etcd_watch_p99_ms=p99_ms,
        etcd_raw_watch_p50_ms=median(raw_ms),
        etcd_raw_watch_p99_ms=raw_p99_ms,
        etcd_watch_first_event_ms=first_ms,
        etcd_raw_watch_first_event_ms=raw_first_ms,
    )


# -- driver --------------------------------------------------------------------------

NULL_KEYS = {
    "memory": ("memory_commits_per_s", "memory_batch_records_per_s", "memory_gets_per_s"),
    "sqlite": (
        "sqlite_single_commit_ratio",
        "sqlite_single_commits_per_s",
        "sqlite_raw_single_commits_per_s",
        "sqlite_batch_commit_ratio",
        "sqlite_batch_size",
        "sqlite_batch_records_per_s",
        "sqlite_raw_batch_records_per_s",
        "sqlite_get_ratio",
        "sqlite_gets_per_s",
        "sqlite_raw_gets_per_s",
        "sqlite_watch_p50_ms",
        "sqlite_watch_p99_ms",
        "sqlite_watch_first_event_ms",
        "sqlite_asof_get_1m_vs_1k_ratio",
        "sqlite_asof_big_revisions",
        "sqlite_asof_small_revisions",
        "sqlite_asof_get_big_us",
        "sqlite_asof_get_small_us",
        "sqlite_deep_batch_commit_ratio",
        "sqlite_deep_batch_records_per_s",
        "sqlite_raw_deep_batch_records_per_s",
    ),
    "etcd": ETCD_KEYS,
}


async def run(plan: Plan, backends: list[str]) -> Report:
    """Run the selected backends' benchmarks; an etcd failure nulls only the etcd keys."""
    report = Report({}, {"quick": plan.quick, "reps": plan.reps, "backends": backends})
    for backend in BACKENDS:
        report.results.update(dict.fromkeys(NULL_KEYS[backend]))
    report.results["etcd_error"] = None
    with tempfile.TemporaryDirectory(prefix="nm-kv-bench-") as tmp:
        if "memory" in backends:
            await bench_memory(plan, report)
        if "sqlite" in backends:
            await bench_sqlite(plan, report, Path(tmp))
        if "etcd" in backends:
            try:
                await bench_etcd(plan, report)
            except Exception as exc:
                unavailable = isinstance(exc, EtcdUnavailable)
                if unavailable:
                    print(f"etcd skipped: {exc}")
                else:
                    traceback.print_exc()
                    print(f"etcd benchmark failed: {exc!r}")
                    report.failed = True
                report.results["etcd_error"] = str(exc)
                report.results.update(dict.fromkeys(ETCD_KEYS))
                first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                state = "unavailable" if unavailable else "FAILED"
                report.rows["etcd"] = [Row(f"{state}: {first_line}", "", None)]
    return report


def render(report: Report) -> str:
    """The results as a plain-text table, one section per backend."""
    lines = [
        f"{'backend':<8} {'metric':<34} {'unit':<10} {'ours':>12} {'raw':>12} {'ratio':>7}  target",
        "-" * 98,
    ]
    for backend, rows in report.rows.items():
        for row in rows:
            if row.ours is None and row.raw is None:
                lines.append(f"{backend:<8} {row.metric}")
                continue
            target = f"{row.target} {row.verdict}".strip()
            lines.append(
                f"{backend:<8} {row.metric:<34} {row.unit:<10} {fmt(row.ours):>12}"
                f" {fmt(row.raw):>12} {fmt(row.ratio, ratio=True):>7}  {target}"
            )
    return "\n".join(lines)


def fmt(value: float | None, *, ratio: bool = False) -> str:
    """A number for the table: ratios to 2 places, rates without decimals."""
    if value is None:
        return "-"
    if ratio:
        return f"{value:.2f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated subset of memory,sqlite,etcd (default: all)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write cProfile stats of the whole run to FILE"
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    plan = Plan.make(quick=args.quick)
    started = time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        report = asyncio.run(run(plan, backends))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    report.results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if plan.quick:
        print(f"quick run: as-of store holds {plan.asof_big_revisions:,} revisions, not 1M")
    print(render(report))
    print(json.dumps(report.results))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
