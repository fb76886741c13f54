"""Where ingest time goes: each step of writing and indexing a memory, per record.

Usage: ``python bench/ingest_budget.py [--items 10000] [--rounds 5]``.

On the recall benchmark's corpus (30-word documents with precomputed vectors), in
batches of 100 on fresh SQLite files, it times, per record:

- ``raw_us``: `Store.commit` of the encoded records (what ``ingest_vs_kv_ratio``
  divides by);
- ``written_us``: `Session.write` of the records, no index open;
- ``watched_us``: the same writes while a watch on the space drains every event, so
  ``watched_us - written_us`` is what delivering a change to the index costs;
- ``apply_us``: `SpaceIndex._apply` of the stored changes (batches of 256, as the
  watch hands them over), lexical and vector indexing included, embedding looked up;
- ``lexical_us`` and ``vector_us``: `LexicalIndex.add_many` and `VectorIndex.add` of
  the same batches on their own.

Each step is the median over rounds. The last line is one JSON object with these, the
rest of apply (``apply_us`` less lexical and vector), and ``budget_ratio``: raw over
written + delivery + apply, what ``ingest_vs_kv_ratio`` would be if the steps simply
added up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from _recall_ingest import LookupEmbedder, _raw, _written
from nucleusmem.kv import open_store
from nucleusmem.recall._lexical import LexicalIndex
from nucleusmem.recall._space_index import SpaceIndex
from nucleusmem.recall._vector import VectorIndex
from nucleusmem.space import DataRegion, MemSpaceService, RecordWrite
from nucleusmem.space._codec import encode_record
from nucleusmem.space._keys import K
from recall_bench import make_corpus

_WRITE_BATCH = 100
_INDEX_BATCH = 256


def main() -> None:
    """Parse the arguments, run every step, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    corpus = make_corpus(args.items, 1)
    texts, vectors = corpus.documents, corpus.vectors
    writes = [RecordWrite(key=f"m/{i:07d}", content=text) for i, text in enumerate(texts)]
    batches = [writes[i : i + _WRITE_BATCH] for i in range(0, len(writes), _WRITE_BATCH)]
    changes = [
        (DataRegion.MEMORY, w.key, encode_record(w, time.time()), i + 1)
        for i, w in enumerate(writes)
    ]
    lookup = LookupEmbedder(dict(zip(texts, vectors, strict=True)), vectors.shape[1])
    n = len(writes)

    def per_record(step: Callable[[str], Awaitable[float]]) -> float:
        async def rounds() -> list[float]:
            seconds = []
            with tempfile.TemporaryDirectory(prefix="ingest-budget-") as tmp:
                for r in range(args.rounds):
                    seconds.append(await step(f"sqlite://{Path(tmp) / f'{r}.db'}"))
            return seconds

        return statistics.median(asyncio.run(rounds())) / n * 1e6

    async def raw(url: str) -> float:
        return await _raw(url, "budget", batches)

    async def written(url: str) -> float:
        return await _written(url, "budget", batches)

    async def watched(url: str) -> float:
        return await _watched(url, batches)

    async def apply(url: str) -> float:
        index = SpaceIndex(None, "budget", lookup)  # type: ignore[arg-type]  # no store read
        started = time.perf_counter()
        for i in range(0, n, _INDEX_BATCH):
            await index._apply(changes[i : i + _INDEX_BATCH])
        return time.perf_counter() - started

    async def lexical(url: str) -> float:
        index = LexicalIndex()
        started = time.perf_counter()
        for i in range(0, n, _INDEX_BATCH):
            index.add_many(range(i, min(i + _INDEX_BATCH, n)), texts[i : i + _INDEX_BATCH])
        return time.perf_counter() - started

    async def vector(url: str) -> float:
        index = VectorIndex(vectors.shape[1])
        started = time.perf_counter()
        for i in range(0, n, _INDEX_BATCH):
            index.add(np.arange(i, min(i + _INDEX_BATCH, n)), vectors[i : i + _INDEX_BATCH])
        return time.perf_counter() - started

    steps = {"raw": raw, "written": written, "watched": watched}
    steps |= {"apply": apply, "lexical": lexical, "vector": vector}
    found = {f"{name}_us": per_record(step) for name, step in steps.items()}
    found["delivery_us"] = found["watched_us"] - found["written_us"]
    found["apply_rest_us"] = found["apply_us"] - found["lexical_us"] - found["vector_us"]
    spent = found["written_us"] + found["delivery_us"] + found["apply_us"]
    found["budget_ratio"] = found["raw_us"] / spent
    for name, value in found.items():
        print(f"{name:16s} {value:8.2f}")
    print(json.dumps({"items": n, "rounds": args.rounds, **found}))


async def _watched(url: str, batches: list[list[RecordWrite]]) -> float:
    """Seconds to write ``batches`` while a watch on the space takes every event."""
    expected = sum(len(chunk) for chunk in batches)
    async with (
        open_store(url) as store,
        MemSpaceService(store, retention_interval_s=None) as service,
    ):
        session = service.session("bench")
        await session.create_space("budget")
        watch = store.watch(K.data("budget"), start_revision=await store.revision() + 1)
        async with watch:
            started = time.perf_counter()
            for chunk in batches:
                await session.write("budget", chunk, region=DataRegion.MEMORY)
            seen = 0
            while seen < expected:
                taken = [await watch.next_change(), *watch.ready_changes(1_000)]
                seen += sum(1 for change in taken if hasattr(change, "key"))
            return time.perf_counter() - started


if __name__ == "__main__":
    main()
