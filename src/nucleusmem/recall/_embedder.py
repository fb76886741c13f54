"""The embedder seam: a batch of texts in, one unit vector per text out.

It is a structural `Protocol` because embedders are plug-ins matched by shape: a
local model, an HTTP endpoint, or the dependency-free fallback all fit without
inheriting from us.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Embedder", "Vectors", "normalize"]

Vectors = npt.NDArray[np.float32]
"""A 2-D float32 array: one row per text, ``dimensions`` columns, each row of norm 1."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors whose dot product is their cosine similarity.

    ``name`` identifies the model and its settings: two embedders with the same name
    must give the same vectors, since an index built by one is searched by the other.
    """

    @property
    def name(self) -> str:
        """The model and its settings, e.g. ``all-MiniLM-L6-v2``."""
        ...

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit-length row per text (a zero row for an empty text)."""
        ...


def normalize(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
