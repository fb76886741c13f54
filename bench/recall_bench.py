"""Benchmark recall: the vector and lexical indexes at 100k items, and hybrid search.

Usage: ``python bench/recall_bench.py [--quick] [--phases index]``.

The data is synthetic and seeded, the same on every run:

- 100k vectors of 384 dimensions, unit length, from a mixture of 1,000 gaussians on
  the sphere: uniform random centres; cluster sizes Zipf-distributed (weight of the
  i-th cluster ``1 / i ** 0.8``, so the largest holds ~3k vectors and the smallest
  ~40); each cluster its own spread, isotropic noise of norm 0.5 to 1.5 added to the
  centre before normalising (a vector's cosine to its centre is 0.55 to 0.9, its
  10th nearest neighbour's cosine about 0.5, an unrelated vector's about 0). Real
  embeddings are clustered like this; uniform random vectors are not. Queries are
  further draws from the same mixture.
- 100k documents of 20 to 40 words, document i about the cluster of vector i: 15%
  stop words, 35% words of its cluster's topic (40 words per topic), the rest drawn
  from a 30k-word vocabulary with Zipf frequencies. Queries are 3 to 6 words, mostly
  of the query vector's topic.

Latencies are in-process and single-threaded, per query; a p50 is the median of the
rounds' p50s (each round runs every query once), a p99 is over all samples. A table
goes to stdout, then, as the last line, one JSON object with the results (null where
a phase failed).

Phase ``index``:

- ``vector_recall_at_10_vs_exact``: mean share of the exact top 10 (brute force) that
  `VectorIndex.search` returns, over the recall queries. Target >= 0.95.
- ``vector_search_p50_ms_100k`` / ``_p99_ms_100k``: `VectorIndex.search`, k = 10.
  Target p50 <= 5. ``vector_filtered_1pct_p50_ms_100k`` and ``_50pct_``: the same with
  an ``allow`` filter keeping 1% (a lane) or half of the ids, and their recall against
  the exact filtered top 10 (``vector_filtered_1pct_recall_at_10`` and ``_50pct_``).
- ``lexical_search_p50_ms_100k``: `LexicalIndex.search`, k = 10.
- ``hybrid_search_p50_ms_100k``: vector top 30, lexical top 30, `rrf` to 10. Target
  <= 15.
- ``vector_build_s_100k``: one `VectorIndex.add` of all vectors (k-means included);
  ``vector_single_add_us``: mean time of adding one vector at a time to the built index.
  ``lexical_build_s_100k``: `LexicalIndex.add` of every document, one by one.

Phase ``ingest`` (``_recall_ingest.py``): ``ingest_vs_kv_ratio``, memories with
precomputed vectors written (`Session.write`, batches of 100) and indexed per second,
over raw `Store.commit` of the same encoded records, on fresh SQLite files. Target >= 0.5.
``ingest_written_vs_kv_ratio``: the same writes with no index open, over raw: what the
write path alone costs. ``ingest_vs_kv_ratio_etcd`` and
``ingest_written_vs_kv_ratio_etcd``: the same on a fresh one-member etcd (or
``ingest_etcd_unavailable``: why it could not start).

Phase ``evidence`` (``_recall_evidence.py``): evidence recall at 10 on a generated
conversation set per mode, each technique's gain, and Mem0 side by side (see there).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from _conversations import generate
from _recall_evidence import TECHNIQUES, measure_evidence
from _recall_ingest import IngestResult, measure_ingest
from kv_bench import median, percentile
from nucleusmem.recall._fusion import rrf
from nucleusmem.recall._lexical import LexicalIndex
from nucleusmem.recall._vector import VectorIndex

PHASES = ("index", "ingest", "evidence")
DIMENSIONS = 384
ITEMS = 100_000
CLUSTERS = 1_000
STOP_WORDS = ("the", "a", "of", "and", "to", "in", "is", "was", "for", "with", "on", "at")
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["qua", "xe", "yo"]

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each measurement does; ``--quick`` shrinks the query counts, not the data."""

    quick: bool
    rounds: int
    queries: int
    recall_queries: int
    single_adds: int
    ingest_items: int

    @classmethod
    def make(cls, *, quick: bool) -> Plan:
        """The quick plan (the index phase in well under a minute) or the full one."""
        return cls(
            quick=quick,
            rounds=3 if quick else 5,
            queries=200 if quick else 1_000,
            recall_queries=200 if quick else 1_000,
            single_adds=1_000 if quick else 5_000,
            ingest_items=10_000 if quick else 50_000,
        )


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a value, its unit, and its target if it has one."""

    metric: str
    unit: str
    value: float | None
    target: str = ""

    @property
    def verdict(self) -> str:
        """Whether the value meets its target: "ok", "MISS", or empty without a target."""
        if not self.target or self.value is None:
            return ""
        op, bound = self.target.split()
        good = self.value >= float(bound) if op == ">=" else self.value <= float(bound)
        return "ok" if good else "MISS"


@dataclass(slots=True)
class Report:
    """Rows for the table and keys for the JSON line, per phase."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    failed: bool = False

    def add(self, phase: str, row: Row, **keys: Any) -> None:
        """Append a row under ``phase`` and record ``keys`` for the JSON line."""
        self.rows.setdefault(phase, []).append(row)
        self.results.update(keys)


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    """The synthetic data: vectors and documents (item i is both), and the queries."""

    vectors: Vectors
    labels: npt.NDArray[np.int64]
    documents: list[str]
    query_vectors: Vectors
    query_texts: list[str]


def unit(x: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length, as float32."""
    out = np.asarray(x, dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def make_corpus(items: int, queries: int, *, seed: int = 7) -> Corpus:
    """``items`` vectors and documents and ``queries`` queries, as the docstring says."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((CLUSTERS, DIMENSIONS), dtype=np.float32))
    spread = rng.uniform(0.5, 1.5, CLUSTERS).astype(np.float32)
    weights = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.8
    weights /= weights.sum()

    def draw(n: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        labels = rng.choice(CLUSTERS, n, p=weights)
        noise = rng.standard_normal((n, DIMENSIONS), dtype=np.float32)
        noise *= spread[labels, None] / np.float32(math.sqrt(DIMENSIONS))
        return unit(noise + centres[labels]), labels

    vectors, labels = draw(items)
    query_vectors, query_labels = draw(queries)
    vocabulary = make_vocabulary(30_000, rng)
    topics = rng.integers(300, len(vocabulary), size=(CLUSTERS, 40))
    zipf = 1.0 / np.arange(1, len(vocabulary) + 1)
    zipf /= zipf.sum()

    def texts(labels: npt.NDArray[np.int64], low: int, high: int, stop: float) -> list[str]:
        lengths = rng.integers(low, high + 1, len(labels))
        total = int(lengths.sum())
        owner = np.repeat(labels, lengths)
        kind = rng.random(total)
        words = rng.choice(len(vocabulary), total, p=zipf)
        topical = kind < 0.35 + stop
        words[topical] = topics[owner[topical], rng.integers(0, 40, int(topical.sum()))]
        tokens = [vocabulary[w] for w in words.tolist()]
        for i in np.flatnonzero(kind < stop).tolist():
            tokens[i] = STOP_WORDS[i % len(STOP_WORDS)]
        ends = np.cumsum(lengths).tolist()
        return [" ".join(tokens[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    documents = texts(labels, 20, 40, 0.15)
    query_texts = texts(query_labels, 3, 6, 0.05)
    return Corpus(vectors, labels, documents, query_vectors, query_texts)


def make_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """``size`` distinct pronounceable pseudo-words of two to four syllables."""
    words: dict[str, None] = {}
    while len(words) < size:
        count = int(rng.integers(2, 5))
        words.setdefault("".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), count)))
    return list(words)


# -- measuring -------------------------------------------------------------------------


def latencies(plan: Plan, queries: int, search: Callable[[int], object]) -> tuple[float, float]:
    """The p50 (median of the rounds' p50s) and p99 in ms of ``search(i)`` per query i."""
    for i in range(min(20, queries)):  # warm-up
        search(i)
    rounds: list[list[float]] = []
    for _ in range(plan.rounds):
        samples = []
        for i in range(queries):
            started = time.perf_counter()
            search(i)
            samples.append((time.perf_counter() - started) * 1e3)
        rounds.append(samples)
    p50 = median([percentile(samples, 0.5) for samples in rounds])
    return p50, percentile([x for samples in rounds for x in samples], 0.99)


def recall_at_10(
    index: VectorIndex,
    queries: Vectors,
    allow: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]] | None = None,
) -> float:
    """Mean share of the exact top 10 that the approximate search returns."""
    hits = 0.0
    for query in queries:
        exact = {doc for doc, _ in index.exact_search(query, 10, allow=allow)}
        found = {doc for doc, _ in index.search(query, 10, allow=allow)}
        hits += len(exact & found) / max(1, len(exact))
    return hits / len(queries)


def bench_index(plan: Plan, report: Report, corpus: Corpus) -> None:
    """The ``index`` phase: build, recall and latency of both indexes, and hybrid search."""
    n = len(corpus.vectors)
    vectors = VectorIndex(DIMENSIONS)
    started = time.perf_counter()
    vectors.add(np.arange(n), corpus.vectors)
    build_s = time.perf_counter() - started
    report.add("index", Row("vector build (one add)", "s", build_s), vector_build_s_100k=build_s)
    report.results["vector_nlist"] = vectors.nlist

    queries = corpus.query_vectors[: plan.queries]
    recall = recall_at_10(vectors, corpus.query_vectors[: plan.recall_queries])
    report.add(
        "index",
        Row("vector recall@10 vs exact", "", recall, ">= 0.95"),
        vector_recall_at_10_vs_exact=recall,
    )
    p50, p99 = latencies(plan, len(queries), lambda i: vectors.search(queries[i], 10))
    report.add("index", Row("vector search p50", "ms", p50, "<= 5"), vector_search_p50_ms_100k=p50)
    report.add("index", Row("vector search p99", "ms", p99), vector_search_p99_ms_100k=p99)

    for share, name in ((0.01, "1pct"), (0.5, "50pct")):
        kept = np.random.default_rng(11).random(n) < share

        def allow(ids: npt.NDArray[np.int64], kept: npt.NDArray[np.bool_] = kept) -> Any:
            return kept[ids]

        recall = recall_at_10(vectors, corpus.query_vectors[: plan.recall_queries // 2], allow)
        p50, _ = latencies(
            plan, len(queries), lambda i: vectors.search(queries[i], 10, allow=allow)
        )
        report.add(
            "index",
            Row(f"vector search, filter keeps {share:.0%}, p50", "ms", p50),
            **{f"vector_filtered_{name}_p50_ms_100k": p50},
        )
        report.add(
            "index",
            Row(f"vector recall@10, filter keeps {share:.0%}", "", recall),
            **{f"vector_filtered_{name}_recall_at_10": recall},
        )

    extra = corpus.query_vectors[-plan.single_adds :]
    started = time.perf_counter()
    for i, vector in enumerate(extra):
        vectors.add([n + i], vector[None, :])
    single_us = (time.perf_counter() - started) / len(extra) * 1e6
    vectors.remove(np.arange(n, n + len(extra)))
    report.add(
        "index", Row("vector add, one at a time", "us", single_us), vector_single_add_us=single_us
    )

    lexical = LexicalIndex()
    started = time.perf_counter()
    for doc, text in enumerate(corpus.documents):
        lexical.add(doc, text)
    build_s = time.perf_counter() - started
    report.add("index", Row("lexical build (add each)", "s", build_s), lexical_build_s_100k=build_s)
    texts = corpus.query_texts[: plan.queries]
    p50, p99 = latencies(plan, len(texts), lambda i: lexical.search(texts[i], 10))
    report.add("index", Row("lexical search p50", "ms", p50), lexical_search_p50_ms_100k=p50)
    report.add("index", Row("lexical search p99", "ms", p99), lexical_search_p99_ms_100k=p99)

    def hybrid(i: int) -> list[tuple[int, float]]:
        by_vector = vectors.search(queries[i], 30)
        by_words = lexical.search(texts[i], 30)
        return rrf([by_vector, by_words], limit=10)

    p50, p99 = latencies(plan, len(queries), hybrid)
    report.add("index", Row("hybrid search p50", "ms", p50, "<= 15"), hybrid_search_p50_ms_100k=p50)
    report.add("index", Row("hybrid search p99", "ms", p99), hybrid_search_p99_ms_100k=p99)


def bench_ingest(plan: Plan, report: Report, corpus: Corpus) -> None:
    """The ``ingest`` phase: memories written and indexed, over raw KV commits.

    On SQLite (fresh files), then on a fresh one-member etcd if it can start here.
    """
    n = plan.ingest_items
    texts, vectors = corpus.documents[:n], corpus.vectors[:n]
    result = measure_ingest(texts, vectors, rounds=plan.rounds)
    keys = (
        "ingest_raw_kv_per_s",
        "ingest_ours_per_s",
        "ingest_vs_kv_ratio",
        "ingest_written_vs_kv_ratio",
    )
    _report_ingest(report, "SQLite", result, keys, ">= 0.5")
    try:
        from nucleusmem.testing.etcd import EtcdServer

        server = EtcdServer().start()
    except Exception as exc:  # no etcd here: say why, measure the rest
        why = str(exc)
        report.add("ingest", Row(f"etcd not run: {why}", "", None), ingest_etcd_unavailable=why)
        return
    try:
        on_etcd = measure_ingest(texts, vectors, rounds=plan.rounds, url=server.url)
    finally:
        server.stop()
    keys = (
        "ingest_raw_etcd_per_s",
        "ingest_ours_etcd_per_s",
        "ingest_vs_kv_ratio_etcd",
        "ingest_written_vs_kv_ratio_etcd",
    )
    _report_ingest(report, "etcd", on_etcd, keys, "")


def _report_ingest(
    report: Report, store: str, result: IngestResult, keys: tuple[str, str, str, str], target: str
) -> None:
    """Rows and keys (raw, ours, ratio, written ratio) of one store's ingest ``result``."""
    raw, ours, ratio, written = keys
    report.add(
        "ingest",
        Row(f"{store}: raw KV commits", "rec/s", result.raw_per_s),
        **{raw: result.raw_per_s},
    )
    report.add(
        "ingest",
        Row(f"{store}: written and indexed", "rec/s", result.ours_per_s),
        **{ours: result.ours_per_s},
    )
    report.add(
        "ingest",
        Row(f"{store}: ours over raw KV", "", result.ratio, target),
        **{ratio: result.ratio},
    )
    report.add(
        "ingest",
        Row(f"{store}: written, no index, over raw KV", "", result.written_ratio),
        **{written: result.written_ratio},
    )


def bench_evidence(plan: Plan, report: Report, corpus: Corpus) -> None:
    """The ``evidence`` phase: the conversation set, technique gains, Mem0 side by side."""
    sessions, questions = (40, 200) if plan.quick else (160, 700)
    conversations = generate(sessions=sessions, turns_per_session=24, questions=questions)
    found = measure_evidence(conversations)
    report.results.update(found)
    for mode in ("lexical", "vector", "hybrid"):
        target = (
            ">= "
            + str(
                round(
                    max(
                        found["evidence_recall_at_10_lexical"],
                        found["evidence_recall_at_10_vector"],
                    ),
                    3,
                )
            )
            if mode == "hybrid"
            else ""
        )
        report.add(
            "evid",
            Row(f"evidence recall@10, {mode}", "", found[f"evidence_recall_at_10_{mode}"], target),
        )
    report.add(
        "evid",
        Row(
            "hybrid without the techniques", "", found["evidence_recall_at_10_hybrid_no_techniques"]
        ),
    )
    for name in TECHNIQUES:
        report.add("evid", Row(f"gain of {name}", "", found[f"technique_gain_{name}"]))
    report.add("evid", Row("our adds, one per call", "/s", found["ours_adds_per_s"]))
    report.add("evid", Row("our hybrid search p50", "ms", found["ours_hybrid_search_p50_ms"]))
    if "mem0_unavailable" in found:
        report.add("evid", Row(f"Mem0 not run: {found['mem0_unavailable']}", "", None))
        return
    add_speedup = found["ours_adds_per_s"] / found["mem0_adds_per_s"]
    search_speedup = found["mem0_search_p50_ms"] / found["ours_hybrid_search_p50_ms"]
    report.add("evid", Row("Mem0 adds, one per call", "/s", found["mem0_adds_per_s"]))
    report.add("evid", Row("Mem0 search p50", "ms", found["mem0_search_p50_ms"]))
    report.add("evid", Row("Mem0 evidence recall@10", "", found["mem0_evidence_recall_at_10"]))
    report.add(
        "evid", Row("add speedup over Mem0", "x", add_speedup, ">= 5"), mem0_add_speedup=add_speedup
    )
    report.add(
        "evid",
        Row("search speedup over Mem0", "x", search_speedup, ">= 2"),
        mem0_search_speedup=search_speedup,
    )


# -- driver ----------------------------------------------------------------------------

KEYS = {
    "index": (
        "vector_build_s_100k",
        "vector_nlist",
        "vector_recall_at_10_vs_exact",
        "vector_search_p50_ms_100k",
        "vector_search_p99_ms_100k",
        "vector_filtered_1pct_p50_ms_100k",
        "vector_filtered_1pct_recall_at_10",
        "vector_filtered_50pct_p50_ms_100k",
        "vector_filtered_50pct_recall_at_10",
        "vector_single_add_us",
        "lexical_build_s_100k",
        "lexical_search_p50_ms_100k",
        "lexical_search_p99_ms_100k",
        "hybrid_search_p50_ms_100k",
        "hybrid_search_p99_ms_100k",
    ),
    "ingest": (
        "ingest_raw_kv_per_s",
        "ingest_ours_per_s",
        "ingest_vs_kv_ratio",
        "ingest_written_vs_kv_ratio",
        "ingest_raw_etcd_per_s",
        "ingest_ours_etcd_per_s",
        "ingest_vs_kv_ratio_etcd",
        "ingest_written_vs_kv_ratio_etcd",
    ),
    "evidence": (
        "evidence_recall_at_10_lexical",
        "evidence_recall_at_10_vector",
        "evidence_recall_at_10_hybrid",
        "evidence_recall_at_10_hybrid_no_techniques",
        *(f"technique_gain_{name}" for name in TECHNIQUES),
        "ours_adds_per_s",
        "ours_hybrid_search_p50_ms",
        "mem0_adds_per_s",
        "mem0_search_p50_ms",
        "mem0_evidence_recall_at_10",
        "mem0_add_speedup",
        "mem0_search_speedup",
    ),
}


def run(plan: Plan, phases: list[str]) -> Report:
    """Make the data, then run the selected phases; a failed phase nulls its keys."""
    report = Report(results={"quick": plan.quick, "phases": phases})
    for phase in PHASES:
        report.results.update(dict.fromkeys(KEYS[phase]))
    started = time.perf_counter()
    corpus = make_corpus(ITEMS, max(plan.queries, plan.recall_queries) + plan.single_adds)
    data_s = time.perf_counter() - started
    report.add("data", Row("make the synthetic corpus", "s", data_s), data_s=data_s)
    benches: dict[str, Callable[[Plan, Report, Corpus], None]] = {
        "index": bench_index,
        "ingest": bench_ingest,
        "evidence": bench_evidence,
    }
    for phase in phases:
        try:
            benches[phase](plan, report, corpus)
        except Exception as exc:
            traceback.print_exc()
            report.failed = True
            report.results.update(dict.fromkeys(KEYS[phase]))
            report.rows[phase] = [Row(f"FAILED: {exc!r}", "", None)]
    return report


def render(report: Report) -> str:
    """The results as a plain-text table, one section per phase."""
    lines = [f"{'phase':<6} {'metric':<40} {'unit':<5} {'value':>10}  target", "-" * 76]
    for phase, rows in report.rows.items():
        for row in rows:
            if row.value is None:
                lines.append(f"{phase:<6} {row.metric}")
                continue
            target = f"{row.target} {row.verdict}".strip()
            lines.append(
                f"{phase:<6} {row.metric:<40} {row.unit:<5} {fmt(row.value):>10}  {target}"
            )
    return "\n".join(lines)


def fmt(value: float) -> str:
    """A number for the table: three significant digits, or none below 1 when large."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer queries, same data")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (default: all)",
    )
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    plan = Plan.make(quick=args.quick)
    started = time.perf_counter()
    report = run(plan, phases)
    report.results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(render(report))
    print(json.dumps(report.results))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
