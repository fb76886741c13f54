"""`OpenAIEmbedder`: any OpenAI-compatible embeddings endpoint (OpenAI, Ollama, vLLM).

The only network the recall layer ever uses is the endpoint the user configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx
import numpy as np

from nucleusmem.errors import ConfigurationError, EmbedderUnavailable
from nucleusmem.recall._embedder import Vectors, normalize

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder:
    """Embeddings from ``POST {base_url}/embeddings`` with ``model``.

    ``base_url`` is the API root, such as ``https://api.openai.com/v1`` or
    ``http://localhost:11434/v1`` (Ollama). ``dimensions`` is asked of the endpoint if
    given (models that can shorten their vectors honour it), else learnt from the first
    answer. Texts go in batches of ``batch_size``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"embeddings base_url must be http(s)://host/..., not {base_url!r}"
            )
        if batch_size < 1:
            raise ConfigurationError("batch_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}@{parts.netloc}" + (f"/{dimensions}" if dimensions else "")
        self._requested = dimensions
        self._dimensions = dimensions
        self._batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)

    @property
    def dimensions(self) -> int:
        """The vector size (asks the endpoint once if it was not configured)."""
        if self._dimensions is None:
            self._dimensions = int(self._call(["dimensions probe"]).shape[1])
        return self._dimensions

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text, in order."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [
            self._call(list(texts[i : i + self._batch_size]))
            for i in range(0, len(texts), self._batch_size)
        ]
        vectors = np.concatenate(parts)
        if self._dimensions is None:
            self._dimensions = int(vectors.shape[1])
        return vectors

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def _call(self, batch: list[str]) -> Vectors:
        # Some servers refuse empty strings; embed a space and zero the row after.
        empty = [i for i, text in enumerate(batch) if not text.strip()]
        body: dict[str, object] = {"model": self.model, "input": [t or " " for t in batch]}
        if self._requested is not None:
            body["dimensions"] = self._requested
        url = f"{self.base_url}/embeddings"
        try:
            response = self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise EmbedderUnavailable(f"embeddings endpoint {url} unreachable: {exc}") from exc
        if response.status_code in (401, 403, 404):
            raise ConfigurationError(
                f"embeddings endpoint {url} refused model {self.model!r}: "
                f"HTTP {response.status_code} {response.text[:200]}"
            )
        if response.status_code != 200:
            raise EmbedderUnavailable(
                f"embeddings endpoint {url}: HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.array([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderUnavailable(f"embeddings endpoint {url} answered badly: {exc}") from exc
        if vectors.ndim != 2 or len(vectors) != len(batch):
            raise EmbedderUnavailable(
                f"embeddings endpoint {url} returned {len(vectors)} vectors for {len(batch)} texts"
            )
        vectors[empty] = 0.0
        return normalize(vectors)
