"""`LexicalIndex`: BM25 over words, in memory, for documents identified by int ids.

Okapi BM25 with ``k1 = 1.2`` and ``b = 0.75`` and the always-positive idf
``ln(1 + (N - df + 0.5) / (df + 0.5))`` (as Lucene has it). `tokenize` lowercases,
keeps runs of Unicode word characters, drops a short list of English stop words and
strips plural endings, so "Cats" and "cat" match.

Each document is given a slot, numbered in the order documents are added, and its
words are kept as term ids, one document after another. The newest documents are
the tail; the others' postings (term, slot, term frequency) are in segments: numpy
arrays sorted by term, never changed once made, where binary search finds a term.
Once the tail holds a few thousand words (a large batch fills it at once) it is
sorted into a segment, and segments are merged as in a log-structured merge tree:
when four of about the same size pile up at the end, or a newer one outgrows an
older one. So a search visits a few segments per fourfold growth of the index, and
the tail: it looks through the tail's words, or, from the second search since the
tail last changed, at the tail sorted into a segment.

`LexicalIndex.add` takes a dict lookup per word. `LexicalIndex.add_many` codes a batch
of more than a few hundred words with numpy: it cuts an ASCII batch into words and
looks each word of up to 16 bytes up by its bytes in a `_WordTable`; other words and
batches take the dict lookups. Each term counts the documents in segments that hold
it; the tail's are counted when it is searched.

Removing a document clears its slot; adding it again takes a new slot. Merges drop
the postings of cleared slots; once cleared slots outnumber live documents, all
postings are merged into one segment and slots renumbered.

Concurrency: every method takes the index's lock, so any number of threads may use
it; a search holds it for the few milliseconds it scores, and a write for the merges
it sets off (tens of milliseconds at most at 100k documents).
"""

from __future__ import annotations

import array
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
_BATCH_MARK = "\x01"
_ASCII_WORDS_BATCH = _BATCH_MARK.encode() + _ASCII_WORDS[1:]
"""`_ASCII_WORDS`, making `_MARK` the one-byte word `_BATCH_MARK` (which it blanks)."""
_STEM_CACHE_LIMIT = 500_000
_VECTORISE_MIN_TERMS = 400  # below it, numpy's fixed cost outweighs what it saves
_VECTORISE_MIN_CHARS = 3_000  # about as many words, stop words included
_TAIL_WORDS = 4_096
_MERGE_FAN_IN_BITS = 2
_MERGE_FAN_IN = 1 << _MERGE_FAN_IN_BITS
_LEVEL_POSTINGS = 2_048
"""Segments of level 0 hold fewer than `_MERGE_FAN_IN` times this many postings, and each
level up `_MERGE_FAN_IN` times as many."""
_COMPACT_MIN_DEAD = 1024

_UNKNOWN = -2
"""A word's code when the `_WordTable` does not hold it."""
_SHORT_WORD_BYTES = 16
_FIRST_BYTES = np.array([(1 << 8 * min(n, 8)) - 1 for n in range(18)], dtype=np.uint64)
_SECOND_BYTES = np.array([(1 << 8 * min(max(n - 8, 0), 8)) - 1 for n in range(18)], np.uint64)
_LONG_WORD = np.array([0] * 17 + [1 << 63], dtype=np.uint64)
"""Per word length up to 17 (longer words count as 17): which of its bytes each key
holds, and the flag that sets a word longer than 16 bytes apart from shorter ones."""
_MIX_FIRST = np.uint64(0x9E3779B97F4A7C15)
_MIX_SECOND = np.uint64(0xC2B2AE3D27D4EB4F)
_WORD_TABLE_LIMIT = 1 << 18
_MAX_DISPLACEMENT = 3
"""How far past its home slot the `_WordTable` may hold a word."""

Allow = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]
Ids = npt.NDArray[np.int32]
Keys = npt.NDArray[np.uint64]
Freqs = npt.NDArray[np.float32]


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


def _best(negated: Freqs, count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` highest scores, highest first, given the scores negated."""
    if count < len(negated):
        top = np.argpartition(negated, count - 1)[:count]
        return top[np.argsort(negated[top], kind="stable")]
    return np.argsort(negated, kind="stable")


def _runs(values: npt.NDArray[np.int64] | Ids) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Where each run of equal ``values`` starts, and how long it is."""
    if not len(values):
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    edges = np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1, [len(values)]))
    return edges[:-1], edges[1:] - edges[:-1]


# -- coding a batch's words -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BatchWords:
    """The words of a batch of ASCII texts, each text's words followed by a mark.

    ``text`` is the batch lowercased, other bytes blank, each mark the word
    `_BATCH_MARK`; word ``i`` is ``text[starts[i]:ends[i]]``. Its keys ``first`` and
    ``second`` are its bytes 0-7 and 8-15 as little-endian integers, zero-padded, with
    the top bit of ``first`` set if it is longer than 16 bytes: no two words of up to
    16 bytes share both keys, and no word has a ``first`` of 0. ``mixed`` is `_mix`
    of the two.
    """

    text: bytes
    starts: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]
    first: Keys
    second: Keys
    mixed: Keys

    @classmethod
    def of(cls, texts: Sequence[str]) -> _BatchWords | None:
        """The words of ``texts``; None unless they are ASCII, without marks, and many."""
        joined = " " + f" {_MARK} ".join([*texts, " " * _SHORT_WORD_BYTES])  # TypeError here
        if len(joined) < _VECTORISE_MIN_CHARS or not joined.isascii():
            return None
        if joined.count(_MARK) != len(texts):  # a text holds a _MARK of its own
            return None
        text = joined.encode("ascii").translate(_ASCII_WORDS_BATCH)
        is_word = np.frombuffer(text, dtype=np.uint8) != ord(" ")
        edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
        starts, ends = edges[0::2], edges[1::2]
        lengths = np.minimum(ends - starts, _SHORT_WORD_BYTES + 1)
        eight = np.ndarray((len(text) - 7,), dtype="<u8", buffer=text, strides=(1,))
        first = eight[starts] & _FIRST_BYTES[lengths] | _LONG_WORD[lengths]
        second = eight[starts + 8] & _SECOND_BYTES[lengths]  # the padding keeps it in
        return cls(text, starts, ends, first, second, _mix(first, second))

    def cut(self, positions: npt.NDArray[np.intp]) -> list[str]:
        """The words at ``positions``, as strings."""
        starts = self.starts[positions]
        spans = self.ends[positions] - starts + 1  # a word and the blank after it
        picks = np.arange(int(spans.sum())) + np.repeat(starts - (np.cumsum(spans) - spans), spans)
        text: str = np.frombuffer(self.text, dtype=np.uint8)[picks].tobytes().decode("ascii")
        return text.split()


def _keys(words: list[str]) -> tuple[Keys, Keys]:
    """The `_BatchWords` keys of ``words`` (up to 16 bytes each, as a batch holds them)."""
    padded = b"".join(word.encode("ascii").ljust(_SHORT_WORD_BYTES, b"\0") for word in words)
    keys = np.frombuffer(padded, dtype="<u8").astype(np.uint64)
    return keys[0::2].copy(), keys[1::2].copy()


def _mix(first: Keys, second: Keys) -> Keys:
    """A hash of each word's keys, good in its top bits (Fibonacci hashing)."""
    mixed = first * _MIX_FIRST
    mixed ^= second * _MIX_SECOND
    return mixed


class _WordTable:
    """Term ids of ASCII words of up to 16 bytes, looked up a whole batch at a time.

    A word is its two keys (`_BatchWords`), so a batch finds its words' ids with a
    few numpy steps instead of a dict lookup per word. Open addressing with linear
    probing, a quarter to half full; a slot whose first key is 0 is free. A word is
    held in its home slot or one of the `_MAX_DISPLACEMENT` after it, or not at all
    (a rare word that finds them all taken is looked up in the dict each time).
    """

    def __init__(self) -> None:
        self.first: Keys = np.zeros(1 << 10, dtype=np.uint64)
        self.second: Keys = np.zeros(1 << 10, dtype=np.uint64)
        self.ids: Ids = np.zeros(1 << 10, dtype=np.int32)
        self.size = 0

    def find(self, first: Keys, second: Keys, mixed: Keys) -> Ids:
        """The term id of each word (keys ``first`` and ``second``, hash ``mixed``), or
        `_UNKNOWN`."""
        mask = len(self.first) - 1
        spots = self._home(mixed)
        held = self.first[spots]
        found = held == first
        found &= self.second[spots] == second
        codes = np.where(found, self.ids[spots], np.int32(_UNKNOWN))
        found |= held == 0
        pending = np.flatnonzero(~found)  # not at home, maybe a little after
        spots = spots[pending]
        for _ in range(_MAX_DISPLACEMENT):
            if not len(pending):
                break
            spots = (spots + 1) & mask
            held = self.first[spots]
            found = held == first[pending]
            found &= self.second[spots] == second[pending]
            codes[pending[found]] = self.ids[spots[found]]
            found |= held == 0
            pending, spots = pending[~found], spots[~found]
        return codes

    def learn(self, first: Keys, second: Keys, mixed: Keys, ids: Ids) -> None:
        """Hold these words (some maybe twice, or held already) and their term ids."""
        room = max(_WORD_TABLE_LIMIT - self.size, 0)
        first, second, mixed, ids = first[:room], second[:room], mixed[:room], ids[:room]
        if 2 * (self.size + len(first)) > len(self.first):
            self._grow(self.size + len(first))
        home = self._home(mixed)
        pending = np.arange(len(first))
        for step in range(_MAX_DISPLACEMENT + 1):
            spots = (home[pending] + step) & (len(self.first) - 1)
            free = self.first[spots] == 0
            claims, claimed = pending[free], spots[free]
            self.ids[claimed] = claims  # of words claiming one slot, the last wins it
            won = self.ids[claimed] == claims
            taken, words = claimed[won], claims[won]
            self.first[taken], self.second[taken] = first[words], second[words]
            self.ids[taken] = ids[words]
            self.size += len(taken)
            held = self.first[spots] == first[pending]
            held &= self.second[spots] == second[pending]
            pending = pending[~held]
            if not len(pending):
                return

    def _home(self, mixed: Keys) -> npt.NDArray[np.int64]:
        """Each word's home slot: the top bits of its hash ``mixed``."""
        bits = len(self.first).bit_length() - 1
        return (mixed >> np.uint64(64 - bits)).view(np.int64)

    def _grow(self, words: int) -> None:
        """Make room for ``words`` words, a quarter full, keeping those held."""
        held = np.flatnonzero(self.first)
        first, second, ids = self.first[held], self.second[held], self.ids[held]
        capacity = 1 << (4 * words - 1).bit_length()
        self.first = np.zeros(capacity, dtype=np.uint64)
        self.second = np.zeros(capacity, dtype=np.uint64)
        self.ids = np.zeros(capacity, dtype=np.int32)
        self.size = 0
        self.learn(first, second, _mix(first, second), ids)


class _Vocabulary(dict[str, int]):
    """Term -> id; ``vocabulary[term]`` learns a new term.

    "" (what `_TERMS` makes of a stop word) is 0 and `_MARK` is -1, so coding a batch's
    words drops its stop words and finds where each text ends. ``words`` holds the
    ids of ASCII words, for `code`.
    """

    def __init__(self) -> None:
        super().__init__({"": 0, _MARK: -1})
        self.holders = array.array("q", [0])
        """Per term id: how many live documents in segments hold the term."""
        self.words = _WordTable()
        first, second = _keys([_BATCH_MARK, *sorted(STOP_WORDS)])
        codes = np.array([-1] + [0] * len(STOP_WORDS), dtype=np.int32)
        self.words.learn(first, second, _mix(first, second), codes)

    def __missing__(self, term: str) -> int:
        term_id = len(self.holders)
        self.holders.append(0)
        self[term] = term_id
        return term_id

    def code(self, words: _BatchWords) -> Ids:
        """Each of ``words`` as a term id: 0 for a stop word, -1 for a mark.

        Words the `_WordTable` lacks are turned into terms and looked up in the dict,
        new terms given ids all at once, and new words of up to 16 bytes learned.
        """
        codes = self.words.find(words.first, words.second, words.mixed)
        unknown = np.flatnonzero(codes == _UNKNOWN)
        if len(unknown):
            terms = list(map(_TERMS.__getitem__, words.cut(unknown)))
            new = [term for term in dict.fromkeys(terms) if term not in self]
            first_id = len(self.holders)
            self.update(zip(new, range(first_id, first_id + len(new)), strict=True))
            self.holders.frombytes(bytes(self.holders.itemsize * len(new)))
            learned = np.fromiter(map(self.__getitem__, terms), np.int32, len(terms))
            codes[unknown] = learned
            short = np.flatnonzero(words.first[unknown] < _LONG_WORD[-1])
            at = unknown[short]
            self.words.learn(words.first[at], words.second[at], words.mixed[at], learned[short])
        return codes


# -- segments ---------------------------------------------------------------------------


class _Segment:
    """Postings sorted by term id, never changed once made.

    ``terms`` holds the segment's distinct terms, sorted; ``terms[i]``'s postings are
    ``slots[bounds[i]:bounds[i + 1]]`` (in no particular order), with the term's
    frequency in each of those documents in ``freqs``.
    """

    __slots__ = ("bounds", "freqs", "slots", "terms")

    def __init__(self, terms: Ids, slots: Ids, freqs: Freqs) -> None:
        """The segment of postings (``terms[i]``, ``slots[i]``, ``freqs[i]``), by term."""
        starts = np.concatenate(([0], np.flatnonzero(terms[1:] != terms[:-1]) + 1))
        starts = starts[: len(terms)]  # none if there are no terms
        self.terms: Ids = terms[starts]
        self.bounds: npt.NDArray[np.intp] = np.append(starts, len(terms))
        self.slots = slots
        self.freqs = freqs

    @classmethod
    def counting(cls, terms: Ids, slots: Ids) -> _Segment:
        """The segment of words, ``terms[i]`` in document ``slots[i]``, in any order: a
        posting per term and document, with how often the term is in it."""
        keys = np.sort((terms.astype(np.int64) << 32) | slots)  # by term, then slot
        starts, counts = _runs(keys)
        pairs = keys[starts]
        return cls(
            (pairs >> 32).astype(np.int32),
            (pairs & 0xFFFFFFFF).astype(np.int32),
            counts.astype(np.float32),
        )

    @classmethod
    def merging(cls, segments: Sequence[_Segment], keep: npt.NDArray[np.bool_] | None) -> _Segment:
        """One segment of the postings of ``segments`` (of slots ``keep`` marks, if given)."""
        terms = np.concatenate([np.repeat(each.terms, np.diff(each.bounds)) for each in segments])
        slots = np.concatenate([segment.slots for segment in segments])
        freqs = np.concatenate([segment.freqs for segment in segments])
        if keep is not None:
            kept = keep[slots]
            terms, slots, freqs = terms[kept], slots[kept], freqs[kept]
        order = np.argsort(terms, kind="stable")  # fast: runs already sorted
        return cls(terms[order], slots[order], freqs[order])

    def __len__(self) -> int:
        """How many postings the segment holds."""
        return len(self.slots)

    @property
    def level(self) -> int:
        """Its size class: see `_LEVEL_POSTINGS`."""
        size = max(len(self.slots) // _LEVEL_POSTINGS, 1)
        return (size.bit_length() - 1) // _MERGE_FAN_IN_BITS

    def spans(self, needles: Ids) -> list[int]:
        """Where the postings of some terms start and end, given ``needles``: each
        term's id then the next id. A term the segment lacks starts where it ends."""
        spans: list[int] = self.bounds[self.terms.searchsorted(needles)].tolist()
        return spans


# -- the index --------------------------------------------------------------------------


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
        self._segments: list[_Segment] = []
        """Oldest first; see `_add_segment` for their sizes."""
        self._slot_of: dict[int, int] = {}
        self._ids = array.array("q")
        self._lengths = array.array("f")
        self._alive = bytearray()
        self._doc_terms = array.array("i")
        """Per slot, one after another: the terms of its document (some maybe twice)."""
        self._doc_bounds = array.array("q", [0])
        """Slot ``s`` holds ``_doc_terms[_doc_bounds[s]:_doc_bounds[s + 1]]``."""
        self._tail = 0
        """The tail's first slot: documents from it on are in no segment yet."""
        self._tail_searches = 0
        """How many searches have looked at the tail since it last changed."""
        self._tail_sorted: _Segment | None = None
        """The tail sorted into a segment, by the second of those searches."""
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
        than a few hundred words is coded with numpy, for less per document.
        """
        if len(docs) != len(texts):
            raise ValueError(f"add_many got {len(docs)} docs and {len(texts)} texts")
        ids = array.array("q", docs).tolist()  # ints, checked before anything changes
        if len(set(ids)) < len(ids):  # a document's last text counts, in its place
            last = sorted({doc: place for place, doc in enumerate(ids)}.values())
            ids, texts = [ids[place] for place in last], [texts[place] for place in last]
        words = _BatchWords.of(texts)  # checks that each text is a str
        terms = _tokenize_many(texts) if words is None else []
        with self._lock:
            for doc in self._slot_of.keys() & ids:
                self._forget(doc)
            if words is not None:
                self._append_many(ids, self._terms.code(words))
            elif len(terms) >= _VECTORISE_MIN_TERMS:
                coded = map(self._terms.__getitem__, terms)
                self._append_many(ids, np.fromiter(coded, np.int32, len(terms)))
            else:
                start = 0
                for doc in ids:
                    end = terms.index(_MARK, start)
                    self._append(doc, terms[start:end])
                    start = end + 1

    def document_frequency(self, term: str) -> int:
        """How many live documents hold ``term`` (a token as `tokenize` makes them)."""
        with self._lock:
            term_id = self._terms.get(term, 0)
            if term_id <= 0:
                return 0
            return self._terms.holders[term_id] + self._live(self._tail_postings([term_id])[0][0])

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
            negated = self._score(query_terms, live)
            candidates = np.flatnonzero(negated)
            candidate_scores = negated[candidates]  # negated, till the end
            ids = np.frombuffer(self._ids, dtype=np.int64)
            if allow is None:  # the ids of the k best only
                order = _best(candidate_scores, k)
                best = ids[candidates[order]].tolist()
                return list(zip(best, (-candidate_scores[order]).tolist(), strict=True))
            candidate_ids = ids[candidates]
            del ids  # a view would keep the array from growing
        if not len(candidates):
            return []
        first = _best(candidate_scores, max(4 * k, 64))
        keep = np.asarray(allow(candidate_ids[first]), dtype=bool)
        if int(keep.sum()) >= k or len(first) == len(candidates):
            first = first[keep]
        else:  # a selective filter: ask about every candidate
            keep = np.asarray(allow(candidate_ids), dtype=bool)
            candidate_ids, candidate_scores = candidate_ids[keep], candidate_scores[keep]
            first = _best(candidate_scores, k)
        order = first[:k]
        return list(
            zip(candidate_ids[order].tolist(), (-candidate_scores[order]).tolist(), strict=True)
        )

    def _score(self, query_terms: Counter[str], live: int) -> Freqs:
        """BM25 of every slot for these query terms (0 where none occurs), negated, as
        `_best` takes it; lock held.

        Each term's share is subtracted rather than added: the same float32 steps, so
        the negation of the same sums.
        """
        scores = np.zeros(len(self._ids), dtype=np.float32)
        query = [
            (term_id, count)
            for term, count in query_terms.items()
            if (term_id := self._terms.get(term, 0)) > 0
        ]
        if not query:
            return scores
        tail = self._tail_postings([term_id for term_id, _ in query])
        parts = [[pair] if len(pair[0]) else [] for pair in tail]  # per term: slots, freqs
        needles = np.array([[term_id, term_id + 1] for term_id, _ in query], np.int32).ravel()
        for segment in self._segments:
            spans = segment.spans(needles)
            slots, freqs = segment.slots, segment.freqs
            for term_parts, start, end in zip(parts, spans[0::2], spans[1::2], strict=True):
                if end > start:
                    term_parts.append((slots[start:end], freqs[start:end]))
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        average = self._total_length / live or 1.0
        k1, b = self.k1, self.b
        for (term_id, count), (tail_slots, _), term_parts in zip(query, tail, parts, strict=True):
            df = self._terms.holders[term_id] + self._live(tail_slots)
            if not df:
                continue
            if len(term_parts) == 1:
                term_slots, term_freqs = term_parts[0]
            else:
                term_slots = np.concatenate([slots for slots, _ in term_parts])
                term_freqs = np.concatenate([freqs for _, freqs in term_parts])
            idf = math.log(1.0 + (live - df + 0.5) / (df + 0.5))
            norm = lengths[term_slots] * np.float32(k1 * b / average) + np.float32(k1 * (1 - b))
            weight = np.float32(count * idf * (k1 + 1))
            scores[term_slots] -= weight * term_freqs / (term_freqs + norm)
        if self._dead:
            scores *= np.frombuffer(self._alive, dtype=np.uint8)
        return scores

    def _live(self, slots: Ids) -> int:
        """How many of ``slots`` are live; lock held."""
        if not self._dead:
            return len(slots)
        return int(np.count_nonzero(np.frombuffer(self._alive, dtype=np.bool_)[slots]))

    def _tail_postings(self, term_ids: list[int]) -> list[tuple[Ids, Freqs]]:
        """The tail's postings of each of ``term_ids``: the slots that hold it, and how
        often each does; lock held.

        The first search after a change looks through the tail's words; a second one
        sorts them into a segment, for it and the searches after it.
        """
        first = self._doc_bounds[self._tail]
        nothing = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
        if first == len(self._doc_terms):
            return [nothing] * len(term_ids)
        if self._tail_searches and self._tail_sorted is None:
            self._tail_sorted = _Segment.counting(*self._tail_words())
        self._tail_searches += 1
        if (tail := self._tail_sorted) is not None:
            spans = tail.spans(np.array([[t, t + 1] for t in term_ids], np.int32).ravel())
            return [
                (tail.slots[start:end], tail.freqs[start:end])
                for start, end in zip(spans[0::2], spans[1::2], strict=True)
            ]
        words = np.frombuffer(self._doc_terms, dtype=np.int32)[first:]
        hit = words == term_ids[0]
        for term_id in term_ids[1:]:
            hit |= words == term_id
        at = np.flatnonzero(hit)
        if not len(at):
            return [nothing] * len(term_ids)
        terms = words[at]
        del words  # a view of `_doc_terms`
        ends = np.frombuffer(self._doc_bounds, dtype=np.int64)[self._tail + 1 :]
        slots = (ends.searchsorted(at + first, "right") + self._tail).astype(np.int32)
        postings = []
        for term_id in term_ids:
            held = slots[terms == term_id]  # a slot once for each time it holds the term
            starts, counts = _runs(held)
            postings.append((held[starts], counts.astype(np.float32)) if len(held) else nothing)
        return postings

    def _tail_words(self) -> tuple[Ids, Ids]:
        """The term and slot of each word in the tail; lock held.

        The terms are a view of `_doc_terms`, to let go of before it grows.
        """
        first = self._doc_bounds[self._tail]
        bounds = np.frombuffer(self._doc_bounds, dtype=np.int64)[self._tail :]
        slots = np.arange(self._tail, len(self._ids), dtype=np.int32)
        terms: Ids = np.frombuffer(self._doc_terms, dtype=np.int32)[first:]
        return terms, np.repeat(slots, np.diff(bounds))

    def _append(self, doc: int, terms: list[str]) -> None:
        """Give ``doc`` (not indexed) the next slot, in the tail, with its ``terms``.

        Lock held.
        """
        slot = len(self._ids)
        self._ids.append(doc)  # first: a doc that is no int stops here, changing nothing
        self._doc_terms.fromlist(list(map(self._terms.__getitem__, terms)))
        self._doc_bounds.append(len(self._doc_terms))
        self._slot_of[doc] = slot
        self._lengths.append(len(terms))
        self._alive.append(1)
        self._total_length += len(terms)
        self._tail_searches, self._tail_sorted = 0, None
        if len(self._doc_terms) - self._doc_bounds[self._tail] >= _TAIL_WORDS:
            self._freeze_tail()

    def _append_many(self, docs: list[int], coded: Ids) -> None:
        """`_append` of each of ``docs``; lock held.

        ``coded`` holds their words as `_Vocabulary.code` makes them: term ids, 0
        for a stop word, and -1 after each document's words.
        """
        first_slot = len(self._ids)
        kept = coded > 0
        terms = coded[kept]
        ends = np.cumsum(kept)[coded < 0]  # where each document's terms end, in ``terms``
        self._doc_terms.frombytes(terms.tobytes())
        self._doc_bounds.frombytes((ends + self._doc_bounds[-1]).tobytes())
        self._slot_of.update(zip(docs, range(first_slot, first_slot + len(docs)), strict=True))
        self._ids.extend(docs)
        self._lengths.frombytes(np.diff(ends, prepend=0).astype(np.float32).tobytes())
        self._alive += b"\x01" * len(docs)
        self._total_length += len(terms)
        self._tail_searches, self._tail_sorted = 0, None
        if len(self._doc_terms) - self._doc_bounds[self._tail] >= _TAIL_WORDS:
            self._freeze_tail()

    def _freeze_tail(self) -> None:
        """Make the tail's live documents a segment, and count them as holders of their
        terms; lock held."""
        terms, slots = self._tail_words()
        self._tail, self._tail_searches, self._tail_sorted = len(self._ids), 0, None
        if self._dead:
            live = np.frombuffer(self._alive, dtype=np.bool_)[slots]
            terms, slots = terms[live], slots[live]
        segment = _Segment.counting(terms, slots)
        del terms  # a view of `_doc_terms`
        holders = np.frombuffer(self._terms.holders, dtype=np.int64)
        holders[segment.terms] += np.diff(segment.bounds)
        del holders  # a view would keep the array from growing
        if len(segment):
            self._add_segment(segment)

    def _add_segment(self, segment: _Segment) -> None:
        """Append ``segment``, then merge the newest segments while they call for it.

        The newest two merge when the newer is of a higher level, and the newest
        `_MERGE_FAN_IN` when they are all of one level; so levels never rise towards
        the newest segment, with fewer than `_MERGE_FAN_IN` segments of a level in a
        row. Merges drop the postings of cleared slots. Lock held.
        """
        segments = self._segments
        segments.append(segment)
        while len(segments) >= 2:
            if segments[-2].level < segments[-1].level:
                count = 2
            elif len(segments) >= _MERGE_FAN_IN and (
                segments[-_MERGE_FAN_IN].level == segments[-1].level
            ):
                count = _MERGE_FAN_IN
            else:
                return
            alive = np.frombuffer(self._alive, dtype=np.bool_) if self._dead else None
            merged = _Segment.merging(segments[-count:], alive)
            segments[-count:] = [merged] if len(merged) else []

    def _forget(self, doc: int) -> None:
        """Clear ``doc``'s slot; in a segment, it no longer holds its terms. Lock held."""
        slot = self._slot_of.pop(doc)
        self._alive[slot] = 0
        if slot < self._tail:
            holders = self._terms.holders
            terms = self._doc_terms[self._doc_bounds[slot] : self._doc_bounds[slot + 1]]
            for term_id in set(terms):
                holders[term_id] -= 1
        self._total_length -= int(self._lengths[slot])
        self._dead += 1

    def _compact(self) -> None:
        """Merge all postings into one segment without cleared slots, renumbered; lock held."""
        self._freeze_tail()
        alive = np.frombuffer(self._alive, dtype=np.bool_).copy()
        if self._segments:
            merged = _Segment.merging(self._segments, alive)
            merged.slots = np.cumsum(alive, dtype=np.int32)[merged.slots] - np.int32(1)
            self._segments = [merged] if len(merged) else []
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
        self._tail = len(self._ids)
        self._dead = 0
