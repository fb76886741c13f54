"""`SpaceIndex`: the search index of one space, derived from the KV and kept fresh.

It starts from the space's records at one revision, then follows a KV watch from the
next, so it never misses a write and never needs a write path of its own. Records
pass the `IndexPolicy`; content is chunked; chunks are embedded in batches on a
worker thread, off the event loop and off every request path.

Every indexed chunk remembers the revisions it was current for (``born``, ``died``),
so a search ``at`` an old revision sees the space as it was then: an update or a
delete ends a chunk's life instead of erasing it.

Lanes: a record's ``agent`` and ``thread`` fields, and its metadata ``resource``
and ``private``, place it in lanes. A search for agent A in thread T looks in T's
lane, then the resource's, then A's, then the whole space; records marked private
show only in their own agent's searches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from nucleusmem.kv import EventType, KeyValue, Store
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._fusion import rrf
from nucleusmem.recall._lexical import LexicalIndex
from nucleusmem.recall._policy import IndexPolicy, chunk_text
from nucleusmem.recall._vector import VectorIndex
from nucleusmem.space._keys import K
from nucleusmem.space._models import DataRegion

__all__ = ["Hit", "SearchMode", "SpaceIndex"]

_log = logging.getLogger(__name__)
_ALIVE = sys.maxsize
SearchMode = str
"""``hybrid`` (vector and lexical, fused), ``vector`` or ``lexical``."""
_MODES = ("hybrid", "vector", "lexical")
LANES = ("thread", "resource", "agent", "space")
_NEAR_DUPLICATE_BATCH = 64
_COLUMNS = ("_born", "_died", "_agent", "_thread", "_resource", "_private", "_vectors")


class Hit(BaseModel):
    """A search result: which record, how well it matched, and in which lane.

    ``lane`` is ``thread``, ``resource``, ``agent`` or ``space``: the narrowest scope
    the record was found in. ``text`` is the matching chunk of its content.
    """

    key: str
    region: DataRegion
    score: float
    revision: int
    lane: str
    chunk: int
    text: str


@dataclass(slots=True)
class _Chunk:
    key: str
    region: DataRegion
    index: int
    text: str
    revision: int


class SpaceIndex:
    """Vector + lexical index of ``space``'s records in ``regions``, kept fresh by watch."""

    def __init__(
        self,
        store: Store,
        space: str,
        embedder: Embedder,
        *,
        policy: IndexPolicy | None = None,
        regions: Sequence[DataRegion] = (DataRegion.MEMORY, DataRegion.SUMMARY),
        batch_size: int = 256,
        snapshot: Path | None = None,
        save_every_s: float = 30.0,
    ) -> None:
        self.store = store
        self.space = space
        self.embedder = embedder
        self.policy = policy or IndexPolicy()
        self.regions = tuple(regions)
        self.batch_size = batch_size
        self.snapshot = snapshot
        """Where the index is saved, so a restart resumes instead of re-embedding."""
        self.resumed_from: int | None = None
        """The revision a snapshot brought the index to at start (None: built afresh)."""
        self._save_every_s = save_every_s
        self._saved_revision = 0
        self._saved_at = time.monotonic()
        self.indexed_revision = 0
        """Every write up to this revision is reflected in searches."""
        self.skipped: Counter[str] = Counter()
        """Records not indexed, by reason (they stay stored and readable)."""
        self.indexed = 0
        """Records indexed (chunks are counted once per record)."""
        self._vector = VectorIndex(embedder.dimensions)
        self._lexical = LexicalIndex()
        self._chunks: list[_Chunk] = []
        # per chunk, by chunk id; capacity doubles as chunks are added
        self._born = np.zeros(1024, dtype=np.int64)
        self._died = np.zeros(1024, dtype=np.int64)
        self._agent = np.zeros(1024, dtype=np.int32)
        self._thread = np.zeros(1024, dtype=np.int32)
        self._resource = np.zeros(1024, dtype=np.int32)
        self._private = np.zeros(1024, dtype=bool)
        self._vectors = np.zeros((1024, embedder.dimensions), dtype=np.float32)
        self._names: dict[str | None, int] = {None: 0}
        self._current: dict[tuple[DataRegion, str], list[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Index the space as it is now, then follow it; returns when caught up.

        With a usable snapshot (same embedder, not below the compaction floor) the
        index resumes from the revision it had reached, embedding only what changed.
        """
        head = await self.store.revision()
        if self.snapshot is not None and self.snapshot.exists():
            revision = await asyncio.to_thread(self._load, self.snapshot)
            if revision is not None and await self.store.compaction_floor() <= revision <= head:
                self.resumed_from = revision
                self._saved_revision = revision
                await self._advance(revision)
                self._task = asyncio.get_running_loop().create_task(self._follow(revision + 1))
                await self.wait_for(head, timeout_s=600.0)
                return
            self._reset()
        revision = head
        changes: list[tuple[DataRegion, str, KeyValue | None, int]] = []
        for region in self.regions:
            prefix = K.data(self.space, region)
            after: bytes | None = None
            while True:
                page = await self.store.range(prefix, revision=revision, after=after, limit=1000)
                for kv in page.items:
                    changes.append((region, kv.key[len(prefix) :].decode(), kv, kv.revision))
                if not page.more:
                    break
                after = page.items[-1].key
        for i in range(0, len(changes), self.batch_size):
            await self._apply(changes[i : i + self.batch_size])
        await self._advance(revision)
        self._task = asyncio.get_running_loop().create_task(self._follow(revision + 1))

    async def aclose(self) -> None:
        """Stop following the space, saving a snapshot first if it has one."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.save()

    async def save(self) -> None:
        """Write the snapshot (if the index has one and moved since the last save)."""
        if self.snapshot is None or self.indexed_revision <= self._saved_revision:
            return
        state = self._state()
        await asyncio.to_thread(_write_snapshot, self.snapshot, state)
        self._saved_revision = int(state["revision"])
        self._saved_at = time.monotonic()

    async def wait_for(self, revision: int, timeout_s: float = 10.0) -> None:
        """Return once writes up to ``revision`` are searchable (`TimeoutError` if not)."""
        async with asyncio.timeout(timeout_s), self._progress:
            await self._progress.wait_for(lambda: self.indexed_revision >= revision)

    async def _follow(self, start: int) -> None:
        prefixes = {K.data(self.space, r): r for r in self.regions}
        async with self.store.watch(K.data(self.space), start_revision=start) as watch:
            while True:
                batch = [await watch.next()]
                while len(batch) < self.batch_size:  # take what is already queued
                    try:
                        batch.append(await watch.next(timeout_s=0.005))
                    except TimeoutError:
                        break
                changes = []
                for event in batch:
                    for prefix, region in prefixes.items():
                        if event.key.startswith(prefix):
                            key = event.key[len(prefix) :].decode()
                            kv = (
                                KeyValue(event.key, event.value, event.revision, 0, 0)
                                if event.type is EventType.PUT
                                else None
                            )
                            changes.append((region, key, kv, event.revision))
                try:
                    await self._apply(changes)
                except Exception:  # an embedder failure must not stop the index for good
                    _log.exception("indexing %s failed; those records stay unindexed", self.space)
                await self._advance(batch[-1].revision)
                if time.monotonic() - self._saved_at >= self._save_every_s:
                    await self.save()

    async def _advance(self, revision: int) -> None:
        async with self._progress:
            self.indexed_revision = max(self.indexed_revision, revision)
            self._progress.notify_all()

    # -- indexing ----------------------------------------------------------------------
    async def _apply(self, changes: Sequence[tuple[DataRegion, str, KeyValue | None, int]]) -> None:
        texts: list[str] = []
        pending: list[tuple[_Chunk, dict[str, Any]]] = []
        for region, key, kv, revision in changes:
            self._retire(region, key, revision)
            if kv is None:
                continue
            value = json.loads(kv.value)
            content: str = value.get("c", "")
            reason = self.policy.skip_reason(content)
            if reason is not None:
                self.skipped[reason] += 1
                continue
            self.indexed += 1
            for n, piece in enumerate(chunk_text(content)):
                pending.append((_Chunk(key, region, n, piece, revision), value))
                texts.append(piece)
        if not texts:
            return
        vectors = await asyncio.to_thread(self.embedder.embed, texts)
        keep = self._not_near_duplicates(vectors, [v for _, v in pending])
        for (chunk, value), vector, kept in zip(pending, vectors, keep, strict=True):
            if kept:
                self._add(chunk, value, vector)
            else:
                self.skipped["near_duplicate"] += 1

    def _not_near_duplicates(
        self, vectors: npt.NDArray[np.float32], values: list[dict[str, Any]]
    ) -> list[bool]:
        threshold = self.policy.near_duplicate_cosine
        if threshold is None or len(vectors) > _NEAR_DUPLICATE_BATCH:
            return [True] * len(vectors)  # bulk loads (start, catch-up) skip the check
        keep: list[bool] = []
        kept: list[tuple[npt.NDArray[np.float32], object, object]] = []  # this batch's
        for vector, value in zip(vectors, values, strict=True):
            agent, thread = value.get("a"), value.get("t")
            twins = [float(v @ vector) for v, a, t in kept if a == agent and t == thread]
            if self._chunks and not (twins and max(twins) >= threshold):
                lane = self._lane_filter(agent, thread, None, None, "thread")
                best = self._vector.search(vector, 1, allow=lane)
                twins += [best[0][1]] if best else []
            duplicate = bool(twins) and max(twins) >= threshold
            keep.append(not duplicate)
            if not duplicate:
                kept.append((vector, agent, thread))
        return keep

    def _add(self, chunk: _Chunk, value: dict[str, Any], vector: npt.NDArray[np.float32]) -> None:
        doc = len(self._chunks)
        self._chunks.append(chunk)
        if doc == len(self._born):
            for name in _COLUMNS:
                column = getattr(self, name)
                setattr(self, name, np.concatenate([column, np.zeros_like(column)]))
        metadata = value.get("m") or {}
        if not isinstance(metadata, dict):
            metadata = {}
        self._born[doc] = chunk.revision
        self._died[doc] = _ALIVE
        self._agent[doc] = self._code(value.get("a"))
        self._thread[doc] = self._code(value.get("t"))
        self._resource[doc] = self._code(_str_or_none(metadata.get("resource")))
        self._private[doc] = bool(metadata.get("private"))
        self._vectors[doc] = vector
        self._vector.add([doc], vector[None, :])
        self._lexical.add(doc, chunk.text)
        self._current.setdefault((chunk.region, chunk.key), []).append(doc)

    def _retire(self, region: DataRegion, key: str, revision: int) -> None:
        for doc in self._current.pop((region, key), []):
            self._died[doc] = revision

    def _code(self, name: str | None) -> int:
        code = self._names.get(name)
        if code is None:
            code = self._names[name] = len(self._names)
        return code

    # -- snapshots ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        n = len(self._chunks)
        meta = {
            "embedder": self.embedder.name,
            "names": [name for name in self._names if name is not None],
            "chunks": [[c.key, c.region.value, c.index, c.text, c.revision] for c in self._chunks],
            "skipped": dict(self.skipped),
            "indexed": self.indexed,
        }
        state: dict[str, Any] = {name: getattr(self, name)[:n].copy() for name in _COLUMNS}
        state["revision"] = np.int64(self.indexed_revision)
        state["meta"] = np.array(json.dumps(meta))
        return state

    def _load(self, path: Path) -> int | None:
        """Take the index from ``path``; its revision, or None if it does not fit."""
        try:
            with np.load(path) as data:
                meta = json.loads(str(data["meta"]))
                if meta["embedder"] != self.embedder.name:
                    return None
                columns = {name: data[name] for name in _COLUMNS}
                revision = int(data["revision"])
        except (OSError, ValueError, KeyError) as exc:
            _log.warning("ignoring the index snapshot %s: %s", path, exc)
            return None
        n = len(meta["chunks"])
        if columns["_vectors"].shape != (n, self.embedder.dimensions):
            return None
        self._names = {None: 0} | {name: i + 1 for i, name in enumerate(meta["names"])}
        for name, column in columns.items():
            setattr(self, name, np.concatenate([column, np.zeros_like(column[:1024])]))
        self._chunks = [
            _Chunk(key, DataRegion(region), index, text, rev)
            for key, region, index, text, rev in meta["chunks"]
        ]
        self._current = {}
        for doc, chunk in enumerate(self._chunks):
            if self._died[doc] == _ALIVE:
                self._current.setdefault((chunk.region, chunk.key), []).append(doc)
            self._lexical.add(doc, chunk.text)
        if n:
            self._vector.add(list(range(n)), self._vectors[:n])
        self.skipped = Counter(meta["skipped"])
        self.indexed = int(meta["indexed"])
        return revision

    def _reset(self) -> None:
        fresh = SpaceIndex(self.store, self.space, self.embedder, policy=self.policy)
        for name in (*_COLUMNS, "_vector", "_lexical", "_chunks", "_names", "_current"):
            setattr(self, name, getattr(fresh, name))
        self.skipped, self.indexed = Counter(), 0

    # -- search ------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        agent: str | None = None,
        thread: str | None = None,
        resource: str | None = None,
        at: int | None = None,
    ) -> list[Hit]:
        """The ``k`` best records for ``query``, lane by lane (see the module docstring).

        ``at`` searches the space as it was at that revision. Each record appears once
        (its best chunk), tagged with the narrowest lane it was found in.
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}")
        vector = self.embedder.embed([query])[0] if mode != "lexical" else None
        hits: list[Hit] = []
        seen: set[tuple[DataRegion, str]] = set()
        for lane in LANES:
            if lane == "thread" and thread is None:
                continue
            if lane == "resource" and resource is None:
                continue
            if lane == "agent" and agent is None:
                continue
            allow = self._lane_filter(agent, thread, resource, at, lane)
            for doc, score in self._rank(query, vector, mode, allow, k * 3):
                chunk = self._chunks[doc]
                if (chunk.region, chunk.key) in seen:
                    continue
                seen.add((chunk.region, chunk.key))
                hits.append(
                    Hit.model_construct(
                        key=chunk.key,
                        region=chunk.region,
                        score=score,
                        revision=chunk.revision,
                        lane=lane,
                        chunk=chunk.index,
                        text=chunk.text,
                    )
                )
                if len(hits) == k:
                    return hits
        return hits

    def _rank(
        self,
        query: str,
        vector: npt.NDArray[np.float32] | None,
        mode: SearchMode,
        allow: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]],
        depth: int,
    ) -> list[tuple[int, float]]:
        if mode == "lexical":
            return self._lexical.search(query, depth, allow=allow)
        assert vector is not None
        by_vector = self._vector.search(vector, depth, allow=allow)
        if mode == "vector":
            return by_vector
        by_words = self._lexical.search(query, depth, allow=allow)
        return rrf([by_vector, by_words], limit=depth)

    def _lane_filter(
        self,
        agent: str | None,
        thread: str | None,
        resource: str | None,
        at: int | None,
        lane: str,
    ) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]:
        me = self._names.get(agent, -1) if agent is not None else -1
        wanted = {
            "thread": (self._thread, self._names.get(thread, -1)),
            "resource": (self._resource, self._names.get(resource, -1)),
            "agent": (self._agent, me),
        }.get(lane)

        def allow(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
            ids = np.asarray(ids, dtype=np.int64)
            ok: npt.NDArray[np.bool_]
            if at is None:
                ok = self._died[ids] == _ALIVE
            else:
                ok = (self._born[ids] <= at) & (self._died[ids] > at)
            ok &= ~self._private[ids] | (self._agent[ids] == me)
            if wanted is not None:
                column, code = wanted
                ok &= column[ids] == code
                if lane == "thread" and agent is not None:
                    ok &= self._agent[ids] == me
            return ok

        return allow


def _write_snapshot(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        np.savez(f, **state)
    partial.replace(path)  # atomic: a crash leaves the old snapshot or the new one


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
