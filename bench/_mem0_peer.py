"""Mem0 as the recall benchmark's peer: the same texts and vectors, through Mem0's own API.

`run_mem0` stores each text with one ``Memory.add(text, infer=False)``, as a Mem0 user
without an LLM would, runs every query through ``Memory.search``, and maps the hits back
to the caller's ids. Mem0 (``mem0ai``, pinned to 2.2.1 by the ``bench`` extra) is set up
as ``pip install mem0ai`` leaves it: its default vector store, Qdrant in local mode
(in-process, persisted under ``workdir``), and its SQLite history. Nothing reaches the
network:

- Vectors come from `StagedEmbedder`: before each call the caller's precomputed vector
  for that text is staged, so both systems see identical vectors and neither pays for
  embedding. Any other embedding Mem0 asks for fails the run.
- Telemetry is off (``MEM0_TELEMETRY=False`` before Mem0 is imported; ``MEM0_DIR`` points
  to a temporary directory, not ``~/.mem0``). The LLM Mem0 insists on building is an
  OpenAI client with a dummy key and a dead local URL, swapped for `_NoLlm`, which raises.
- While Mem0 runs, socket connects, DNS lookups and subprocesses are refused; an attempt
  fails the run even if Mem0 swallowed the error.

What Mem0 does, for reading the numbers. Per add: deep copies of the metadata, an MD5 of
the text, timestamps, one Qdrant upsert (local mode: a numpy append and the pickled point
written to SQLite with a commit) and one history row in a second SQLite file, with its own
commit. Per search: one Qdrant query for ``max(4 * k, 60)`` candidates (local mode is an
exact brute-force cosine scan, with the ``user_id`` filter checked in Python for each
point), a score threshold (we pass 0.0, the lowest Mem0 accepts, so only negative cosines
are dropped) and a pydantic object per hit. Mem0's BM25 keyword scoring needs fastembed
and its entity boost needs spaCy; neither is installed (both would download models), so
its ranking here is semantic only.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pathlib
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NoReturn
from unittest import mock

import numpy as np
import numpy.typing as npt

__all__ = ["Mem0PeerError", "Mem0Result", "StagedEmbedder", "mem0_unavailable_reason", "run_mem0"]

ID_KEY = "nucleusmem_id"
"""The metadata key that carries the caller's id through Mem0 and back."""

RESERVED_KEYS = frozenset(
    {ID_KEY, "id", "data", "hash", "created_at", "updated_at", "text_lemmatized", "role"}
    | {"user_id", "agent_id", "run_id", "actor_id", "attributed_to", "expiration_date"}
)
"""Metadata keys the caller may not use: ours, or ones Mem0 sets or promotes itself."""

WARMUP_SEARCHES = 20
"""Untimed searches before the timed pass, as the benchmark does for our own indexes."""

_DUMMY_OPENAI_KEY = "sk-nucleusmem-bench-never-used"
_DEAD_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing answers there
_GUARDED: tuple[tuple[object, str], ...] = (
    (socket.socket, "connect"),
    (socket.socket, "connect_ex"),
    (socket.socket, "sendto"),
    (socket, "getaddrinfo"),
    (socket, "gethostbyname"),
    (subprocess, "Popen"),  # spaCy fetches its model with a pip subprocess
)

Vectors = npt.NDArray[np.float32]


class Mem0PeerError(RuntimeError):
    """The Mem0 run cannot be trusted: memories dropped, network tried, or foreign text embedded."""


@dataclass(frozen=True, slots=True)
class Mem0Result:
    """What one `run_mem0` measured."""

    version: str
    """The installed ``mem0ai`` version."""
    adds_per_s: float
    """One ``Memory.add`` per memory (``infer=False``): 1 / the median add latency."""
    search_p50_ms: float
    """The median ``Memory.search`` latency, one timed pass over the queries."""
    searches_per_s: float
    """Queries / the total time spent in ``Memory.search`` (single thread)."""
    ranked: list[list[str]]
    """Per query, the caller's ids of the top-k hits, best first."""


class StagedEmbedder:
    """Mem0's embedder interface (``embed``, ``embed_batch``) answering from staged vectors.

    `stage` names the one text Mem0 is about to embed and its precomputed vector, and the
    next `embed` of that text returns it; keying by call rather than by text keeps
    duplicate texts with different vectors apart. Any other text is recorded in
    ``unexpected`` and refused, so a run never embeds something the caller did not.
    """

    def __init__(self) -> None:
        self._text: str | None = None
        self._vector: list[float] = []
        self.hits = 0
        self.unexpected: list[str] = []

    def stage(self, text: str, vector: list[float]) -> None:
        """Answer the next `embed` of ``text`` with ``vector``."""
        self._text, self._vector = text, vector

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        """The staged vector if ``text`` is the staged text; else `LookupError`."""
        if text != self._text:
            self.unexpected.append(f"{memory_action}: {text[:80]!r}")
            raise LookupError(f"no precomputed vector for {text[:80]!r}")
        self._text = None
        self.hits += 1
        return self._vector

    def embed_batch(self, texts: list[str], memory_action: str = "add") -> list[list[float]]:
        """`embed` for each text."""
        return [self.embed(text, memory_action) for text in texts]


class _NoLlm:
    """Stands in for Mem0's LLM: with ``infer=False`` nothing may call it."""

    def generate_response(self, *args: object, **kwargs: object) -> str:
        raise Mem0PeerError("Mem0 called its LLM during an infer=False run")


@contextlib.contextmanager
def _refusing_network() -> Iterator[list[str]]:
    """Socket connects, DNS lookups and subprocesses refused for the block.

    Yields the list the attempts are recorded in. The functions are swapped for refusals
    rather than watched by an audit hook: a hook cannot be removed and would tax every
    later ``id()`` call in the process, our own benchmark's included. It is process-wide:
    other threads are refused too while the block runs.
    """
    attempts: list[str] = []

    def refusal(what: str) -> Callable[..., NoReturn]:
        def refuse(*args: object, **kwargs: object) -> NoReturn:
            attempts.append(f"{what}{args!r:.160}")
            raise PermissionError(f"network use refused during the Mem0 run: {what}")

        return refuse

    with contextlib.ExitStack() as stack:
        for owner, name in _GUARDED:
            what = f"{getattr(owner, '__name__', owner)}.{name}"
            stack.enter_context(mock.patch.object(owner, name, refusal(what)))
        yield attempts


def _import_mem0() -> ModuleType:
    """Mem0, imported with telemetry off and its home directory out of ``~``."""
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ.setdefault("MEM0_DIR", str(pathlib.Path(tempfile.gettempdir()) / "nucleusmem-mem0"))
    with _refusing_network() as attempts:
        mem0 = importlib.import_module("mem0")
        main = importlib.import_module("mem0.memory.main")
        telemetry = importlib.import_module("mem0.memory.telemetry")
    if attempts:
        raise Mem0PeerError(f"importing Mem0 tried the network: {attempts}")
    if telemetry.MEM0_TELEMETRY or main.MEM0_TELEMETRY:
        raise Mem0PeerError("Mem0 was imported with telemetry on before this module ran")
    return mem0


def mem0_unavailable_reason() -> str | None:
    """None when Mem0 can run here; else why not, in one line."""
    try:
        _import_mem0()
    except ImportError as exc:
        reason = f"mem0ai or a dependency is missing ({exc}); pip install -e '.[bench]'"
    except Exception as exc:
        reason = f"mem0ai cannot be imported: {type(exc).__name__}: {exc}"
    else:
        return None
    return " ".join(reason.split())


def run_mem0(
    ids: list[str],
    texts: list[str],
    metadata: list[dict[str, str]],
    vectors: np.ndarray,
    queries: list[str],
    query_vectors: np.ndarray,
    *,
    k: int = 10,
    user_id: str = "bench",
    workdir: pathlib.Path,
) -> Mem0Result:
    """Add every text to a fresh Mem0 under ``workdir``, search every query, and time both.

    Item i is ``ids[i]``, ``texts[i]``, ``metadata[i]`` and ``vectors[i]``; query j is
    ``queries[j]`` with ``query_vectors[j]``. Mem0's files stay in a new directory under
    ``workdir``. Raises `Mem0PeerError` if Mem0 stored other than one verbatim memory per
    text, embedded anything else, or tried the network.
    """
    doc_vectors, q_vectors = _check_inputs(ids, texts, metadata, vectors, queries, query_vectors)
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    mem0 = _import_mem0()
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="mem0-", dir=workdir))
    embedder = StagedEmbedder()
    with _refusing_network() as attempts:
        memory = _open_memory(mem0, run_dir, len(doc_vectors[0]), embedder)
        try:
            add_s = _add_all(memory, embedder, ids, texts, metadata, doc_vectors, user_id)
            _check_stored(memory, ids, texts, user_id)
            search_s, ranked = _search_all(memory, embedder, queries, q_vectors, k, user_id)
        finally:
            memory.close()
            memory.vector_store.client.close()
    if attempts:
        raise Mem0PeerError(f"Mem0 tried the network: {attempts}")
    if embedder.unexpected:
        raise Mem0PeerError(f"Mem0 embedded text we did not give it: {embedder.unexpected[:5]}")
    expected = len(texts) + min(WARMUP_SEARCHES, len(queries)) + len(queries)
    if embedder.hits != expected:
        raise Mem0PeerError(f"Mem0 embedded {embedder.hits} times, expected {expected}")
    return Mem0Result(
        version=str(mem0.__version__),
        adds_per_s=1.0 / statistics.median(add_s),
        search_p50_ms=statistics.median(search_s) * 1e3,
        searches_per_s=len(search_s) / math.fsum(search_s),
        ranked=ranked,
    )


def _check_inputs(
    ids: Sequence[str],
    texts: Sequence[str],
    metadata: Sequence[dict[str, str]],
    vectors: np.ndarray,
    queries: Sequence[str],
    query_vectors: np.ndarray,
) -> tuple[list[list[float]], list[list[float]]]:
    """The vectors as the float lists Mem0 expects, once the inputs are known consistent."""
    docs = np.asarray(vectors, dtype=np.float32)
    asked = np.asarray(query_vectors, dtype=np.float32)
    if not len(ids) == len(texts) == len(metadata) == len(docs) > 0:
        raise ValueError("ids, texts, metadata and vectors need the same non-zero length")
    if len(queries) != len(asked) or not queries:
        raise ValueError("queries and query_vectors need the same non-zero length")
    if docs.ndim != 2 or asked.ndim != 2 or docs.shape[1] != asked.shape[1]:
        raise ValueError(f"vectors {docs.shape} and query vectors {asked.shape} do not match")
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique")
    if not all(text.strip() for text in [*texts, *queries]):
        raise ValueError("Mem0 neither stores nor returns blank texts, and refuses blank queries")
    clashes = {key for meta in metadata for key in meta if key in RESERVED_KEYS}
    if clashes:
        raise ValueError(f"metadata keys reserved by Mem0 or by us: {sorted(clashes)}")
    return docs.tolist(), asked.tolist()


def _open_memory(mem0: ModuleType, run_dir: pathlib.Path, dims: int, embedder: object) -> Any:
    """A Mem0 ``Memory`` on local Qdrant in ``run_dir``, with our embedder and no LLM."""
    offline = {"api_key": _DUMMY_OPENAI_KEY, "openai_base_url": _DEAD_URL}
    memory = mem0.Memory.from_config(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": "bench",
                    "embedding_model_dims": dims,
                    "path": str(run_dir / "qdrant"),
                },
            },
            "embedder": {"provider": "openai", "config": {**offline, "embedding_dims": dims}},
            "llm": {"provider": "openai", "config": offline},
            "history_db_path": str(run_dir / "history.db"),
        }
    )
    memory.embedding_model = embedder
    memory.llm = _NoLlm()
    return memory


def _add_all(
    memory: Any,
    embedder: StagedEmbedder,
    ids: Sequence[str],
    texts: Sequence[str],
    metadata: Sequence[dict[str, str]],
    vectors: Sequence[list[float]],
    user_id: str,
) -> list[float]:
    """One timed ``Memory.add`` per text; the latencies in seconds."""
    latencies = []
    for doc, text, meta, vector in zip(ids, texts, metadata, vectors, strict=True):
        carried = {**meta, ID_KEY: doc}
        embedder.stage(text, vector)
        started = time.perf_counter()
        added = memory.add(text, user_id=user_id, metadata=carried, infer=False)
        latencies.append(time.perf_counter() - started)
        if len(added["results"]) != 1:
            raise Mem0PeerError(f"Mem0 made {len(added['results'])} memories of {doc!r}")
    return latencies


def _check_stored(memory: Any, ids: Sequence[str], texts: Sequence[str], user_id: str) -> None:
    """Raise unless Mem0 holds exactly one memory per id, with its text verbatim."""
    listed = memory.get_all(filters={"user_id": user_id}, top_k=len(ids) + 1)["results"]
    stored = {item.get("metadata", {}).get(ID_KEY): item["memory"] for item in listed}
    if len(listed) != len(ids) or stored != dict(zip(ids, texts, strict=True)):
        raise Mem0PeerError(
            f"Mem0 holds {len(listed)} memories ({len(stored)} distinct ids) for {len(ids)} "
            "texts, or changed their text"
        )


def _search_all(
    memory: Any,
    embedder: StagedEmbedder,
    queries: Sequence[str],
    vectors: Sequence[list[float]],
    k: int,
    user_id: str,
) -> tuple[list[float], list[list[str]]]:
    """Warm-up searches, then one timed ``Memory.search`` per query: latencies and hits."""

    def search(i: int) -> tuple[float, list[dict[str, Any]]]:
        embedder.stage(queries[i].strip(), vectors[i])  # Mem0 trims a query before embedding it
        started = time.perf_counter()
        found = memory.search(queries[i], top_k=k, filters={"user_id": user_id}, threshold=0.0)
        return time.perf_counter() - started, found["results"]

    for i in range(min(WARMUP_SEARCHES, len(queries))):
        search(i)
    latencies, ranked = [], []
    for i in range(len(queries)):
        took, hits = search(i)
        latencies.append(took)
        ranked.append([hit["metadata"][ID_KEY] for hit in hits])
    return latencies, ranked


def _self_check(items: int = 300, dims: int = 384, seed: int = 3) -> None:
    """Random unit vectors, query i a small nudge of item i: recall@10 should be ~1."""
    rng = np.random.default_rng(seed)

    def unit(x: Vectors) -> Vectors:
        out: Vectors = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    vectors = unit(rng.standard_normal((items, dims), dtype=np.float32))
    nudge = rng.standard_normal((items, dims), dtype=np.float32) * np.float32(0.3 / math.sqrt(dims))
    query_vectors = unit(vectors + nudge)
    ids = [f"doc-{i}" for i in range(items)]
    texts = [f"memory {i}: the user noted fact number {i}" for i in range(items)]
    metadata = [{"lane": f"lane-{i % 3}"} for i in range(items)]
    queries = [f"what was fact {i}?" for i in range(items)]
    reason = mem0_unavailable_reason()
    if reason is not None:
        raise SystemExit(reason)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        result = run_mem0(
            ids, texts, metadata, vectors, queries, query_vectors, workdir=pathlib.Path(workdir)
        )
    elapsed_s = time.perf_counter() - started
    recall = sum(ids[i] in hits for i, hits in enumerate(result.ranked)) / items
    top1 = sum(bool(hits) and hits[0] == ids[i] for i, hits in enumerate(result.ranked)) / items
    print(f"mem0ai {result.version}: {items} memories, {items} queries, {elapsed_s:.1f} s in all")
    print(f"  adds/s (1 / median add)   {result.adds_per_s:,.0f}")
    print(f"  search p50                {result.search_p50_ms:.2f} ms")
    print(f"  searches/s                {result.searches_per_s:,.0f}")
    print(f"  recall@10 of the right id {recall:.3f}   top-1 {top1:.3f}")


if __name__ == "__main__":
    _self_check()
