"""`LexicalIndex` inside: batch word coding, segments and their merges, the tail, compaction.

Every index here is checked against `Reference`, a plain BM25 over dicts that does
the index's float32 arithmetic in the same order, so scores must match exactly. The
``small`` fixture shrinks the tail and the segment levels, so a few hundred documents
go through many freezes and merges.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter

import numpy as np
import pytest

from nucleusmem.recall import _lexical
from nucleusmem.recall._lexical import LexicalIndex, tokenize

K1, B = 1.2, 0.75


class Reference:
    """BM25 as the index computes it, over a dict of documents in slot order."""

    def __init__(self) -> None:
        self.docs: dict[int, list[str]] = {}

    def add(self, doc: int, text: str) -> None:
        self.docs.pop(doc, None)  # a replaced document takes a new (the last) slot
        self.docs[doc] = tokenize(text)

    def remove(self, doc: int) -> None:
        self.docs.pop(doc, None)

    def document_frequency(self, term: str) -> int:
        return sum(term in terms for terms in self.docs.values())

    def search(self, query: str) -> list[tuple[int, float]]:
        """Every match, best first, ties in slot order."""
        if not self.docs:
            return []
        live = len(self.docs)
        average = sum(map(len, self.docs.values())) / live or 1.0
        scale, base = np.float32(K1 * B / average), np.float32(K1 * (1 - B))
        scores = dict.fromkeys(self.docs, np.float32(0))
        for term, count in Counter(tokenize(query)).items():
            df = self.document_frequency(term)
            if not df:
                continue
            weight = np.float32(count * math.log(1 + (live - df + 0.5) / (df + 0.5)) * (K1 + 1))
            for doc, terms in self.docs.items():
                if tf := np.float32(terms.count(term)):
                    norm = np.float32(len(terms)) * scale + base
                    scores[doc] += weight * tf / (tf + norm)
        hits = [(doc, float(score)) for doc, score in scores.items() if score]
        return sorted(hits, key=lambda hit: -hit[1])


def assert_matches(index: LexicalIndex, reference: Reference, queries: list[str]) -> None:
    assert len(index) == len(reference.docs)
    for query in queries:
        assert index.search(query, 100_000) == reference.search(query), query
        top = index.search(query, 5)
        assert [score for _, score in top] == [s for _, s in reference.search(query)[:5]]
        for term in tokenize(query):
            assert index.document_frequency(term) == reference.document_frequency(term), term


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tail of 40 words and segment levels from 8 postings; compaction from 20 dead."""
    monkeypatch.setattr(_lexical, "_TAIL_WORDS", 40)
    monkeypatch.setattr(_lexical, "_LEVEL_POSTINGS", 8)
    monkeypatch.setattr(_lexical, "_COMPACT_MIN_DEAD", 20)
    monkeypatch.setattr(_lexical, "_VECTORISE_MIN_CHARS", 200)
    monkeypatch.setattr(_lexical, "_VECTORISE_MIN_TERMS", 30)


VOCABULARY = ["cat", "cats", "dog", "dogs", "the", "and", "query", "queries", "bus"]
VOCABULARY += [f"word{i}" for i in range(60)] + [f"rare{i}s" for i in range(400)]


def texts(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choices(VOCABULARY, k=rng.randrange(0, 12))) for _ in range(count)]


QUERIES = ["cat", "dogs queries", "word3 word3 word5", "the", "rare7 rare9 cat", "word1 bus"]


def test_batches_and_single_adds_match_the_reference(small: None) -> None:
    rng = random.Random(1)
    index, reference = LexicalIndex(), Reference()
    doc, most_segments = 0, 0
    for size in [30, 1, 1, 45, 2, 80, 1, 60, 3, 120, 1, 1, 1]:
        batch = texts(rng, size)
        docs = list(range(doc, doc + size))
        if size > 3:
            index.add_many(docs, batch)
        else:
            for each, text in zip(docs, batch, strict=True):
                index.add(each, text)
        for each, text in zip(docs, batch, strict=True):
            reference.add(each, text)
        doc += size
        assert_matches(index, reference, QUERIES)
        most_segments = max(most_segments, len(index._segments))
    assert most_segments >= 3 and len(index._segments) >= 2
    assert index._tail < len(index._ids)  # some documents are still in the tail


def test_segments_merge_by_level(small: None) -> None:
    index = LexicalIndex()
    for start in range(0, 2_000, 20):  # 20 documents of 2 words a batch: a segment each
        index.add_many(range(start, start + 20), [f"common word{i}" for i in range(20)])
        sizes = [len(segment) for segment in index._segments]
        levels = [segment.level for segment in index._segments]
        assert levels == sorted(levels, reverse=True)
        for level in set(levels):
            assert levels.count(level) < _lexical._MERGE_FAN_IN
        assert sum(sizes) == 2 * (start + 20)
    assert len(index._segments) < 8  # 4,000 postings, and level 0 ends at 32
    assert index.document_frequency("common") == 2_000
    assert [doc for doc, _ in index.search("word7", 3)] == [7, 27, 47]


def test_a_newer_bigger_segment_takes_in_the_smaller_ones_before_it(small: None) -> None:
    index = LexicalIndex()
    index.add_many(range(10), ["alpha beta gamma delta"] * 10)
    index.add_many(range(10, 20), ["alpha beta gamma delta"] * 10)
    assert len(index._segments) == 2
    index.add_many(range(20, 1_020), ["alpha beta"] * 1_000)
    assert [len(segment) for segment in index._segments] == [2_080]
    assert index.document_frequency("alpha") == 1_020


def in_two_batches(rng: random.Random, split: int, total: int) -> tuple[LexicalIndex, Reference]:
    """``total`` random texts, added as two batches (cut at ``split``) and to a reference."""
    index, reference = LexicalIndex(), Reference()
    batch = texts(rng, total)
    index.add_many(range(split), batch[:split])
    index.add_many(range(split, total), batch[split:])
    for doc, text in enumerate(batch):
        reference.add(doc, text)
    return index, reference


def test_remove_and_readd_across_segments_and_the_tail(small: None) -> None:
    rng = random.Random(2)
    index, reference = in_two_batches(rng, 100, 150)
    for doc in range(150, 160):  # into the tail
        text = " ".join(rng.choices(VOCABULARY, k=3))
        index.add(doc, text)
        reference.add(doc, text)
    assert len(index._segments) > 1 and index._tail < len(index._ids)
    for doc in [0, 5, 77, 149, 151, 159, 1_000]:  # in old segments, in the tail, absent
        index.remove(doc)
        reference.remove(doc)
    assert_matches(index, reference, QUERIES)
    for doc in [5, 151, 20, 155]:  # re-added after removal, and replaced in place
        text = " ".join(rng.choices(VOCABULARY, k=4))
        index.add(doc, text)
        reference.add(doc, text)
    index.add_many([77, 30, 77], ["cats cat dog", "word1", "queries bus"])
    for doc, text in [(77, "cats cat dog"), (30, "word1"), (77, "queries bus")]:
        reference.add(doc, text)
    assert_matches(index, reference, QUERIES)


def test_compaction_drops_cleared_slots_and_keeps_the_scores(small: None) -> None:
    rng = random.Random(3)
    index, reference = in_two_batches(rng, 150, 200)
    for doc in range(0, 200, 3):
        index.add(doc, "readded cat")  # replaced: their old slots are cleared
        reference.add(doc, "readded cat")
    assert index._dead == 67
    removed = rng.sample(range(200), 120)
    for count, doc in enumerate(removed):
        index.remove(doc)
        reference.remove(doc)
        if count % 40 == 0:
            assert_matches(index, reference, [*QUERIES, "readded"])
    assert len(index._ids) == len(index) + index._dead < 267  # compacted: slots renumbered
    assert len(index._segments) <= 2
    assert_matches(index, reference, [*QUERIES, "readded"])
    later = texts(rng, 60)
    index.add_many(range(500, 560), later)  # slots go on after compaction
    for doc, text in zip(range(500, 560), later, strict=True):
        reference.add(doc, text)
    for doc in range(500, 530):
        index.remove(doc)
        reference.remove(doc)
    assert_matches(index, reference, QUERIES)


def test_compaction_of_an_index_made_one_add_at_a_time() -> None:
    index, reference = LexicalIndex(), Reference()
    for doc in range(3_000):
        text = f"common word{doc % 7} token{doc}"
        index.add(doc, text)
        reference.add(doc, text)
    assert len(index._segments) > 1
    for doc in range(0, 2_800):
        index.remove(doc)
        reference.remove(doc)
    assert index._dead < 1_024 and len(index._segments) <= 1
    assert_matches(index, reference, ["common", "word3 token2999", "token10"])


def test_batch_coding_is_tokenize(small: None) -> None:
    """The numpy word path (`_BatchWords`, `_WordTable`) gives `tokenize`'s terms."""
    words = ["a", "the", "its", "thes", "cats", "queries", "glasses", "bus", "s", "t", "_", "x2"]
    words += ["eightchr", "ninechars", "sixteencharacter", "seventeencharacte", "x" * 40]
    words += ["abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopr", "abcdefgh12345678"]
    words += ["abcdefgh", "abcdefghs", "abcdefghijklmnops", "snake_case", "2024", "v1"]
    rng = random.Random(4)
    batches = []
    for _ in range(6):
        batch = []
        for _ in range(rng.randrange(20, 60)):
            picked = [rng.choice(words) for _ in range(rng.randrange(0, 15))]
            batch.append(rng.choice([" ", ", ", "--", ". The "]).join(picked).title())
        batches.append(batch)
    index, one_by_one = LexicalIndex(), LexicalIndex()
    for number, batch in enumerate(batches):
        docs = range(1_000 * number, 1_000 * number + len(batch))
        index.add_many(docs, batch)
        for doc, text in zip(docs, batch, strict=True):
            one_by_one.add(doc, text)
    vocabulary = index._terms
    term_of = {term_id: term for term, term_id in vocabulary.items()}
    for batch in batches:
        found = _lexical._BatchWords.of(batch)
        assert found is not None
        codes = vocabulary.code(found).tolist()
        coded: list[list[str]] = [[]]
        for code in codes:
            if code == -1:
                coded.append([])
            elif code > 0:
                coded[-1].append(term_of[code])
        assert coded[:-1] == [tokenize(text) for text in batch]
    for word in words:
        query = f"{word} {word.upper()}"
        assert index.search(query, 500) == one_by_one.search(query, 500), word


def test_batches_that_are_not_ascii_or_hold_a_mark(small: None) -> None:
    index, reference = LexicalIndex(), Reference()
    batches = [
        ["Café in Zürich", "naïve façades", "ΟΔΟΣ ΣΑΣ"] * 20,
        ["nul\x00inside\x00text", "plain cats"] * 20,
        ["x\x01y cats", "tab\tcats"] * 30,
    ]
    doc = 0
    for batch in batches:
        index.add_many(range(doc, doc + len(batch)), batch)
        for text in batch:
            reference.add(doc, text)
            doc += 1
    assert_matches(index, reference, ["café zurich", "οδος", "inside", "cats", "x y"])


def test_word_table_finds_what_it_learned_or_nothing() -> None:
    table = _lexical._WordTable()
    rng = np.random.default_rng(5)
    first = rng.integers(1, 1 << 62, 20_000, dtype=np.int64).astype(np.uint64)
    second = rng.integers(0, 1 << 62, 20_000, dtype=np.int64).astype(np.uint64)
    second[:10_000] = 0  # words of up to 8 bytes
    ids = np.arange(1, 20_001, dtype=np.int32)
    mixed = _lexical._mix(first, second)
    for part in np.array_split(np.arange(20_000), 7):  # grows as it learns
        table.learn(first[part], second[part], mixed[part], ids[part])
        table.learn(first[part[:50]], second[part[:50]], mixed[part[:50]], ids[part[:50]])
    found = table.find(first, second, mixed)
    assert ((found == ids) | (found == _lexical._UNKNOWN)).all()
    assert (found == ids).sum() > 19_600 and table.size == (found == ids).sum()
    assert 2 * table.size <= len(table.first)
    other = first + np.uint64(1)
    assert (table.find(other, second, _lexical._mix(other, second)) == _lexical._UNKNOWN).all()


def test_concurrent_searches_while_writing(small: None) -> None:
    index = LexicalIndex()
    index.add_many(range(100), texts(random.Random(6), 100))
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                index.search("cat word3", 10)
                index.search("dogs", 5, allow=lambda ids: ids % 2 == 0)
                index.document_frequency("cat")
        except BaseException as error:  # reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    rng = random.Random(7)
    for start in range(100, 1_100, 25):
        index.add_many(range(start, start + 25), texts(rng, 25))
        index.add(rng.randrange(start), "cat cat word3")
        index.remove(rng.randrange(start))
    done.set()
    for reader in readers:
        reader.join()
    assert not errors
