"""`HashingEmbedder`: the dependency-free fallback that works everywhere.

Feature hashing of words, word pairs and character trigrams into a fixed number of
signed buckets, with sublinear term weights. It knows no synonyms, so it is a
lexical embedder in vector form; its value is that it needs nothing (no model file,
no endpoint) and gives the same vectors on every machine (CRC-32, not Python's
salted ``hash``).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from nucleusmem.recall._embedder import Vectors, normalize

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Hashed bag of words, word pairs and trigrams; ``dimensions`` buckets."""

    def __init__(self, *, dimensions: int = 384) -> None:
        if dimensions < 16:
            raise ValueError("dimensions must be at least 16")
        self.dimensions = dimensions
        self.name = f"hashing-{dimensions}-v1"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text; an empty text gives a zero row."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text).items():
                h = zlib.crc32(feature.encode())
                sign = 1.0 if h & 0x80000000 else -1.0
                out[row, h % self.dimensions] += sign * weight
        return normalize(out)


def _features(text: str) -> dict[str, float]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts: Counter[str] = Counter()
    for word in words:
        counts["w:" + word] += 1
        padded = f"<{word}>"
        for i in range(len(padded) - 2):
            counts["c:" + padded[i : i + 3]] += 1
    for first, second in itertools.pairwise(words):
        counts[f"p:{first} {second}"] += 1
    weights = {"w": 1.0, "p": 0.6, "c": 0.25}
    return {f: weights[f[0]] * (1.0 + math.log(n)) for f, n in counts.items()}
