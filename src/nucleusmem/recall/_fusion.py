"""Reciprocal-rank fusion: one ranking from several, by rank alone.

Cormack, Clarke and Buettcher (SIGIR 2009): a document's fused score is the sum over
the rankings that contain it of ``weight / (k + rank)``, ranks counted from 1. Only
ranks matter, so a cosine and a BM25 score, which live on different scales, can be
combined without calibrating them.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

__all__ = ["rrf"]


def rrf(
    rankings: Sequence[Sequence[tuple[int, float]]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
    limit: int,
) -> list[tuple[int, float]]:
    """Fuse ``rankings`` (each ``(id, score)`` pairs, best first) into the ``limit`` best.

    Returns ``(id, fused score)`` pairs, best first. ``k`` dampens the head of each
    ranking (60 in the paper); ``weights`` scales each ranking's contribution (1.0
    each by default). A ranking's scores are ignored, and an id it lists twice
    counts once, at its best rank. Ties keep the order in which ids were first met:
    the first ranking's order, then the next one's.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    if limit < 0:
        raise ValueError("limit must not be negative")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[int] = set()
        for rank, (doc, _score) in enumerate(ranking, start=1):
            if doc in seen:
                continue
            seen.add(doc)
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    if limit >= len(fused):
        return sorted(fused.items(), key=lambda item: -item[1])
    return heapq.nlargest(limit, fused.items(), key=lambda item: item[1])
