"""`LexicalIndex`: BM25 over words, in memory, for documents identified by int ids.

Okapi BM25 with ``k1 = 1.2`` and ``b = 0.75`` and the always-positive idf
``ln(1 + (N - df + 0.5) / (df + 0.5))`` (as Lucene has it). `tokenize` lowercases,
keeps runs of Unicode word characters, drops a short list of English stop words and
strips plural endings, so "Cats" and "cat" match.

Each document is given a slot, numbered in the order documents are added; a term's
postings are one growable array of (slot, term frequency) pairs that a search reads
as a numpy view and scores in one vectorised step per query term. `LexicalIndex.add_many`
tokenizes a batch in one pass and, past a few hundred words, counts its terms with
numpy and extends each term's postings once for the whole batch. Removing a document
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
from collections.abc import Callable, Sequence
from itertools import repeat

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
_MARK = "\x00"
"""Follows each text's words in a batch; no word contains it."""
_ASCII_WORDS = bytes(
    ord(char.lower()) if _WORD.fullmatch(char) else ord(" ") for char in map(chr, range(128))
) + bytes(range(128, 256))
"""A `bytes.translate` table: ASCII word bytes lowercased, other ASCII bytes blank."""
_ASCII_WORDS_MARKED = _MARK.encode() + _ASCII_WORDS[1:]
"""`_ASCII_WORDS`, keeping `_MARK`."""
_STEM_CACHE_LIMIT = 500_000
_VECTORISE_MIN_TERMS = 400  # below it, numpy's fixed cost outweighs what it saves
_COMPACT_MIN_DEAD = 1024

Allow = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]


class _TermCache(dict[str, str]):
    """Word -> its index term, or "" for a stop word; learns up to a limit of words."""

    def __missing__(self, word: str) -> str:
        term = "" if word in STOP_WORDS else _stem(word)
        if len(self) < _STEM_CACHE_LIMIT:
            self[word] = term
        return term


_TERMS = _TermCache(dict.fromkeys(STOP_WORDS, ""))
_TERMS[_MARK] = _MARK  # so a batch's marks stay in place among its terms


def tokenize(text: str) -> list[str]:
    """The index terms of ``text``: lowercased words, stop words dropped, plurals stemmed."""
    return list(filter(None, map(_TERMS.__getitem__, _words(text))))


def _tokenize_many(texts: Sequence[str]) -> list[str]:
    """The terms of each of ``texts`` as `tokenize` makes them, each followed by `_MARK`."""
    joined = f" {_MARK} ".join([*texts, ""])
    if joined.isascii() and joined.count(_MARK) == len(texts):
        words = joined.encode("ascii").translate(_ASCII_WORDS_MARKED).decode("ascii").split()
    else:  # not ASCII, or a text holds a _MARK of its own: one text at a time
        words = []
        for text in texts:
            words += _words(text)
            words.append(_MARK)
    return list(filter(None, map(_TERMS.__getitem__, words)))


def _words(text: str) -> list[str]:
    """The runs of word characters in ``text.lower()``.

    ASCII text takes one table lookup per byte, which lowercases it and blanks the
    non-word bytes, and a split on blanks: two to three times as fast as the regex.
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(text.lower())


def _best(scores: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` highest ``scores``, highest first."""
    if count < len(scores):
        top = np.argpartition(-scores, count - 1)[:count]
        return top[np.argsort(-scores[top], kind="stable")]
    return np.argsort(-scores, kind="stable")


def _runs(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Where each run of equal ``values`` (sorted) starts, and where it ends."""
    if not len(values):
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.concatenate(([0], change)), np.concatenate((change, [len(values)]))


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


class _Vocabulary(dict[str, int]):
    """Term -> id, with each term's postings; ``vocabulary[term]`` learns a new term.

    `_MARK` is there as -1, so coding a batch's terms also finds where each text ends.
    """

    def __init__(self) -> None:
        super().__init__({_MARK: -1})
        self.postings: list[array.array[int]] = []
        """Per term: (slot, term frequency) of each document holding it, flat, in slot order."""
        self.gone: list[int] = []
        """Per term: how many of those documents are removed."""

    def __missing__(self, term: str) -> int:
        term_id = len(self.postings)
        self.postings.append(array.array("i"))
        self.gone.append(0)
        self[term] = term_id
        return term_id


class LexicalIndex:
    """BM25 ranking of documents (int ids) by the words they share with a query.

    ``k1`` saturates term frequency and ``b`` normalises for document length, as in
    the standard formula.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._lock = threading.Lock()
        self._terms = _Vocabulary()
        self._slot_of: dict[int, int] = {}
        self._ids = array.array("q")
        self._lengths = array.array("f")
        self._alive = bytearray()
        self._doc_terms = array.array("i")
        """Per slot, one after another: the terms of its document (some maybe twice)."""
        self._doc_bounds = array.array("q", [0])
        """Slot ``s`` holds ``_doc_terms[_doc_bounds[s]:_doc_bounds[s + 1]]``."""
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
            self._append(doc, terms)

    def add_many(self, docs: Sequence[int], texts: Sequence[str]) -> None:
        """Index each of ``texts`` as the document in the same place of ``docs``.

        The same as `add` of each pair in turn, so a document named twice, or already
        indexed, keeps its last text; but the lock is taken once, and a batch of more
        than a few hundred words is counted with numpy, for less per document.
        """
        if len(docs) != len(texts):
            raise ValueError(f"add_many got {len(docs)} docs and {len(texts)} texts")
        ids = array.array("q", docs).tolist()  # ints, checked before anything changes
        if len(set(ids)) < len(ids):  # a document's last text counts, in its place
            last = sorted({doc: place for place, doc in enumerate(ids)}.values())
            ids, texts = [ids[place] for place in last], [texts[place] for place in last]
        terms = _tokenize_many(texts)
        with self._lock:
            for doc in self._slot_of.keys() & ids:
                self._forget(doc)
            if len(terms) >= _VECTORISE_MIN_TERMS:
                self._append_many(ids, terms)
                return
            start = 0
            for doc in ids:
                end = terms.index(_MARK, start)
                self._append(doc, terms[start:end])
                start = end + 1

    def document_frequency(self, term: str) -> int:
        """How many live documents hold ``term`` (a token as `tokenize` makes them)."""
        with self._lock:
            return self._holders(self._terms.get(term, -1))

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
            term_id = self._terms.get(term, -1)
            df = self._holders(term_id)
            if not df:
                continue
            idf = math.log(1.0 + (live - df + 0.5) / (df + 0.5))
            postings = np.frombuffer(self._terms.postings[term_id], dtype=np.int32)
            slots = postings[0::2]
            freqs = postings[1::2].astype(np.float32)
            norm = lengths[slots] * np.float32(k1 * b / average) + np.float32(k1 * (1 - b))
            scores[slots] += np.float32(count * idf * (k1 + 1)) * freqs / (freqs + norm)
        if self._dead:
            scores *= np.frombuffer(self._alive, dtype=np.uint8)
        return scores

    def _holders(self, term_id: int) -> int:
        """How many live documents hold term ``term_id`` (none if it is -1); lock held."""
        if term_id < 0:
            return 0
        return len(self._terms.postings[term_id]) // 2 - self._terms.gone[term_id]

    def _append(self, doc: int, terms: list[str]) -> None:
        """Give ``doc`` (not indexed) the next slot and post its ``terms``; lock held."""
        slot = len(self._ids)
        self._ids.append(doc)  # first: a doc that is no int stops here, changing nothing
        postings = self._terms.postings
        if len(set(terms)) == len(terms):  # the usual case: each term once
            term_ids = list(map(self._terms.__getitem__, terms))
            once = array.array("i", (slot, 1))
            for term_id in term_ids:
                postings[term_id].extend(once)
        else:
            counts = Counter(terms)
            term_ids = list(map(self._terms.__getitem__, counts))
            for term_id, count in zip(term_ids, counts.values(), strict=True):
                postings[term_id].extend((slot, count))
        self._doc_terms.fromlist(term_ids)
        self._doc_bounds.append(len(self._doc_terms))
        self._slot_of[doc] = slot
        self._lengths.append(len(terms))
        self._alive.append(1)
        self._total_length += len(terms)

    def _append_many(self, docs: list[int], terms: list[str]) -> None:
        """`_append` of each of ``docs``, their ``terms`` as `_tokenize_many` makes them.

        Counts terms with numpy and extends each term's postings once; lock held.
        """
        first_slot, width = len(self._ids), len(docs) + 1
        # new terms are learned in order, as `_append` learns them; a mark is -1
        coded = np.fromiter(map(self._terms.__getitem__, terms), np.int64, len(terms))
        is_mark = coded < 0
        marks = np.flatnonzero(is_mark)
        # (term, document) keys, by term and then by document; a mark's is negative
        keys = np.sort(coded * width + np.cumsum(is_mark))[len(docs) :]
        pair_starts, pair_ends = _runs(keys)
        pair_term, pair_doc = np.divmod(keys[pair_starts], width)
        posted = np.empty((len(pair_starts), 2), dtype=np.int32)
        posted[:, 0] = pair_doc + first_slot
        posted[:, 1] = pair_ends - pair_starts
        posted_bytes = posted.tobytes()
        postings = self._terms.postings
        term_starts, term_ends = _runs(pair_term)
        for term_id, start, end in zip(
            pair_term[term_starts].tolist(),
            (term_starts * 8).tolist(),  # in bytes: a posting is two int32
            (term_ends * 8).tolist(),
            strict=True,
        ):
            postings[term_id].frombytes(posted_bytes[start:end])
        words_so_far = marks - np.arange(len(docs))  # up to the end of each document
        self._doc_terms.frombytes(coded[~is_mark].astype(np.int32).tobytes())
        self._doc_bounds.frombytes((words_so_far + self._doc_bounds[-1]).tobytes())
        self._slot_of.update(zip(docs, range(first_slot, first_slot + len(docs)), strict=True))
        self._ids.extend(docs)
        lengths = words_so_far.copy()
        lengths[1:] -= words_so_far[:-1]
        self._lengths.frombytes(lengths.astype(np.float32).tobytes())
        self._alive += b"\x01" * len(docs)
        self._total_length += len(terms) - len(docs)

    def _forget(self, doc: int) -> None:
        """Clear ``doc``'s slot and count its terms' postings as gone; lock held."""
        slot = self._slot_of.pop(doc)
        self._alive[slot] = 0
        gone = self._terms.gone
        for term_id in set(self._doc_terms[self._doc_bounds[slot] : self._doc_bounds[slot + 1]]):
            gone[term_id] += 1
        self._total_length -= int(self._lengths[slot])
        self._dead += 1

    def _compact(self) -> None:
        """Drop cleared slots from every posting and renumber the rest; lock held."""
        alive = np.frombuffer(self._alive, dtype=np.uint8).astype(bool)
        renumber = np.cumsum(alive, dtype=np.int32) - 1
        postings = self._terms.postings
        for term_id, term_postings in enumerate(postings):
            pairs = np.frombuffer(term_postings, dtype=np.int32).reshape(-1, 2)
            pairs = pairs[alive[pairs[:, 0]]] if self._terms.gone[term_id] else pairs.copy()
            pairs[:, 0] = renumber[pairs[:, 0]]
            postings[term_id] = array.array("i", pairs.tobytes())
        self._terms.gone[:] = repeat(0, len(postings))
        ids = np.frombuffer(self._ids, dtype=np.int64)[alive]
        lengths = np.frombuffer(self._lengths, dtype=np.float32)[alive]
        bounds = np.frombuffer(self._doc_bounds, dtype=np.int64)
        held = bounds[1:] - bounds[:-1]
        doc_terms = np.frombuffer(self._doc_terms, dtype=np.int32)[np.repeat(alive, held)]
        self._ids = array.array("q", ids.tobytes())
        self._lengths = array.array("f", lengths.tobytes())
        self._alive = bytearray(b"\x01" * len(ids))
        self._doc_terms = array.array("i", doc_terms.tobytes())
        self._doc_bounds = array.array("q", [0])
        self._doc_bounds.frombytes(np.cumsum(held[alive]).tobytes())
        self._slot_of = {doc: slot for slot, doc in enumerate(self._ids)}
        self._dead = 0
