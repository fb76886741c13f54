"""Recall: embedders, and the vector and lexical indexes a space is searched with.

`Embedder` is the protocol (texts in, unit vectors out). Shipped: `HashingEmbedder`
(no dependencies), `OpenAIEmbedder` (any OpenAI-compatible endpoint) and, with the
``minilm`` extra, `MiniLMEmbedder` (all-MiniLM-L6-v2 on numpy, offline).
"""

from __future__ import annotations

from nucleusmem.recall._embedder import Embedder, Vectors, normalize
from nucleusmem.recall._hashing import HashingEmbedder
from nucleusmem.recall._minilm import MiniLMEmbedder
from nucleusmem.recall._openai import OpenAIEmbedder

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "normalize",
]
