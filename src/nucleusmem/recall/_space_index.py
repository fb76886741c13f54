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
import datetime as dt
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

from nucleusmem.errors import Compacted
from nucleusmem.kv import EventType, Progress, Store, Watch
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._lexical import LexicalIndex, tokenize
from nucleusmem.recall._policy import IndexPolicy, chunk_text
from nucleusmem.recall._temporal import find_time_window, without_time_words
from nucleusmem.recall._vector import VectorIndex
from nucleusmem.space._keys import K
from nucleusmem.space._models import DataRegion

__all__ = ["Hit", "SearchMode", "SpaceIndex", "Techniques"]

_log = logging.getLogger(__name__)
_ALIVE = sys.maxsize
Allow = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
SearchMode = str
"""``hybrid`` (vector and lexical, fused), ``vector`` or ``lexical``."""
_MODES = ("hybrid", "vector", "lexical")
LANES = ("thread", "resource", "agent", "space")
_NEAR_DUPLICATE_BATCH = 64
_CONTEXT_WEIGHT = 0.5  # how much of the previous chunk's vector joins a chunk's context
_IN_WINDOW = 1.0  # a memory from the time the query names ranks above every other
_VIA_SUMMARY = 0.05  # a source of a matching summary, over its own similarity
_SUMMARIES_FOLLOWED = 3  # the best summaries whose sources come forward
_RARE_DF = 5  # a query word held by at most this many chunks is rare
_RARE_WEIGHT = 0.1  # the rare-word score (BM25 over the best), added to similarity
_COLUMNS = (
    "_born",
    "_died",
    "_agent",
    "_thread",
    "_resource",
    "_private",
    "_time",
    "_prev",
    "_next",
    "_vectors",
)


@dataclass(frozen=True, slots=True)
class Techniques:
    """The quality techniques hybrid search applies on top of vector and lexical ranking.

    ``neighbours``: a chunk also matches through the chunk before it in its thread
    (its neighbouring context), so an answer that does not name its topic is found.
    ``time``: a query that names a time ("last Tuesday", "in early March") prefers
    memories from then (metadata ``time``, else the write time). ``summaries``: a
    summary that matches (metadata ``sources``: the memory keys it sums up) brings its
    sources forward. ``rare_words``: words of the query that few memories hold (names,
    places) count for the memories holding them.
    All are on; the benchmark turns each off to measure what it brings.
    """

    neighbours: bool = True
    time: bool = True
    summaries: bool = True
    rare_words: bool = True


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


_Change = tuple[DataRegion, str, bytes | None, int]
"""A write to index: region, record key, stored value (None: deleted), revision."""


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
        self.progress = (0, 0, 0)
        self.failure: Exception | None = None
        """What stopped the index following the space, if something did."""
        """The start's revisions: where it began, where it is, where it is caught up."""
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
        self._time = np.zeros(1024, dtype=np.float64)
        """When the memory happened: its metadata ``time``, else when it was written."""
        self._prev = np.full(1024, -1, dtype=np.int64)
        """The chunk before, in the same thread (-1: none): its neighbouring context."""
        self._next = np.full(1024, -1, dtype=np.int64)
        self._last_in_thread: dict[int, int] = {}
        self._sources: dict[int, list[str]] = {}
        """Per summary chunk: the memory keys its metadata ``sources`` names."""
        self._vectors = np.zeros((1024, embedder.dimensions), dtype=np.float32)
        self._names: dict[str | None, int] = {None: 0}
        self._current: dict[tuple[DataRegion, str], list[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._watch: Watch | None = None
        self.techniques = Techniques()
        """What hybrid search applies beyond plain ranking (see `Techniques`)."""
        self._progress = asyncio.Condition()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Index the space's history and present, then follow it; returns when caught up.

        A fresh index reads the space at the compaction floor (the oldest revision the
        store still has) and replays every write since, so a search ``at`` any revision
        the store can still read sees the space as it was. With a usable snapshot (same
        embedder and policy, not below the floor) it resumes from the revision it had
        reached instead, embedding only what changed.
        """
        for attempt in range(3):
            try:
                await self._start()
                return
            except Compacted:  # history went away under the replay: start over above it
                if attempt == 2:
                    raise
                await self._stop_following()
                self._reset()

    async def _start(self) -> None:
        head = await self.store.revision()
        floor = await self.store.compaction_floor()
        self.progress = (floor, floor, head)
        if self.snapshot is not None and self.snapshot.exists():
            revision = await asyncio.to_thread(self._load, self.snapshot)
            if revision is not None and floor <= revision <= head:
                self.resumed_from = revision
                self._saved_revision = revision
                self.progress = (revision, revision, head)
                await self._advance(revision)
                self._task = asyncio.get_running_loop().create_task(self._follow(revision + 1))
                await self.wait_for(head, timeout_s=600.0)
                return
            self._reset()
        changes: list[_Change] = []
        for region in self.regions if floor else ():
            prefix = K.data(self.space, region)
            after: bytes | None = None
            while True:
                page = await self.store.range(prefix, revision=floor, after=after, limit=1000)
                for kv in page.items:
                    changes.append((region, kv.key[len(prefix) :].decode(), kv.value, kv.revision))
                if not page.more:
                    break
                after = page.items[-1].key
        for i in range(0, len(changes), self.batch_size):
            await self._apply(changes[i : i + self.batch_size])
        await self._advance(floor)
        self._task = asyncio.get_running_loop().create_task(self._follow(floor + 1))
        await self.wait_for(head, timeout_s=3600.0)

    async def aclose(self) -> None:
        """Stop following the space, saving a snapshot first if it has one."""
        await self._stop_following()
        await self.save()

    async def discard(self) -> None:
        """Stop following the space and delete its snapshot: the index is not wanted."""
        await self._stop_following()
        if self.snapshot is not None:
            self.snapshot.unlink(missing_ok=True)

    async def _stop_following(self) -> None:
        task, self._task, self._watch = self._task, None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def save(self) -> None:
        """Write the snapshot (if the index has one and moved since the last save)."""
        if self.snapshot is None or self.indexed_revision <= self._saved_revision:
            return
        state = self._state()
        await asyncio.to_thread(_write_snapshot, self.snapshot, state)
        self._saved_revision = int(state["revision"])
        self._saved_at = time.monotonic()

    async def wait_for(self, revision: int, timeout_s: float = 10.0) -> None:
        """Return once writes up to ``revision`` are searchable (`TimeoutError` if not).

        If the index stopped following the space, raises what stopped it.
        """
        async with asyncio.timeout(timeout_s), self._progress:
            while self.indexed_revision < revision:
                if self.failure is not None:
                    raise self.failure
                if self._watch is not None:  # the last commits may all be elsewhere
                    self._watch.request_progress()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.1)

    async def _follow(self, start: int) -> None:
        try:
            await self._follow_watch(start)
        except Exception as exc:  # the watch failed for good (history compacted away)
            _log.error("the index of %s stopped following the store: %s", self.space, exc)
            async with self._progress:
                self.failure = exc
                self._progress.notify_all()
            raise

    async def _follow_watch(self, start: int) -> None:
        base = K.data(self.space)
        regions = {region.value.encode(): region for region in self.regions}
        async with self.store.watch(base, start_revision=start) as watch:
            self._watch = watch
            while True:
                batch = [await watch.next_change()]
                batch += watch.ready_changes(self.batch_size - 1)  # what else has come
                changes: list[_Change] = []
                for event in batch:
                    if isinstance(event, Progress):  # nothing more up to its revision
                        continue
                    name, _, key = event.key[len(base) :].partition(b"/")
                    region = regions.get(name)
                    if region is not None:
                        value = event.value if event.type is EventType.PUT else None
                        changes.append((region, key.decode(), value, event.revision))
                try:
                    await self._apply(changes)
                except Exception:  # an embedder failure must not stop the index for good
                    _log.exception("indexing %s failed; those records stay unindexed", self.space)
                await self._advance(max(item.revision for item in batch))
                if time.monotonic() - self._saved_at >= self._save_every_s:
                    await self.save()

    async def _advance(self, revision: int) -> None:
        async with self._progress:
            self.indexed_revision = max(self.indexed_revision, revision)
            first, _, target = self.progress
            self.progress = (first, min(self.indexed_revision, target), target)
            self._progress.notify_all()

    # -- indexing ----------------------------------------------------------------------
    async def _apply(self, changes: Sequence[_Change]) -> None:
        """Index ``changes`` (in revision order): retire replaced chunks, add new ones."""
        pending: list[_Chunk] = []
        values: list[dict[str, Any]] = []
        died: list[int] = []  # per pending chunk: _ALIVE, or when a later change replaced it
        in_batch: dict[tuple[DataRegion, str], list[int]] = {}
        current, skip_reason = self._current, self.policy.skip_reason
        stored_values = [stored for _, _, stored, _ in changes if stored is not None]
        decoded = iter(_decode_values(stored_values))
        for region, key, stored, revision in changes:
            place = (region, key)
            if place in current:
                self._retire(region, key, revision)
            if place in in_batch:
                for replaced in in_batch.pop(place):
                    died[replaced] = revision
            if stored is None:
                continue
            value = next(decoded)
            content: str = value.get("c", "")
            reason = skip_reason(content)
            if reason is not None:
                self.skipped[reason] += 1
                continue
            self.indexed += 1
            mine = in_batch[place] = []
            for n, piece in enumerate(chunk_text(content)):
                mine.append(len(pending))
                pending.append(_Chunk(key, region, n, piece, revision))
                values.append(value)
                died.append(_ALIVE)
        if not pending:
            return
        vectors = await asyncio.to_thread(self.embedder.embed, [c.text for c in pending])
        keep = self._not_near_duplicates(vectors, values, died)
        if not all(keep):
            self.skipped["near_duplicate"] += keep.count(False)
            kept = [i for i, k in enumerate(keep) if k]
            pending, values = [pending[i] for i in kept], [values[i] for i in kept]
            died, vectors = [died[i] for i in kept], vectors[kept]
        self._add(pending, values, died, vectors)

    def _not_near_duplicates(
        self, vectors: npt.NDArray[np.float32], values: list[dict[str, Any]], died: list[int]
    ) -> list[bool]:
        """Per chunk, whether it is kept: not a near-duplicate of a live one in its lane.

        A chunk replaced later in the same batch (``died``) is no twin to the rest.
        """
        threshold = self.policy.near_duplicate_cosine
        if threshold is None or len(vectors) > _NEAR_DUPLICATE_BATCH:
            return [True] * len(vectors)  # bulk loads (start, catch-up) skip the check
        keep: list[bool] = []
        kept: list[tuple[npt.NDArray[np.float32], object, object]] = []  # this batch's
        for vector, value, death in zip(vectors, values, died, strict=True):
            agent, thread = value.get("a"), value.get("t")
            twins = [float(v @ vector) for v, a, t in kept if a == agent and t == thread]
            if self._chunks and not (twins and max(twins) >= threshold):
                lane = self._lane_filter(agent, thread, None, None, "thread")
                best = self._vector.search(vector, 1, allow=lane)
                twins += [best[0][1]] if best else []
            duplicate = bool(twins) and max(twins) >= threshold
            keep.append(not duplicate)
            if not duplicate and death == _ALIVE:
                kept.append((vector, agent, thread))
        return keep

    def _add(
        self,
        chunks: Sequence[_Chunk],
        values: Sequence[dict[str, Any]],
        died: Sequence[int],
        vectors: npt.NDArray[np.float32],
    ) -> None:
        """Index ``chunks`` (with their record values, death revisions and vectors)."""
        if not chunks:
            return
        first = len(self._chunks)
        end = first + len(chunks)
        while len(self._born) < end:
            self._grow()
        names, last_in_thread, current = self._names, self._last_in_thread, self._current
        agents, threads, resources, private, moments = [], [], [], [], []
        for doc, chunk, value, death in zip(range(first, end), chunks, values, died, strict=True):
            agent, thread = names.get(value.get("a")), names.get(value.get("t"))
            if agent is None:
                agent = self._code(value["a"])
            if thread is None:
                thread = self._code(value["t"])
            agents.append(agent)
            threads.append(thread)
            metadata = value.get("m")
            if isinstance(metadata, dict) and metadata:
                resources.append(self._code(_str_or_none(metadata.get("resource"))))
                private.append(bool(metadata.get("private")))
                moments.append(_moment(metadata.get("time"), value.get("w", 0.0)))
                sources = metadata.get("sources")
                if chunk.region is DataRegion.SUMMARY and isinstance(sources, list):
                    self._sources[doc] = [key for key in sources[:1000] if isinstance(key, str)]
            else:
                resources.append(0)
                private.append(False)
                moments.append(float(value.get("w", 0.0)))
            if thread and chunk.region is DataRegion.MEMORY:
                before = last_in_thread.get(thread, -1)
                self._prev[doc] = before
                if before >= 0:
                    self._next[before] = doc
                last_in_thread[thread] = doc
            if death == _ALIVE:
                current.setdefault((chunk.region, chunk.key), []).append(doc)
        self._born[first:end] = [chunk.revision for chunk in chunks]
        self._agent[first:end] = agents
        self._thread[first:end] = threads
        self._resource[first:end] = resources
        self._private[first:end] = private
        self._time[first:end] = moments
        self._vectors[first:end] = vectors
        self._chunks.extend(chunks)
        self._lexical.add_many(range(first, end), [chunk.text for chunk in chunks])
        self._vector.add(np.arange(first, end, dtype=np.int64), vectors)
        self._died[first:end] = died  # last: a chunk is searchable once all of it is in place

    def _grow(self) -> None:
        """Double every column's capacity (the new rows blank)."""
        for name in _COLUMNS:
            column = getattr(self, name)
            shape = (2 * len(column), *column.shape[1:])
            if name in ("_prev", "_next"):  # -1: no neighbour
                grown = np.full(shape, -1, dtype=column.dtype)
            else:  # zeroed pages from the OS: only the rows copied in are touched now
                grown = np.zeros(shape, dtype=column.dtype)
            grown[: len(column)] = column
            setattr(self, name, grown)

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
            "policy": repr(self.policy),
            "names": [name for name in self._names if name is not None],
            "chunks": [[c.key, c.region.value, c.index, c.text, c.revision] for c in self._chunks],
            "skipped": dict(self.skipped),
            "indexed": self.indexed,
            "last_in_thread": list(self._last_in_thread.items()),
            "sources": list(self._sources.items()),
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
                if meta["embedder"] != self.embedder.name or meta["policy"] != repr(self.policy):
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
            setattr(self, name, column)
        self._grow()
        self._chunks = [
            _Chunk(key, DataRegion(region), index, text, rev)
            for key, region, index, text, rev in meta["chunks"]
        ]
        self._current = {}
        for doc, chunk in enumerate(self._chunks):
            if self._died[doc] == _ALIVE:
                self._current.setdefault((chunk.region, chunk.key), []).append(doc)
        self._lexical.add_many(range(n), [chunk.text for chunk in self._chunks])
        if n:
            self._vector.add(list(range(n)), self._vectors[:n])
        self.skipped = Counter(meta["skipped"])
        self.indexed = int(meta["indexed"])
        self._last_in_thread = {int(code): int(doc) for code, doc in meta["last_in_thread"]}
        self._sources = {int(doc): list(keys) for doc, keys in meta["sources"]}
        return revision

    def _reset(self) -> None:
        fresh = SpaceIndex(self.store, self.space, self.embedder, policy=self.policy)
        for name in (
            *_COLUMNS,
            "_vector",
            "_lexical",
            "_chunks",
            "_names",
            "_current",
            "_last_in_thread",
            "_sources",
        ):
            setattr(self, name, getattr(fresh, name))
        self.skipped, self.indexed = Counter(), 0
        self.indexed_revision, self.resumed_from, self.failure = 0, None, None

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
        now: float | None = None,
    ) -> list[Hit]:
        """The ``k`` best records for ``query``, lane by lane (see the module docstring).

        ``at`` searches the space as it was at that revision. Each record appears once
        (its best chunk), tagged with the narrowest lane it was found in. ``now``
        (epoch seconds; default the clock) is what time phrases in the query are
        resolved against ("yesterday", "last week").
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
            ranked = self._rank(query, vector, mode, allow, k * 3, now or time.time())
            for doc, score in ranked:
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
        now: float,
    ) -> list[tuple[int, float]]:
        if mode == "lexical":
            return self._lexical.search(query, depth, allow=allow)
        assert vector is not None
        by_vector = self._vector.search(vector, depth, allow=allow)
        if mode == "vector":
            return by_vector
        return self._hybrid(query, vector, allow, depth, now, by_vector)

    def _hybrid(
        self,
        query: str,
        vector: npt.NDArray[np.float32],
        allow: Allow,
        depth: int,
        now: float,
        by_vector: list[tuple[int, float]],
    ) -> list[tuple[int, float]]:
        """Vector similarity, then each of the `Techniques` on the candidates it found."""
        use = self.techniques
        candidates = {doc for doc, _ in by_vector}
        window = None
        if use.time:
            window = find_time_window(query, dt.datetime.fromtimestamp(now, dt.UTC))
        in_window: Allow | None = None
        if window is not None:
            start, end = window.start, window.end

            def in_window(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
                ids = np.asarray(ids, dtype=np.int64)
                moment = self._time[ids]
                return allow(ids) & (moment >= start) & (moment < end)

            candidates.update(doc for doc, _ in self._vector.search(vector, depth, allow=in_window))
            query = without_time_words(query, window)
        rare: dict[int, float] = {}
        if use.rare_words:
            words = [word for word in query.split() if self._rare(word)]
            found = self._lexical.search(" ".join(words), depth, allow=allow) if words else []
            best = max((score for _, score in found), default=1.0) or 1.0
            rare = {doc: score / best for doc, score in found}
            candidates.update(rare)
        if use.neighbours:
            after = self._next[np.fromiter(candidates, dtype=np.int64, count=len(candidates))]
            after = after[after >= 0]
            candidates.update(after[allow(after)].tolist())
        scores = self._similarity(candidates, vector)
        if use.summaries:
            self._follow_summaries(scores, vector, allow)
        for doc, score in rare.items():
            scores[doc] += _RARE_WEIGHT * score
        if in_window is not None and scores:
            docs = np.fromiter(scores, dtype=np.int64, count=len(scores))
            for doc in docs[in_window(docs)].tolist():
                scores[doc] += _IN_WINDOW
        return sorted(scores.items(), key=lambda item: -item[1])[:depth]

    def _rare(self, word: str) -> bool:
        """Whether ``word`` (as the query has it) is held by few chunks, but some."""
        terms = tokenize(word)
        return bool(terms) and all(
            0 < self._lexical.document_frequency(term) <= _RARE_DF for term in terms
        )

    def _similarity(self, docs: set[int], vector: npt.NDArray[np.float32]) -> dict[int, float]:
        """Each chunk's cosine to ``vector``; with neighbours, also in its context."""
        if not docs:
            return {}
        ids = np.fromiter(docs, dtype=np.int64, count=len(docs))
        own = self._vectors[ids] @ vector
        if self.techniques.neighbours:
            before = self._prev[ids]
            has = before >= 0
            context = self._vectors[ids].copy()
            context[has] += _CONTEXT_WEIGHT * self._vectors[before[has]]
            norms = np.linalg.norm(context, axis=1)
            norms[norms == 0] = 1.0
            own = np.maximum(own, (context @ vector) / norms)
        return dict(zip(ids.tolist(), own.tolist(), strict=True))

    def _follow_summaries(
        self, scores: dict[int, float], vector: npt.NDArray[np.float32], allow: Allow
    ) -> None:
        """Bring forward the sources of the best-matching summaries (in place)."""
        ranked = sorted(scores, key=lambda doc: -scores[doc])
        summaries = [doc for doc in ranked if doc in self._sources]
        sources: set[int] = set()
        for doc in summaries[:_SUMMARIES_FOLLOWED]:
            for key in self._sources[doc]:
                sources.update(self._current.get((DataRegion.MEMORY, key), ()))
        if not sources:
            return
        ids = np.fromiter(sources, dtype=np.int64, count=len(sources))
        ids = ids[allow(ids)]
        for doc, score in self._similarity(set(ids.tolist()), vector).items():
            scores[doc] = max(scores.get(doc, -1.0), score + _VIA_SUMMARY)

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


def _decode_values(stored: list[bytes]) -> list[dict[str, Any]]:
    """The record values ``stored`` (JSON objects), parsed with one call for the batch."""
    if not stored:
        return []
    try:
        values = json.loads(b"[%s]" % b",".join(stored))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(stored):
        return [json.loads(value) for value in stored]  # raises for the one that is bad
    return values


def _write_snapshot(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        np.savez(f, **state)
    partial.replace(path)  # atomic: a crash leaves the old snapshot or the new one


def _moment(value: object, written: float) -> float:
    """A memory's time: metadata ``time`` (epoch seconds or ISO 8601), else its write time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return float(written)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return float(written)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
