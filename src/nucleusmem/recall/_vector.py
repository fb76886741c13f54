"""`VectorIndex`: approximate nearest neighbours over unit vectors, in memory.

An inverted-file (IVF) index. Spherical k-means on a sample picks ``nlist`` centroids
(about ``sqrt(n)``); every vector lives in the list of its nearest centroid. All
lists share one float32 arena, each list a contiguous segment of it, so a list is
scored with one matrix-vector product and an exact search with one over the arena.
A search scores the centroids and scans the lists of the nearest ones: a fixed share
of the lists for a query that sits in a cluster, up to eight times as many for one
that sits between clusters, whose neighbours are scattered. The top ``k`` by dot
product (the cosine, for unit vectors) come back.

Below ``exact_below`` vectors there is one list and no centroids: search is exact.
Adds go to the nearest list. Every list gets room for twice the rows it holds when
the arena is laid out, and the arena half as much again spare; a list that fills up
moves to the end of the arena with room for twice its rows, and when the spare is
used up the arena is laid out afresh around the live rows (repacked). So an index
grown in batches copies a vector about twice on average, trainings included. The
centroids are trained again, on six rounds of k-means over a sample, when the index
has grown (or shrunk) four times over since they were trained. Removals are
tombstones; the arena is also repacked when its lists hold more tombstones than
live rows (and 4096 more).

Concurrency: one writer (`add`, `remove`) and any number of concurrent readers
(`search`, `exact_search`, ``len``) are safe without a lock. A writer never rewrites
an arena row a reader can see, only clears its alive flag: it fills rows past a
list's published size, or copies the list to fresh rows, and then publishes the
list's new span (start and size in one integer, so one store) or a whole new
layout, after repacking or training, with one reference assignment. Readers take
the layout once and may miss a write made during their search, as if they had run
just before it (a replaced id can be missing from a search that overlaps its
replacement). Several writers must be serialised by the caller.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Allow", "VectorIndex"]

_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]

Allow = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
"""A filter: given an array of ids, a boolean array of the same length, True to keep."""

_CHUNK_ROWS = 8192
_SIZE_BITS = 32
_SIZE_MASK = (1 << _SIZE_BITS) - 1
"""A span is ``start << _SIZE_BITS | size``: a list's rows ``[start, start + size)``."""
_MAX_PROBE_GROWTH = 8.0
_FILTER_WIDENING = 0.5
"""A filter keeping a share ``s`` of the candidates widens the scan by ``s ** -0.5``."""
_EXACT_BASE_COST = 0.1
"""What an exact filtered search costs beyond its rows, in full scans of the index."""
_GATHER_COST = 5.0
"""What copying a row out of the arena costs, in rows scored in place."""


@dataclass(slots=True)
class _Layout:
    """Centroids (None while exact), the arena, and each list's span of it."""

    centroids: _F32 | None
    vectors: _F32
    ids: _I64
    alive: npt.NDArray[np.bool_]
    spans: _I64
    """Each list's published rows, as ``start << _SIZE_BITS | size``."""
    capacities: _I64
    """How many rows each list may fill from its start (the writer's bookkeeping)."""
    used: int
    """Arena rows handed out to lists so far (the writer's bookkeeping)."""
    trained_size: int = 0
    typical: float = 1.0
    """The median cosine of a vector to its list's centroid, when trained."""


class VectorIndex:
    """Approximate top-k by cosine over float32 unit vectors identified by int ids.

    Ids are the caller's dense numbering (0, 1, 2, ...): the bookkeeping is an array
    as long as the largest id. ``dimensions`` is the vector length; ``exact_below``
    the size under which search is brute force; ``probe_fraction`` the share of lists
    a search scans (at least ``min_probe``) before it widens for hard queries and
    filters; ``seed`` makes k-means training reproducible.
    """

    def __init__(
        self,
        dimensions: int,
        *,
        exact_below: int = 4096,
        probe_fraction: float = 0.08,
        min_probe: int = 8,
        seed: int = 0,
    ) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be positive")
        if not 0.0 < probe_fraction <= 1.0:
            raise ValueError("probe_fraction must be in (0, 1]")
        self.dimensions = dimensions
        self.exact_below = exact_below
        self.probe_fraction = probe_fraction
        self.min_probe = min_probe
        self._rng = np.random.default_rng(seed)
        self._layout = self._new_layout(None, np.zeros(1, dtype=np.int64))
        self._where = np.full(0, -1, dtype=np.int64)
        """Arena row of each id, -1 where absent (the writer's bookkeeping)."""
        self._live = 0

    def __len__(self) -> int:
        """How many vectors the index holds (removed ones not counted)."""
        return self._live

    @property
    def nlist(self) -> int:
        """How many inverted lists the index has now (1 while search is exact)."""
        return len(self._layout.spans)

    # -- writing -------------------------------------------------------------------

    def add(self, ids: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add (or replace) one unit vector per id; ``vectors`` has one row per id.

        An id already present is replaced; if ``ids`` repeats one, the last row wins.
        The call that crosses a training threshold trains the centroids, which takes
        about a second per 100k vectors; searches meanwhile use the old layout.
        """
        id_array = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)
        if len(id_array) != len(rows):
            raise ValueError(f"{len(id_array)} ids for {len(rows)} vectors")
        if len(id_array) == 0:
            return
        if len(id_array) == 1:
            lowest = highest = int(id_array[0])
        else:
            ordered = np.sort(id_array)
            lowest, highest = int(ordered[0]), int(ordered[-1])
            if (ordered[1:] == ordered[:-1]).any():
                last = len(id_array) - 1 - np.unique(id_array[::-1], return_index=True)[1]
                id_array, rows = id_array[last], rows[last]
        if lowest < 0:
            raise ValueError("ids must be non-negative")
        if highest >= len(self._where):
            grown = np.full(max(highest + 1, 2 * len(self._where)), -1, np.int64)
            grown[: len(self._where)] = self._where
            self._where = grown
        self._forget(id_array)
        layout = self._layout
        total = self._live + len(id_array)
        if layout.centroids is None:
            retrain = total >= self.exact_below
        else:
            retrain = total >= 4 * layout.trained_size
        if retrain:
            self._train(*self._live_rows(layout, id_array, rows))
        elif layout.centroids is None:
            self._append(layout, np.zeros(len(rows), dtype=np.intp), id_array, rows)
        else:
            self._append(layout, _nearest(rows, layout.centroids)[0], id_array, rows)
        self._live = total

    def remove(self, ids: Sequence[int] | npt.ArrayLike) -> None:
        """Forget these ids (absent ones are ignored); their rows become tombstones."""
        id_array = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(id_array) > 1:
            id_array = np.unique(id_array[(id_array >= 0) & (id_array < len(self._where))])
        self._forget(id_array)
        layout = self._layout
        if layout.centroids is not None and self._live * 4 <= layout.trained_size:
            self._train(*self._live_rows(layout, layout.ids[:0], layout.vectors[:0]))
        elif int((layout.spans & _SIZE_MASK).sum()) > 2 * self._live + 4096:
            self._repack(layout, np.zeros(len(layout.spans), dtype=np.int64))

    # -- searching -----------------------------------------------------------------

    def search(
        self,
        query_vector: npt.ArrayLike,
        k: int,
        *,
        allow: Allow | None = None,
        nprobe: int | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` best (id, cosine) pairs, best first, among ids ``allow`` keeps.

        Approximate once the index is trained: only the lists whose centroids are
        nearest the query are scanned (``nprobe`` of them if given, else as the
        module docstring says). With a filter, more lists are scanned when it keeps
        few of the candidates, and a filter that keeps very few falls back to an
        exact search over what it keeps, so ``k`` results come back whenever ``k``
        allowed vectors exist.
        """
        query = self._query(query_vector)
        layout = self._layout
        if k <= 0 or layout.centroids is None:
            return _exact(layout, query, k, allow)
        nlist = len(layout.spans)
        centroid_scores = _dot(layout.centroids, query)
        if nprobe is None:
            probes = self._probes(layout, float(centroid_scores.max()))
        else:
            probes = min(nlist, max(1, nprobe))
        order = np.argsort(-centroid_scores)
        ids, scores = _scan(layout, order[:probes].tolist(), query)
        if allow is not None:
            keep = np.asarray(allow(ids), dtype=bool)
            share = float(keep.mean()) if len(keep) else 0.0
            ids, scores = ids[keep], scores[keep]
            wanted = min(nlist, math.ceil(probes / max(share, 1e-9) ** _FILTER_WIDENING))
            if wanted / nlist > _EXACT_BASE_COST + _GATHER_COST * share:
                return _exact(layout, query, k, allow)
            if wanted > probes:
                more_ids, more_scores = _scan(layout, order[probes:wanted].tolist(), query)
                more_keep = np.asarray(allow(more_ids), dtype=bool)
                ids = np.concatenate([ids, more_ids[more_keep]])
                scores = np.concatenate([scores, more_scores[more_keep]])
                probes = wanted
        if len(ids) < k and probes < nlist:
            return _exact(layout, query, k, allow)
        return _top(ids, scores, k)

    def exact_search(
        self, query_vector: npt.ArrayLike, k: int, *, allow: Allow | None = None
    ) -> list[tuple[int, float]]:
        """The true ``k`` best (id, cosine) pairs by brute force, best first."""
        return _exact(self._layout, self._query(query_vector), k, allow)

    # -- internals -----------------------------------------------------------------

    def _query(self, query_vector: npt.ArrayLike) -> _F32:
        query = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(-1)
        if len(query) != self.dimensions:
            raise ValueError(f"query has {len(query)} dimensions, not {self.dimensions}")
        return query

    def _probes(self, layout: _Layout, best_centroid: float) -> int:
        """How many lists to scan for a query ``best_centroid`` from its nearest centroid.

        ``probe_fraction`` of the lists (at least ``min_probe``) for a query as close
        to its nearest centroid as the lists' members typically are to theirs; the
        base count times ``(typical / best_centroid) ** 2`` for one further away, up
        to eight times as many.
        """
        nlist = len(layout.spans)
        base = max(self.min_probe, math.ceil(nlist * self.probe_fraction))
        ratio = layout.typical / best_centroid if best_centroid > 0 else _MAX_PROBE_GROWTH
        growth = min(_MAX_PROBE_GROWTH, max(1.0, ratio * ratio))
        return min(nlist, math.ceil(base * growth))

    def _new_layout(
        self,
        centroids: _F32 | None,
        sizes: _I64,
        *,
        trained_size: int = 0,
        typical: float = 1.0,
    ) -> _Layout:
        """An empty arena with room for twice ``sizes[i]`` rows in list i, and half again spare."""
        capacities = 2 * sizes + 8
        starts = np.cumsum(capacities) - capacities
        used = int(capacities.sum())
        rows = used + used // 2 + 64  # the spare: room for lists that outgrow theirs
        return _Layout(
            centroids,
            np.empty((rows, self.dimensions), dtype=np.float32),
            np.full(rows, -1, dtype=np.int64),
            np.zeros(rows, dtype=bool),
            starts << _SIZE_BITS,
            capacities,
            used,
            trained_size,
            typical,
        )

    def _forget(self, ids: _I64) -> None:
        """Tombstone the rows of those of ``ids`` that are present.

        One id may be anything; several must be distinct and below ``len(_where)``.
        """
        if len(ids) == 1:  # the common case, without the array operations
            doc = int(ids[0])
            row = int(self._where[doc]) if 0 <= doc < len(self._where) else -1
            if row >= 0:
                self._layout.alive[row] = False
                self._where[doc] = -1
                self._live -= 1
            return
        rows = self._where[ids]
        rows = rows[rows >= 0]
        if len(rows):
            self._layout.alive[rows] = False
            self._where[ids] = -1
            self._live -= len(rows)

    def _live_rows(self, layout: _Layout, ids: _I64, rows: _F32) -> tuple[_I64, _F32]:
        """The ids and vectors of every live row, list by list, followed by ``ids`` and ``rows``."""
        positions, _ = _live_positions(layout)
        every = np.empty((len(positions) + len(rows), self.dimensions), dtype=np.float32)
        _gather(layout.vectors, positions, every[: len(positions)])
        every[len(positions) :] = rows
        return np.concatenate([layout.ids[positions], ids]), every

    def _append(self, layout: _Layout, lists: npt.NDArray[np.intp], ids: _I64, rows: _F32) -> None:
        """Put ``rows`` into their ``lists``, moving or repacking full lists first."""
        if len(rows) == 1:  # the common case, without the array operations
            n = int(lists[0])
            span = int(layout.spans[n])
            if (span & _SIZE_MASK) < layout.capacities[n]:
                row = (span >> _SIZE_BITS) + (span & _SIZE_MASK)
                layout.vectors[row] = rows[0]
                layout.ids[row] = ids[0]
                layout.alive[row] = True
                self._where[ids[0]] = row
                layout.spans[n] = span + 1
                return
        counts = np.bincount(lists, minlength=len(layout.spans))
        wanted = (layout.spans & _SIZE_MASK) + counts
        full = np.flatnonzero(wanted > layout.capacities)
        if len(full):
            room = 2 * wanted[full]
            if layout.used + int(room.sum()) > len(layout.ids):
                layout = self._repack(layout, counts)
            else:
                for n, capacity in zip(full.tolist(), room.tolist(), strict=True):
                    self._move(layout, n, capacity)
        # Each row goes to its list's first free row plus its rank among the list's new
        # rows: past the published size, so readers see none of them until the end.
        spans = layout.spans
        free = (spans >> _SIZE_BITS) + (spans & _SIZE_MASK)
        order = np.argsort(lists, kind="stable")
        targets = np.empty(len(lists), dtype=np.int64)
        targets[order] = np.arange(len(lists)) + (free - (np.cumsum(counts) - counts))[lists[order]]
        layout.vectors[targets] = rows
        layout.ids[targets] = ids
        layout.alive[targets] = True
        self._where[ids] = targets
        spans += counts  # each list's span is one store: a reader sees it before or after

    def _move(self, layout: _Layout, n: int, capacity: int) -> None:
        """Copy list ``n`` to fresh rows at the end of the arena, with this capacity."""
        span = int(layout.spans[n])
        first, size = span >> _SIZE_BITS, span & _SIZE_MASK
        start, end = layout.used, layout.used + size
        layout.vectors[start:end] = layout.vectors[first : first + size]
        layout.ids[start:end] = layout.ids[first : first + size]
        layout.alive[start:end] = layout.alive[first : first + size]
        live = np.flatnonzero(layout.alive[start:end]) + start
        self._where[layout.ids[live]] = live
        layout.used += capacity
        layout.capacities[n] = capacity
        layout.spans[n] = (start << _SIZE_BITS) | size  # publish the moved list

    def _repack(self, layout: _Layout, extra: _I64) -> _Layout:
        """Publish a fresh arena holding the live rows, with room for ``extra`` more per list.

        Vectors go straight from the old arena to the new one, list by list: gathering
        them first would fault in as many fresh pages again, which costs more than the
        copy itself.
        """
        rows, live = _live_positions(layout)
        fresh = self._new_layout(
            layout.centroids,
            live + extra,
            trained_size=layout.trained_size,
            typical=layout.typical,
        )
        starts = fresh.spans >> _SIZE_BITS
        firsts = np.cumsum(live) - live  # where each list's rows begin in ``rows``
        for start, first, count in zip(
            starts.tolist(), firsts.tolist(), live.tolist(), strict=True
        ):
            _gather(
                layout.vectors, rows[first : first + count], fresh.vectors[start : start + count]
            )
        targets = np.repeat(starts - firsts, live) + np.arange(len(rows))
        ids = layout.ids[rows]
        fresh.ids[targets] = ids
        fresh.alive[targets] = True
        fresh.spans += live
        self._where[ids] = targets
        self._layout = fresh
        return fresh

    def _train(self, ids: _I64, rows: _F32) -> None:
        """Build a whole new layout for these rows and publish it in one assignment."""
        total = len(ids)
        if total < self.exact_below:
            layout = self._new_layout(None, np.array([total], dtype=np.int64))
            lists = np.zeros(total, dtype=np.intp)
        else:
            nlist = max(1, round(math.sqrt(total)))
            centroids = _spherical_kmeans(rows, nlist, self._rng)
            lists, best = _nearest(rows, centroids)
            layout = self._new_layout(
                centroids,
                np.bincount(lists, minlength=nlist),
                trained_size=total,
                typical=float(np.median(best)),
            )
        self._append(layout, lists, ids, rows)
        self._layout = layout


def _live_positions(layout: _Layout) -> tuple[_I64, _I64]:
    """The arena rows of the live vectors, list by list, and how many each list has."""
    parts = []
    for span in layout.spans.tolist():
        first, size = span >> _SIZE_BITS, span & _SIZE_MASK
        parts.append(np.flatnonzero(layout.alive[first : first + size]) + first)
    counts = np.array([len(part) for part in parts], dtype=np.int64)
    return np.concatenate([np.zeros(0, dtype=np.int64), *parts]), counts


def _gather(vectors: _F32, rows: _I64, out: _F32) -> None:
    """``out[:] = vectors[rows]`` without a temporary: ``out`` is a contiguous block."""
    np.take(vectors, rows, axis=0, out=out, mode="clip")  # "raise" would buffer ``out``


def _scan(layout: _Layout, list_nos: Sequence[int], query: _F32) -> tuple[_I64, _F32]:
    """Ids and scores of the live rows of these lists."""
    id_parts: list[_I64] = []
    score_parts: list[_F32] = []
    for span in layout.spans[list_nos].tolist():
        if span & _SIZE_MASK:
            first = span >> _SIZE_BITS
            last = first + (span & _SIZE_MASK)
            live = layout.alive[first:last]
            id_parts.append(layout.ids[first:last][live])
            score_parts.append(_dot(layout.vectors[first:last], query)[live])
    if not id_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(id_parts), np.concatenate(score_parts)


def _exact(layout: _Layout, query: _F32, k: int, allow: Allow | None) -> list[tuple[int, float]]:
    """The true top ``k`` among live rows ``allow`` keeps, from one pass over the arena."""
    spans = layout.spans.copy()  # one reading of every span
    starts = spans >> _SIZE_BITS
    ends = starts + (spans & _SIZE_MASK)
    end = int(ends.max())
    if k <= 0 or not end:
        return []
    edges = np.zeros(end + 1, dtype=np.int32)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    keep = (np.cumsum(edges[:end]) > 0) & layout.alive[:end]
    if allow is not None:
        keep[keep] = np.asarray(allow(layout.ids[:end][keep]), dtype=bool)
    rows = np.flatnonzero(keep)
    if len(rows) * _GATHER_COST < end:  # copying a few rows beats scoring them all
        scores = _dot(np.take(layout.vectors, rows, axis=0), query)
    else:
        scores = _dot(layout.vectors[:end], query)[rows]
    return _top(layout.ids[rows], scores, k)


def _dot(rows: _F32, query: _F32) -> _F32:
    """``rows @ query`` on the calling thread alone.

    BLAS would split each product over its threads, and on a busy machine waiting
    for the other threads costs milliseconds; numpy's own loop never waits.
    """
    scores: _F32 = np.einsum("ij,j->i", rows, query)
    return scores


def _top(ids: _I64, scores: _F32, k: int) -> list[tuple[int, float]]:
    """The ``k`` highest-scoring (id, score) pairs, best first."""
    if len(ids) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        ids, scores = ids[part], scores[part]
    order = np.argsort(-scores, kind="stable")
    return list(zip(ids[order].tolist(), scores[order].tolist(), strict=True))


def _nearest(rows: _F32, centroids: _F32) -> tuple[npt.NDArray[np.intp], _F32]:
    """Each row's nearest centroid by dot product, and that product, in bounded chunks."""
    if len(rows) == 1:  # a matrix-vector product beats a one-row matrix product
        scores: _F32 = np.dot(centroids, rows[0])
        nearest = np.array([scores.argmax()], dtype=np.intp)
        return nearest, scores[nearest]
    lists = np.empty(len(rows), dtype=np.intp)
    best = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        scores = chunk @ centroids.T
        chosen = np.argmax(scores, axis=1)
        lists[start : start + len(chunk)] = chosen
        best[start : start + len(chunk)] = np.take_along_axis(scores, chosen[:, None], 1)[:, 0]
    return lists, best


def _spherical_kmeans(
    rows: _F32, nlist: int, rng: np.random.Generator, *, iterations: int = 6
) -> _F32:
    """``nlist`` unit centroids from k-means by cosine on a sample of ``rows``.

    The sample holds up to 64 rows per centroid; an emptied centroid is re-seeded
    with a random sample row. After the first round, only the rows that changed list
    move between the lists' sums: after a few rounds, few do.
    """
    sample_size = min(len(rows), 64 * nlist)
    sample = rows[rng.choice(len(rows), sample_size, replace=False)]
    centroids = sample[rng.choice(sample_size, nlist, replace=False)].copy()
    previous: npt.NDArray[np.intp] | None = None
    for _ in range(iterations):
        assigned, _ = _nearest(sample, centroids)
        if previous is None:
            sums = _sums_by_list(sample, assigned, nlist)
        else:
            moved = np.flatnonzero(assigned != previous)
            moving = sample[moved]
            sums += _sums_by_list(moving, assigned[moved], nlist)
            sums -= _sums_by_list(moving, previous[moved], nlist)
        previous = assigned
        directions = sums.copy()
        empty = np.bincount(assigned, minlength=nlist) == 0
        if empty.any():
            directions[empty] = sample[rng.choice(sample_size, int(empty.sum()))]
        norms = np.linalg.norm(directions, axis=1, keepdims=True)
        centroids = (directions / norms).astype(np.float32)
    return centroids


def _sums_by_list(rows: _F32, lists: npt.NDArray[np.intp], nlist: int) -> _F32:
    """The sum of the ``rows`` in each of ``nlist`` lists.

    Sorted by list, each list's rows are one slice to sum: np.add.at and np.add.reduceat
    are several times slower, and a one-hot matrix product costs ``nlist`` times more.
    """
    order = np.argsort(lists, kind="stable")
    ordered = lists[order]
    bounds = [*np.flatnonzero(np.diff(ordered, prepend=-1)).tolist(), len(ordered)]
    grouped = rows[order]
    sums = np.zeros((nlist, rows.shape[1]), dtype=np.float32)
    for first, last in itertools.pairwise(bounds):  # one list's rows
        sums[ordered[first]] = grouped[first:last].sum(axis=0)
    return sums
