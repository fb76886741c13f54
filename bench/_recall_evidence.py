"""Evidence recall on the generated conversation set, each technique's gain, and Mem0.

The set (`_conversations.generate`) is written into a space as an agent would: each turn
a record of the memory region (thread = its session, metadata ``time`` and ``role``),
each session summary a record of the summary region (metadata ``sources``: its turns).
Every text is embedded once with all-MiniLM-L6-v2 (`MiniLMEmbedder`), and both systems
then look those vectors up (`LookupEmbedder`), so embedding costs neither side anything
and both rank identical vectors.

Measured:

- evidence recall@10 per mode: the share of questions with an evidence turn among the
  first 10 keys returned. ``vector`` and ``lexical`` are the plain rankings; ``hybrid``
  is the full search, with every `Techniques` flag on. Each technique's gain is the
  hybrid recall with it minus the hybrid recall without it (the others on).
- our adds: one record per write call (as Mem0 adds one memory per call), on a fresh
  SQLite file, until all are indexed; our search: `RecallService.search` latency.
- Mem0 (`_mem0_peer.run_mem0`): adds per second, search latency and evidence recall@10
  of the same turns (summaries are not given to Mem0: it has no notion of them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _conversations import ConversationSet, by_category, evidence_recall_at_k
from _recall_ingest import LookupEmbedder
from nucleusmem.kv import open_store
from nucleusmem.recall._service import RecallService
from nucleusmem.recall._space_index import SpaceIndex, Techniques
from nucleusmem.space import DataRegion, MemSpaceService, RecordWrite

__all__ = ["TECHNIQUES", "measure_evidence"]

TECHNIQUES = tuple(f.name for f in dataclasses.fields(Techniques))


def measure_evidence(conversations: ConversationSet, *, mem0: bool = True) -> dict[str, Any]:
    """Every figure of the module docstring, as JSON keys."""
    from nucleusmem.recall import MiniLMEmbedder

    texts = [t.text for t in conversations.turns]
    texts += [s.text for s in conversations.summaries]
    texts += [q.text for q in conversations.questions]
    unique = list(dict.fromkeys(texts))
    started = time.perf_counter()
    vectors = MiniLMEmbedder().embed(unique)
    out: dict[str, Any] = {"evidence_embed_s": time.perf_counter() - started}
    lookup = LookupEmbedder(dict(zip(unique, vectors, strict=True)), vectors.shape[1])
    out.update(asyncio.run(_ours(conversations, lookup)))
    if mem0:
        out.update(_mem0(conversations, lookup))
    return out


def _writes(conversations: ConversationSet) -> tuple[list[RecordWrite], list[RecordWrite]]:
    turns = [
        RecordWrite(
            key=t.key,
            content=t.text,
            thread=t.session,
            metadata={"time": t.time.isoformat(), "role": t.role},
        )
        for t in conversations.turns
    ]
    summaries = [
        RecordWrite(key=s.key, content=s.text, thread=s.session, metadata={"sources": s.sources})
        for s in conversations.summaries
    ]
    return turns, summaries


async def _ours(conversations: ConversationSet, lookup: LookupEmbedder) -> dict[str, Any]:
    turns, summaries = _writes(conversations)
    questions = conversations.questions
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="recall-evidence-") as tmp:
        async with (
            open_store(f"sqlite://{Path(tmp) / 'conv.db'}") as store,
            MemSpaceService(store, retention_interval_s=None) as service,
        ):
            recall = RecallService(service, embedder=lookup)
            session = service.session("bench")
            await session.create_space("conv")
            await recall.search("bench", "conv", "open the index")
            index: SpaceIndex = await recall._index("conv")
            started = time.perf_counter()
            last = 0
            for write in turns:  # one memory per call, as a Mem0 user adds them
                last = (await session.write("conv", [write], region=DataRegion.MEMORY))[0].revision
            await index.wait_for(last, timeout_s=600)
            out["ours_adds_per_s"] = len(turns) / (time.perf_counter() - started)
            for i in range(0, len(summaries), 100):
                await session.write("conv", summaries[i : i + 100], region=DataRegion.SUMMARY)

            async def ranked(mode: str) -> tuple[list[list[str]], list[float]]:
                keys, took = [], []
                for q in questions:
                    began = time.perf_counter()
                    hits = await recall.search(
                        "bench", "conv", q.text, k=10, mode=mode, now=q.asked_at
                    )
                    took.append((time.perf_counter() - began) * 1e3)
                    keys.append([h.key for h in hits])
                return keys, took

            for mode in ("lexical", "vector", "hybrid"):
                keys, took = await ranked(mode)
                out[f"evidence_recall_at_10_{mode}"] = evidence_recall_at_k(questions, keys)
                out[f"ours_{mode}_search_p50_ms"] = statistics.median(took)
                if mode == "hybrid":
                    out["evidence_recall_at_10_hybrid_by_category"] = {
                        c: round(v, 3) for c, v in by_category(questions, keys).items()
                    }
            full = out["evidence_recall_at_10_hybrid"]
            for name in TECHNIQUES:
                index.techniques = dataclasses.replace(Techniques(), **{name: False})
                keys, _ = await ranked("hybrid")
                out[f"technique_gain_{name}"] = full - evidence_recall_at_k(questions, keys)
            index.techniques = Techniques(**dict.fromkeys(TECHNIQUES, False))
            keys, _ = await ranked("hybrid")
            out["evidence_recall_at_10_hybrid_no_techniques"] = evidence_recall_at_k(
                questions, keys
            )
            index.techniques = Techniques()
            await recall.aclose()
    return out


def _mem0(conversations: ConversationSet, lookup: LookupEmbedder) -> dict[str, Any]:
    import _mem0_peer

    reason = _mem0_peer.mem0_unavailable_reason()
    if reason is not None:
        return {"mem0_unavailable": reason}
    turns = conversations.turns
    questions = conversations.questions
    with tempfile.TemporaryDirectory(prefix="recall-mem0-") as tmp:
        result = _mem0_peer.run_mem0(
            [t.key for t in turns],
            [t.text for t in turns],
            [{"session": t.session} for t in turns],
            lookup.embed([t.text for t in turns]),
            [q.text for q in questions],
            lookup.embed([q.text for q in questions]),
            k=10,
            workdir=Path(tmp),
        )
    return {
        "mem0_version": result.version,
        "mem0_adds_per_s": result.adds_per_s,
        "mem0_search_p50_ms": result.search_p50_ms,
        "mem0_evidence_recall_at_10": evidence_recall_at_k(questions, result.ranked),
        "mem0_by_category": {
            c: round(v, 3) for c, v in by_category(questions, result.ranked).items()
        },
    }
