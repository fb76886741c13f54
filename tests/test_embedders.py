"""The embedders that need no model file: hashing, and any OpenAI-compatible endpoint.

The endpoint is a real HTTP server on a free loopback port speaking the OpenAI
embeddings protocol (as Ollama or vLLM do), so requests, batching and errors cross a
real socket.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from nucleusmem.errors import ConfigurationError, EmbedderUnavailable
from nucleusmem.recall import Embedder, HashingEmbedder, OpenAIEmbedder


def test_hashing_embedder_is_deterministic_and_lexical() -> None:
    embedder = HashingEmbedder(dimensions=256)
    assert isinstance(embedder, Embedder)
    texts = ["the cat sat on the mat", "a cat was sitting on a mat", "quarterly revenue grew", ""]
    first, again = embedder.embed(texts), HashingEmbedder(dimensions=256).embed(texts)
    assert first.shape == (4, 256) and first.dtype == np.float32
    assert np.array_equal(first, again)  # same vectors in every process (CRC-32)
    assert np.allclose(np.linalg.norm(first[:3], axis=1), 1.0)
    assert not first[3].any()  # empty text: zero row
    similar, unrelated = first[0] @ first[1], first[0] @ first[2]
    assert similar > 0.25 > unrelated


class _Endpoint(BaseHTTPRequestHandler):
    """Answers like /v1/embeddings: a vector per input, derived from its SHA-256."""

    requests: list[dict[str, Any]]
    fail_with: int | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        if type(self).fail_with is not None:
            self.send_response(type(self).fail_with)
            self.end_headers()
            self.wfile.write(b'{"error": "nope"}')
            return
        size = body.get("dimensions", 8)
        data = [
            {"index": i, "embedding": [b / 255 for b in hashlib.sha256(t.encode()).digest()[:size]]}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # servers may answer out of order; index says where each goes
        payload = json.dumps({"data": data, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Endpoint]]]:
    """A running OpenAI-compatible server; yields its base URL and handler class."""
    handler = type("Handler", (_Endpoint,), {"requests": [], "fail_with": None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def test_openai_embedder_batches_orders_and_normalises(
    endpoint: tuple[str, type[_Endpoint]],
) -> None:
    url, handler = endpoint
    embedder = OpenAIEmbedder(url, "nomic-embed-text", api_key="sk-test", batch_size=2)
    texts = ["alpha", "beta", "", "delta", "epsilon"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (5, 8) and embedder.dimensions == 8
    assert [len(r["input"]) for r in handler.requests] == [2, 2, 1]
    assert all(
        r["path"] == "/v1/embeddings" and r["auth"] == "Bearer sk-test" for r in handler.requests
    )
    expected = np.array([b / 255 for b in hashlib.sha256(b"delta").digest()[:8]], dtype=np.float32)
    assert np.allclose(vectors[3], expected / np.linalg.norm(expected), atol=1e-6)
    assert not vectors[2].any()  # the empty text
    assert embedder.name == "openai:nomic-embed-text@" + url.split("/")[2]
    shorter = OpenAIEmbedder(url, "m", dimensions=4)
    assert shorter.embed(["x"]).shape == (1, 4) and handler.requests[-1]["dimensions"] == 4
    embedder.close()


def test_openai_embedder_errors_are_typed(endpoint: tuple[str, type[_Endpoint]]) -> None:
    url, handler = endpoint
    handler.fail_with = 401
    with pytest.raises(ConfigurationError):
        OpenAIEmbedder(url, "m").embed(["x"])
    handler.fail_with = 500
    with pytest.raises(EmbedderUnavailable):
        OpenAIEmbedder(url, "m").embed(["x"])
    with pytest.raises(EmbedderUnavailable):
        OpenAIEmbedder("http://127.0.0.1:9/v1", "m", timeout_s=2).embed(["x"])
    with pytest.raises(ConfigurationError):
        OpenAIEmbedder("ftp://example/v1", "m")
