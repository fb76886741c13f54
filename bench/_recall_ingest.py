"""Ingest for the recall benchmark: memories written and indexed, against raw KV commits.

Both sides write the same records, in batches of ``batch`` (one transaction each), to a
fresh SQLite file, or with ``url`` to a fresh space of that store:

- **raw**: `Store.commit` of the records' encoded values under their keys: what the
  KV engine alone does for the same bytes;
- **ours**: `Session.write` of the records into a space whose search index is open,
  until the index has every record searchable (`SpaceIndex.indexed_revision`). The
  embedder looks the precomputed vectors up, so embedding time is left out on both
  sides (it is the model's cost, not ours);
- **written**: the same `Session.write` calls with no index open: what the write path
  alone costs, so the report can tell writing from indexing.

Rounds alternate raw, ours and written on fresh files (or spaces); the result is the
median of each.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nucleusmem.kv import Put, open_store
from nucleusmem.recall._service import RecallService
from nucleusmem.space import DataRegion, MemSpaceService, RecordWrite
from nucleusmem.space._codec import encode_record
from nucleusmem.space._keys import K

__all__ = ["IngestResult", "LookupEmbedder", "measure_ingest"]

_WARM_UP = "a first search opens the index"


class LookupEmbedder:
    """An embedder that returns precomputed vectors (by text) instead of computing them."""

    def __init__(self, vectors: Mapping[str, npt.NDArray[np.float32]], dimensions: int) -> None:
        self.name = "precomputed"
        self._vectors = vectors
        self._dimensions = dimensions
        self.misses = 0

    @property
    def dimensions(self) -> int:
        """Vector length."""
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The stored vector of each text (a zero row for a text never seen)."""
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
            else:
                out[i] = vector
        return out


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Records per second (medians over rounds) for each side, and their ratio."""

    raw_per_s: float
    ours_per_s: float
    written_per_s: float
    rounds: int

    @property
    def ratio(self) -> float:
        """Ours over raw: 1.0 would be writing and indexing at the KV engine's speed."""
        return self.ours_per_s / self.raw_per_s

    @property
    def written_ratio(self) -> float:
        """Written (no index) over raw: what the write path alone leaves of the KV's speed."""
        return self.written_per_s / self.raw_per_s


def measure_ingest(
    texts: Sequence[str],
    vectors: npt.NDArray[np.float32],
    *,
    batch: int = 100,
    rounds: int = 3,
    url: str | None = None,
) -> IngestResult:
    """Write ``texts`` (with ``vectors``) both ways, ``rounds`` times; see the module doc."""
    return asyncio.run(_measure(texts, vectors, batch, rounds, url))


async def _measure(
    texts: Sequence[str],
    vectors: npt.NDArray[np.float32],
    batch: int,
    rounds: int,
    url: str | None,
) -> IngestResult:
    writes = [RecordWrite(key=f"m/{i:07d}", content=text) for i, text in enumerate(texts)]
    batches = [writes[i : i + batch] for i in range(0, len(writes), batch)]
    lookup = dict(zip(texts, vectors, strict=True))
    lookup[_WARM_UP] = np.zeros(vectors.shape[1], dtype=np.float32)
    raw: list[float] = []
    ours: list[float] = []
    written: list[float] = []
    with tempfile.TemporaryDirectory(prefix="recall-ingest-") as tmp:
        for n in range(rounds):
            raw_url = url or f"sqlite://{Path(tmp) / f'raw-{n}.db'}"
            raw.append(len(writes) / await _raw(raw_url, f"raw-{n}", batches))
            embedder = LookupEmbedder(lookup, vectors.shape[1])
            ours_url = url or f"sqlite://{Path(tmp) / f'ours-{n}.db'}"
            seconds = await _ours(ours_url, f"ours-{n}", batches, embedder)
            if embedder.misses:
                raise RuntimeError(f"{embedder.misses} texts had no precomputed vector")
            ours.append(len(writes) / seconds)
            written_url = url or f"sqlite://{Path(tmp) / f'written-{n}.db'}"
            written.append(len(writes) / await _written(written_url, f"written-{n}", batches))
    median = statistics.median
    return IngestResult(median(raw), median(ours), median(written), rounds)


async def _raw(url: str, space: str, batches: list[list[RecordWrite]]) -> float:
    async with open_store(url) as store:
        now = time.time()
        prefix = K.data(space, DataRegion.MEMORY)
        encoded = [
            [Put(prefix + w.key.encode(), encode_record(w, now)) for w in chunk]
            for chunk in batches
        ]
        started = time.perf_counter()
        for puts in encoded:
            await store.commit(puts)
        return time.perf_counter() - started


async def _written(url: str, space: str, batches: list[list[RecordWrite]]) -> float:
    async with (
        open_store(url) as store,
        MemSpaceService(store, retention_interval_s=None) as service,
    ):
        session = service.session("bench")
        await session.create_space(space)
        started = time.perf_counter()
        for chunk in batches:
            await session.write(space, chunk, region=DataRegion.MEMORY)
        return time.perf_counter() - started


async def _ours(
    url: str, space: str, batches: list[list[RecordWrite]], embedder: LookupEmbedder
) -> float:
    async with (
        open_store(url) as store,
        MemSpaceService(store, retention_interval_s=None) as service,
    ):
        recall = RecallService(service, embedder=embedder)
        session = service.session("bench")
        await session.create_space(space)
        await recall.search("bench", space, _WARM_UP)  # opens the index, empty
        index = await recall._index(space)
        started = time.perf_counter()
        last = 0
        for chunk in batches:
            last = (await session.write(space, chunk, region=DataRegion.MEMORY))[-1].revision
        await index.wait_for(last, timeout_s=600)
        seconds = time.perf_counter() - started
        indexed = index.indexed
        await recall.aclose()
    expected = sum(len(chunk) for chunk in batches)
    if indexed != expected:
        raise RuntimeError(f"the index holds {indexed} records, {expected} were written")
    return seconds
