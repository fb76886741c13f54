"""`LexicalIndex`: BM25 over words, in memory, for documents identified by int ids.

Okapi BM25 with ``k1 = 1.2`` and ``b = 0.75`` and the always-positive idf
``ln(1 + (N - df + 0.5) / (df + 0.5))`` (as Lucene has it). `tokenize` lowercases,
keeps runs of Unicode word characters, drops a short list of English stop words and
strips plural endings, so "Cats" and "cat" match.

Each document is given a slot, numbered in the order documents are added; a term's
postings are two growable arrays (slots, term frequencies) that a search reads as
numpy views and scores in one vectorised step per query term. Removing a document
clears its slot; adding it again takes a new slot. Postings of cleared slots are
dropped, and slots renumbered, once they outnumber live documents.

Concurrency: every method takes the index's lock, so any number of threads may use
it; a search holds it for the few milliseconds it scores.
"""

from __future__ import annotations

import array
import math
import re
import threading
from collections import Counter
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["STOP_WORDS", "LexicalIndex", "tokenize"]

_STOP_WORDS_TEXT = """
a an and are as at be but by for from has have he her his i if in into is it its me my
not of on or our she so than that the their them then there these they this to was we
were what when which who will with you your s t
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
"""Words too common to tell documents apart; they are not indexed or searched."""

_WORD = re.compile(r"\w+")
_STEMS: dict[str, str] = {}
_STEM_CACHE_LIMIT = 500_000
_COMPACT_MIN_DEAD = 1024

Allow = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]


def tokenize(text: str) -> list[str]:
    """The index terms of ``text``: lowercased words, stop words dropped, plurals stemmed."""
    terms = []
    for word in _WORD.findall(text.lower()):
        if word in STOP_WORDS:
            continue
        stem = _STEMS.get(word)
        if stem is None:
            stem = _stem(word)
            if len(_STEMS) < _STEM_CACHE_LIMIT:
                _STEMS[word] = stem
        terms.append(stem)
    return terms


def _best(scores: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` highest ``scores``, highest first."""
    if count < len(scores):
        top = np.argpartition(-scores, count - 1)[:count]
        return top[np.argsort(-scores[top], kind="stable")]
    return np.argsort(-scores, kind="stable")


def _stem(word: str) -> str:
    """A light plural stemmer (after Harman, 1991): "queries" -> "query", "cats" -> "cat"."""
    if len(word) <= 3 or word[-1] != "s" or not word.isalpha():
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


class LexicalIndex:
    """BM25 ranking of documents (int ids) by the words they share with a query.

    ``k1`` saturates term frequency and ``b`` normalises for document length, as in
    the standard formula.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._lock = threading.Lock()
        self._terms: dict[str, int] = {}
        self._slots: list[array.array[int]] = []
        """Per term: the slots of the documents holding it, in slot order."""
        self._freqs: list[array.array[float]] = []
        """Per term: how often each of those documents holds it."""
        self._df: list[int] = []
        """Per term: how many live documents hold it."""
        self._slot_of: dict[int, int] = {}
        self._ids = array.array("q")
        self._lengths = array.array("f")
        self._alive = bytearray()
        self._doc_terms: list[array.array[int] | None] = []
        self._total_length = 0
        self._dead = 0

    def __len__(self) -> int:
        """How many documents the index holds."""
        return len(self._slot_of)

    def __contains__(self, doc: object) -> bool:
        """Whether the document ``doc`` is indexed."""
        return doc in self._slot_of

    def add(self, doc: int, text: str) -> None:
        """Index ``text`` as document ``doc``, replacing what ``doc`` held before."""
        terms = tokenize(text)
        with self._lock:
            if doc in self._slot_of:
                self._forget(doc)
            slot = len(self._ids)
            ids: list[int] = []
            for term, count in Counter(terms).items():
                term_id = self._terms.get(term)
                if term_id is None:
                    term_id = self._terms[term] = len(self._df)
                    self._slots.append(array.array("i"))
                    self._freqs.append(array.array("f"))
                    self._df.append(0)
                self._slots[term_id].append(slot)
                self._freqs[term_id].append(count)
                self._df[term_id] += 1
                ids.append(term_id)
            self._slot_of[doc] = slot
            self._ids.append(doc)
            self._lengths.append(len(terms))
            self._alive.append(1)
            self._doc_terms.append(array.array("i", ids))
            self._total_length += len(terms)

    def document_frequency(self, term: str) -> int:
        """How many live documents hold ``term`` (a token as `tokenize` makes them)."""
        term_id = self._terms.get(term)
        return 0 if term_id is None else self._df[term_id]

    def remove(self, doc: int) -> None:
        """Forget document ``doc`` (nothing happens if it is not indexed)."""
        with self._lock:
            if doc in self._slot_of:
                self._forget(doc)
                if self._dead >= _COMPACT_MIN_DEAD and self._dead > len(self._slot_of):
                    self._compact()

    def search(self, query: str, k: int, *, allow: Allow | None = None) -> list[tuple[int, float]]:
        """The ``k`` best (id, BM25 score) pairs for ``query``, best first.

        Only documents sharing a term with the query are returned. ``allow`` is
        given candidate ids and keeps those it marks True; ``k`` results come back
        whenever ``k`` allowed documents match.
        """
        query_terms = Counter(tokenize(query))
        if k <= 0 or not query_terms:
            return []
        with self._lock:
            live = len(self._slot_of)
            if not live:
                return []
            scores = self._score(query_terms, live)
            candidates = np.flatnonzero(scores)
            candidate_ids = np.frombuffer(self._ids, dtype=np.int64)[candidates]
        if not len(candidates):
            return []
        candidate_scores = scores[candidates]
        if allow is not None:
            first = _best(candidate_scores, max(4 * k, 64))
            keep = np.asarray(allow(candidate_ids[first]), dtype=bool)
            if int(keep.sum()) >= k or len(first) == len(candidates):
                first = first[keep]
            else:  # a selective filter: ask about every candidate
                keep = np.asarray(allow(candidate_ids), dtype=bool)
                candidate_ids, candidate_scores = candidate_ids[keep], candidate_scores[keep]
                first = _best(candidate_scores, k)
            order = first[:k]
        else:
            order = _best(candidate_scores, k)
        return list(
            zip(candidate_ids[order].tolist(), candidate_scores[order].tolist(), strict=True)
        )

    def _score(self, query_terms: Counter[str], live: int) -> npt.NDArray[np.float32]:
        """BM25 of every slot for these query terms (0 where none occurs); lock held."""
        scores = np.zeros(len(self._ids), dtype=np.float32)
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        average = self._total_length / live or 1.0
        k1, b = self.k1, self.b
        for term, count in query_terms.items():
            term_id = self._terms.get(term)
            if term_id is None or not self._df[term_id]:
                continue
            df = self._df[term_id]
            idf = math.log(1.0 + (live - df + 0.5) / (df + 0.5))
            slots = np.frombuffer(self._slots[term_id], dtype=np.int32)
            freqs = np.frombuffer(self._freqs[term_id], dtype=np.float32)
            norm = lengths[slots] * np.float32(k1 * b / average) + np.float32(k1 * (1 - b))
            scores[slots] += np.float32(count * idf * (k1 + 1)) * freqs / (freqs + norm)
        if self._dead:
            scores *= np.frombuffer(self._alive, dtype=np.uint8)
        return scores

    def _forget(self, doc: int) -> None:
        """Clear ``doc``'s slot and take its terms out of the counts; lock held."""
        slot = self._slot_of.pop(doc)
        self._alive[slot] = 0
        terms = self._doc_terms[slot]
        self._doc_terms[slot] = None
        for term_id in terms or ():
            self._df[term_id] -= 1
        self._total_length -= int(self._lengths[slot])
        self._dead += 1

    def _compact(self) -> None:
        """Drop cleared slots from every posting and renumber the rest; lock held."""
        alive = np.frombuffer(self._alive, dtype=np.uint8).astype(bool)
        renumber = np.cumsum(alive, dtype=np.int64) - 1
        for term_id, slots_buffer in enumerate(self._slots):
            slots = np.frombuffer(slots_buffer, dtype=np.int32)
            keep = alive[slots]
            if keep.all():
                fresh_slots = renumber[slots].astype(np.int32)
                fresh_freqs = self._freqs[term_id]
            else:
                fresh_slots = renumber[slots[keep]].astype(np.int32)
                freqs = np.frombuffer(self._freqs[term_id], dtype=np.float32)
                fresh_freqs = array.array("f", freqs[keep].tobytes())
            del slots
            self._slots[term_id] = array.array("i", fresh_slots.tobytes())
            self._freqs[term_id] = fresh_freqs
        ids = np.frombuffer(self._ids, dtype=np.int64)[alive]
        lengths = np.frombuffer(self._lengths, dtype=np.float32)[alive]
        self._ids = array.array("q", ids.tobytes())
        self._lengths = array.array("f", lengths.tobytes())
        self._alive = bytearray(b"\x01" * len(ids))
        self._doc_terms = [terms for terms in self._doc_terms if terms is not None]
        self._slot_of = {doc: slot for slot, doc in enumerate(self._ids)}
        self._dead = 0
