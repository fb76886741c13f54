"""The in-memory recall indexes: `VectorIndex` (IVF), `LexicalIndex` (BM25) and `rrf`.

Vector tests use clustered synthetic unit vectors (a mixture of gaussians on the
sphere with uneven cluster sizes), since real embeddings are clustered and uniform
random vectors are not representative of them.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import threading
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pytest

from nucleusmem.recall._fusion import rrf
from nucleusmem.recall._lexical import STOP_WORDS, LexicalIndex, _stem, tokenize
from nucleusmem.recall._vector import Allow, VectorIndex, _spherical_kmeans, _sums_by_list

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
DIM = 384


def unit(x: npt.NDArray[np.floating]) -> F32:
    """Rows scaled to unit length, as float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(
    n: int, queries: int, *, dim: int = DIM, clusters: int = 200, seed: int = 0
) -> tuple[F32, F32]:
    """``n`` vectors and ``queries`` query vectors from one mixture of gaussians."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, dim)))
    spread = rng.uniform(0.5, 1.5, clusters)
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
    weights /= weights.sum()

    def sample(m: int) -> F32:
        labels = rng.choice(clusters, m, p=weights)
        noise = rng.standard_normal((m, dim)) / math.sqrt(dim)
        return unit(centres[labels] + spread[labels, None] * noise)

    return sample(n), sample(queries)


def keep_where(mask: npt.NDArray[np.bool_]) -> Allow:
    """An ``allow`` filter that keeps the ids where ``mask`` is True."""

    def allow(ids: I64) -> npt.NDArray[np.bool_]:
        return mask[ids]

    return allow


def recall(index: VectorIndex, queries: F32, k: int = 10, allow: Allow | None = None) -> float:
    """Mean share of the exact top ``k`` that ``search`` finds."""
    hits = 0
    for query in queries:
        exact = {doc for doc, _ in index.exact_search(query, k, allow=allow)}
        found = {doc for doc, _ in index.search(query, k, allow=allow)}
        hits += len(exact & found)
    return hits / (k * len(queries))


# -- VectorIndex ------------------------------------------------------------------------


def test_exact_search_orders_by_cosine() -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng.standard_normal((300, DIM)))
    index = VectorIndex(DIM)
    index.add(np.arange(300) * 3, vectors)  # ids need not be 0..n-1
    query = vectors[17]
    results = index.exact_search(query, 5)
    expected = np.argsort(-(vectors @ query), kind="stable")[:5]
    assert [doc for doc, _ in results] == (expected * 3).tolist()
    assert results[0] == (51, pytest.approx(1.0, abs=1e-5))
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert scores == pytest.approx((vectors[expected] @ query).tolist(), abs=1e-5)
    assert index.search(query, 5) == results  # small index: search is exact
    assert len(index) == 300 and index.nlist == 1
    assert len(index.search(query, 1000)) == 300
    assert index.search(query, 0) == []
    assert VectorIndex(DIM).search(query, 5) == []


def test_add_replaces_and_last_duplicate_wins() -> None:
    index = VectorIndex(4)
    e = np.eye(4, dtype=np.float32)
    index.add([1, 2], e[:2])
    index.add([1], e[2:3])  # replaces id 1
    assert len(index) == 2
    assert index.search(e[2], 1) == [(1, pytest.approx(1.0))]
    assert index.search(e[0], 1)[0][1] == pytest.approx(0.0)
    index.add([5, 5], e[[0, 3]])
    assert len(index) == 3
    assert index.search(e[3], 1) == [(5, pytest.approx(1.0))]
    with pytest.raises(ValueError):
        index.add([1, 2], e[:1])
    with pytest.raises(ValueError):
        index.add([-1], e[:1])
    with pytest.raises(ValueError):
        index.search(np.ones(3, dtype=np.float32), 1)


@pytest.mark.parametrize("exact_below", [4096, 256])
def test_remove_and_readd(exact_below: int) -> None:
    vectors, queries = clustered(3000, 20)
    index = VectorIndex(DIM, exact_below=exact_below)
    index.add(np.arange(3000), vectors)
    assert (index.nlist > 1) == (exact_below < 3000)
    gone = np.arange(0, 3000, 3)
    index.remove(gone)
    index.remove([99_999, 0])  # absent ids are ignored
    assert len(index) == 2000
    removed = set(gone.tolist())
    for query in queries:
        assert not removed & {doc for doc, _ in index.search(query, 50)}
        assert not removed & {doc for doc, _ in index.exact_search(query, 50)}
    index.remove(np.arange(3000)[np.arange(3000) % 3 == 1])  # lists compact as they empty
    assert len(index) == 1000
    assert recall(index, queries) >= 0.95
    index.add(gone, vectors[gone])
    assert len(index) == 2000
    assert index.search(vectors[300], 1)[0] == (300, pytest.approx(1.0, abs=1e-5))
    index.remove(np.arange(3000))
    assert len(index) == 0 and index.search(queries[0], 5) == []


def test_filters_return_k_when_they_exist() -> None:
    vectors, queries = clustered(20_000, 30)
    index = VectorIndex(DIM)
    index.add(np.arange(20_000), vectors)
    assert index.nlist > 1
    even = keep_where(np.arange(20_000) % 2 == 0)
    for query in queries[:10]:
        found = index.search(query, 10, allow=even)
        assert len(found) == 10 and all(doc % 2 == 0 for doc, _ in found)
    assert recall(index, queries, allow=even) >= 0.95

    few = np.zeros(20_000, dtype=bool)
    few[[3, 500, 7_000, 12_345, 19_999]] = True  # far too few to meet by chance
    for query in queries[:5]:
        found = index.search(query, 10, allow=keep_where(few))
        assert found == index.exact_search(query, 10, allow=keep_where(few))
        assert sorted(doc for doc, _ in found) == [3, 500, 7_000, 12_345, 19_999]

    tenth = keep_where(np.arange(20_000) % 10 == 0)
    assert recall(index, queries, allow=tenth) >= 0.95
    nothing = keep_where(np.zeros(20_000, dtype=bool))
    assert index.search(queries[0], 10, allow=nothing) == []


def test_ann_recall_at_20k_clustered_vectors() -> None:
    vectors, queries = clustered(20_000, 200, clusters=400, seed=3)
    index = VectorIndex(DIM)
    index.add(np.arange(20_000), vectors)
    assert index.nlist == round(math.sqrt(20_000))
    assert recall(index, queries) >= 0.95


def test_grows_and_shrinks_by_retraining() -> None:
    vectors, queries = clustered(12_000, 50, seed=4)
    index = VectorIndex(DIM, exact_below=1000)
    for start in range(0, 12_000, 500):  # incremental adds: trained at 1k, then 4k
        index.add(np.arange(start, start + 500), vectors[start : start + 500])
    assert len(index) == 12_000 and index.nlist == round(math.sqrt(4000))
    assert recall(index, queries) >= 0.95
    index.remove(np.arange(11_000))  # down to a quarter of what it was trained on
    assert len(index) == 1_000 and index.nlist == round(math.sqrt(1_000))
    assert recall(index, queries) >= 0.95
    index.remove(np.arange(11_800))
    assert len(index) == 200 and index.nlist == 1  # below exact_below: exact again
    assert index.search(queries[0], 10) == index.exact_search(queries[0], 10)


def test_one_at_a_time_adds_and_removes_match_brute_force() -> None:
    vectors, queries = clustered(3_000, 10, seed=6)
    index = VectorIndex(DIM, exact_below=500)
    live: set[int] = set()
    rng = np.random.default_rng(6)
    for doc in range(3_000):  # lists outgrow their segments and move; the arena repacks
        index.add([doc], vectors[doc : doc + 1])
        live.add(doc)
        if doc % 3 == 2:
            gone = int(rng.choice(sorted(live)))
            index.remove([gone])
            live.discard(gone)
    assert len(index) == len(live) == 2_000
    ids = np.array(sorted(live))
    for query in queries:
        scores = vectors[ids] @ query
        expected = ids[np.argsort(-scores, kind="stable")[:10]].tolist()
        assert [doc for doc, _ in index.exact_search(query, 10)] == expected
    assert recall(index, queries) >= 0.95


def test_batch_adds_match_brute_force_as_lists_move() -> None:
    vectors, queries = clustered(4_000, 3, seed=7)
    index = VectorIndex(DIM, exact_below=500)
    rng = np.random.default_rng(7)
    holds: dict[int, F32] = {}  # id -> the vector it holds
    unused = 0
    for size in [300, 1, 250, 40, 7, 60, 30, 1, 50, 60, 25, 120, 3, 40, 300, 900, 400]:
        # A batch crowding one list makes it outgrow its room and move (or the arena
        # repack) while other lists take their rows in place. Some ids are replaced
        # and one comes twice (the last one wins); some are removed after each batch.
        new = np.arange(unused, unused + size - size // 4)
        unused += len(new)
        again = rng.choice(sorted(holds), min(len(holds), size // 4), replace=False)
        ids = np.concatenate([new, again, new[:1] if size > 1 else []]).astype(np.int64)
        batch = vectors[rng.integers(0, len(vectors), len(ids))]
        if size % 2 == 0:
            crowd = batch[0] + 0.01 * rng.standard_normal((size // 2, DIM))
            batch[: size // 2] = unit(crowd)
        index.add(ids, batch)
        holds.update(zip(ids.tolist(), batch, strict=True))
        gone = rng.choice(sorted(holds), size // 5, replace=False)
        index.remove(gone)
        for doc in gone.tolist():
            del holds[doc]
        assert len(index) == len(holds)
        docs = sorted(holds)
        held = np.stack([holds[doc] for doc in docs])
        for query in queries:
            expected = dict(zip(docs, (held @ query).tolist(), strict=True))
            every_list = index.search(query, len(docs), nprobe=index.nlist)
            for found in (index.exact_search(query, len(docs)), every_list):
                assert len(found) == len(docs)
                assert dict(found) == pytest.approx(expected, abs=1e-5)
    assert index.nlist > 1


@contextlib.contextmanager
def reading(
    queries: npt.NDArray[np.float32], read: Callable[[npt.NDArray[np.float32]], None]
) -> Iterator[None]:
    """Two threads ``read`` every query over and over while the body runs; their errors fail."""
    errors: list[BaseException] = []
    done = threading.Event()

    def loop() -> None:
        try:
            while not done.is_set():
                for query in queries:
                    read(query)
        except BaseException as exc:  # reported below
            errors.append(exc)

    readers = [threading.Thread(target=loop) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        yield
    finally:
        done.set()
        for reader in readers:
            reader.join()
    assert not errors, errors[0]


def test_concurrent_readers_with_one_writer() -> None:
    vectors, queries = clustered(8_000, 20, seed=5)
    index = VectorIndex(DIM, exact_below=500)
    index.add(np.arange(2_000), vectors[:2_000])

    def read(query: npt.NDArray[np.float32]) -> None:
        for doc, _ in index.search(query, 10):
            assert 0 <= doc < 8_000

    with reading(queries, read):
        for start in range(2_000, 8_000, 250):
            index.add(np.arange(start, start + 250), vectors[start : start + 250])
            index.remove(np.arange(start - 2_000, start - 1_900))
    assert len(index) == 8_000 - 24 * 100


def test_growing_in_batches_copies_each_vector_a_few_times() -> None:
    # Lists get room to double and the arena is repacked only when the lists have
    # outgrown it, so repacks and trainings copy a vector about once (moves aside) as
    # the index grows from empty to 30k: a policy that repacks too often copies more.
    vectors, queries = clustered(30_000, 20, seed=8)
    index = VectorIndex(DIM)
    layout, copied = index._layout, 0
    for start in range(0, 30_000, 250):
        index.add(np.arange(start, start + 250), vectors[start : start + 250])
        if index._layout is not layout:  # a repack or a training copied every live row
            layout, copied = index._layout, copied + len(index)
    assert copied <= 2 * 30_000
    assert index.nlist == round(math.sqrt(17_000))  # trained at 4,250 and at 17,000
    assert recall(index, queries) >= 0.95


def test_readers_see_whole_rows_while_lists_move_repack_and_retrain() -> None:
    vectors, queries = clustered(12_000, 10, seed=9)
    rng = np.random.default_rng(9)
    for start in range(0, 12_000, 1_000):  # crowded stretches make a few lists move
        crowd = vectors[start] + 0.01 * rng.standard_normal((300, DIM))
        vectors[start : start + 300] = unit(crowd)
    index = VectorIndex(DIM, exact_below=1_000)

    def read(query: npt.NDArray[np.float32]) -> None:
        for found in (index.search(query, 20), index.exact_search(query, 20)):
            docs = [doc for doc, _ in found]
            expected = (vectors[docs] @ query).tolist() if docs else []
            assert [score for _, score in found] == pytest.approx(expected, abs=1e-5)

    with reading(queries, read):
        for start in range(0, 12_000, 200):  # trained at 1,000 and 4,000; moves; repacks
            index.add(np.arange(start, start + 200), vectors[start : start + 200])
    assert len(index) == 12_000 and index.nlist == round(math.sqrt(4_000))
    assert recall(index, queries) >= 0.95


def test_removing_most_vectors_repacks_the_arena() -> None:
    vectors, queries = clustered(20_000, 10, seed=10)
    index = VectorIndex(DIM)
    index.add(np.arange(20_000), vectors)
    rows = len(index._layout.ids)
    index.remove(np.arange(14_000))  # lists hold more tombstones than live rows: repack
    assert len(index) == 6_000 and index.nlist == round(math.sqrt(20_000))  # not retrained
    assert len(index._layout.ids) < rows / 2
    for query in queries:
        every_list = index.search(query, 6_000, nprobe=index.nlist)
        assert dict(every_list) == pytest.approx(dict(index.exact_search(query, 6_000)))
        assert sorted(doc for doc, _ in every_list) == list(range(14_000, 20_000))
    assert recall(index, queries) >= 0.95


def test_kmeans_sums_only_the_rows_that_changed_list() -> None:
    # Moving the rows that changed list between the lists' sums gives the centroids
    # of plain Lloyd rounds, which sum every list afresh (same sample, same start).
    rows, _ = clustered(3_000, 0, clusters=40, seed=11)
    nlist, rounds = 30, 6
    ours = _spherical_kmeans(rows, nlist, np.random.default_rng(11), iterations=rounds)
    rng = np.random.default_rng(11)
    sample = rows[rng.choice(len(rows), min(len(rows), 64 * nlist), replace=False)]
    centroids = sample[rng.choice(len(sample), nlist, replace=False)]
    for _ in range(rounds):
        lists = np.argmax(sample @ centroids.T, axis=1)
        assert np.bincount(lists, minlength=nlist).all()  # no list empties: no re-seeding
        sums = np.stack([sample[lists == n].sum(axis=0) for n in range(nlist)])
        centroids = unit(sums)
    assert np.allclose(ours, centroids, atol=1e-4)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_sums_by_list() -> None:
    rows = unit(np.random.default_rng(12).standard_normal((500, 8)))
    lists = np.random.default_rng(13).choice([0, 1, 2, 4, 5], 500)  # list 3 stays empty
    sums = _sums_by_list(rows, lists, 6)
    assert np.allclose(sums, [rows[lists == n].sum(axis=0) for n in range(6)], atol=1e-5)
    assert not _sums_by_list(rows[:0], lists[:0], 6).any()


# -- LexicalIndex -----------------------------------------------------------------------

CORPUS = {
    1: "The cat sat on the mat.",
    2: "Dogs and cats living together: a dog's life with two cats.",
    3: "Quarterly revenue grew by twelve percent, revenue from cloud services.",
    4: "The meeting with Alice moved to Thursday afternoon.",
    5: "Alice prefers tea; Bob prefers coffee in the meeting room.",
    6: "Queries about the database index were answered by the on-call engineer.",
    7: "Café au lait in Zürich costs more than a coffee in Berlin.",
}


def corpus_index() -> LexicalIndex:
    index = LexicalIndex()
    for doc, text in CORPUS.items():
        index.add(doc, text)
    return index


def test_tokenize() -> None:
    assert tokenize("The Cats sat on THE mats!") == ["cat", "sat", "mat"]
    assert tokenize("queries classes bus analysis") == ["query", "class", "bus", "analysis"]
    assert tokenize("Café in Zürich, 2024") == ["café", "zürich", "2024"]
    assert tokenize("") == [] and tokenize("the and of") == []


def test_bm25_ranks_known_answers() -> None:
    index = corpus_index()
    assert len(index) == 7 and 3 in index

    def top(query: str, k: int = 3) -> list[int]:
        return [doc for doc, _ in index.search(query, k)]

    assert top("cat") == [2, 1]  # doc 2 has "cats" twice
    assert top("revenue") == [3]
    assert top("Alice meeting")[:2] in ([4, 5], [5, 4])
    assert top("meeting on Thursday")[0] == 4
    assert top("coffee Zurich")[0] in (5, 7)
    assert top("café zürich") == [7]
    assert top("database query") == [6]
    assert top("the of and") == [] and top("unknownword") == []
    assert index.search("cat", 0) == []


def test_bm25_score_matches_the_formula() -> None:
    index = LexicalIndex()
    docs = {10: "apple banana", 11: "apple apple cherry date", 12: "banana"}
    for doc, text in docs.items():
        index.add(doc, text)
    n, avgdl, k1, b = 3, (2 + 4 + 1) / 3, 1.2, 0.75

    def term(tf: int, df: int, dl: int) -> float:
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    results = dict(index.search("apple banana", 10))
    assert results[10] == pytest.approx(term(1, 2, 2) + term(1, 2, 2), rel=1e-5)
    assert results[11] == pytest.approx(term(2, 2, 4), rel=1e-5)
    assert results[12] == pytest.approx(term(1, 2, 1), rel=1e-5)


def test_lexical_remove_update_and_filter() -> None:
    index = corpus_index()
    index.remove(2)
    index.remove(42)  # absent: ignored
    assert [doc for doc, _ in index.search("cats", 5)] == [1]
    index.add(1, "a bird on a wire")  # replaces doc 1
    assert index.search("cats", 5) == [] and [d for d, _ in index.search("bird", 5)] == [1]
    index.add(2, "cats again")
    assert [doc for doc, _ in index.search("cat", 5)] == [2]

    big = LexicalIndex()
    for doc in range(3_000):
        big.add(doc, f"common word{doc % 7} token{doc}")
    for doc in range(0, 3_000, 2):
        big.remove(doc)
    for doc in range(1, 2_500, 2):
        big.remove(doc)  # dead slots now outnumber live ones: postings are compacted
    assert len(big) == 250
    hits = big.search("common", 1_000)
    assert sorted(doc for doc, _ in hits) == list(range(2_501, 3_000, 2))
    assert [doc for doc, _ in big.search("token2999", 5)] == [2999]
    assert big.search("token10", 5) == []
    every_fiftieth = big.search("common", 3, allow=lambda ids: ids % 50 == 1)
    assert len(every_fiftieth) == 3 and all(doc % 50 == 1 for doc, _ in every_fiftieth)
    assert big.search("common", 3, allow=lambda ids: ids < 0) == []


def reference_tokenize(text: str) -> list[str]:
    """`tokenize` as first written: the regex over the lowercased text, word by word."""
    words = re.findall(r"\w+", text.lower())
    return [_stem(word) for word in words if word not in STOP_WORDS]


TRICKY = [
    "The Cats' toys -- and THE mice's: queries, classes, buses; analysis!",
    "Café au lait in ZÜRICH, naïve façades, Straße, İstanbul, ǅemal",
    "ΟΔΟΣ ΣΑΣ. ΑΣ'Α ΑΣ.Α Σ σ ς 'Σ' ΣΣ",  # noqa: RUF001 (lowercasing Σ looks at its neighbours)
    "don’t — “quoted” … emoji😀here 東京に行きました x²³ ½ e\u0301 snake_case __init__",  # noqa: RUF001
    "tabs\tand\nnewlines\x1cfile\x1dgroup\u00a0nbsp\u3000ideographic\u2028line",
    "nul\x00inside\x00text",
    "",
    "the and of a an is it",
    "dogs dogs DOGS dog's dogs' boss bosses glass glasses species series news",
    "2024-03-15 10:30 user_42 id#7 v1.2.3 e-mail foo@bar.com",
]


def test_tokenize_keeps_its_output() -> None:
    rng = random.Random(11)
    alphabet = [*"aAbBzZ09_ .,;:'\"-!?\t\n", "\x00", "\x1c", "\u00a0", "\u3000", "é", "É", "ß"]
    alphabet += ["Σ", "σ", "ς", "İ", "ǅ", "’", "—", "東", "😀", "²", "\u0301", "\ud800"]  # noqa: RUF001
    words = ["The", "cats", "queries", "is", "Bus", "glasses", "s", "t", "ÉTÉS", "ΟΔΟΣ"]
    sample = [*TRICKY]
    for _ in range(3_000):
        pieces = rng.choices(alphabet, k=rng.randrange(12))
        pieces += rng.choices(words, k=rng.randrange(4))
        rng.shuffle(pieces)
        sample.append("".join(pieces))
    for text in sample:
        assert tokenize(text) == reference_tokenize(text), repr(text)


def assert_same_index(one: LexicalIndex, other: LexicalIndex, queries: list[str]) -> None:
    assert len(one) == len(other)
    for query in queries:
        assert one.search(query, 40) == other.search(query, 40), query
        every = one.search(query, 10_000, allow=lambda ids: ids % 3 != 0)
        assert every == other.search(query, 10_000, allow=lambda ids: ids % 3 != 0), query
        for term in tokenize(query):
            assert one.document_frequency(term) == other.document_frequency(term), term


def test_add_many_is_add_of_each_pair_in_turn() -> None:
    rng = random.Random(5)
    vocabulary = ["cat", "cats", "dog", "Dogs", "the", "and", "queries", "query", "Zürich"]
    vocabulary += [f"word{i}" for i in range(300)] + [f"Rare{i}s" for i in range(3_000)]

    def text() -> str:
        if rng.random() < 0.05:
            return rng.choice(TRICKY)
        return " ".join(rng.choices(vocabulary, k=rng.randrange(0, 40)))  # words repeat

    one_by_one, batched = LexicalIndex(), LexicalIndex()
    queries = ["cat", "dogs queries", "word7 word7 word8", "zurich zürich", "rare5 rare17"]
    queries += [text() for _ in range(20)]
    for size in [1, 3, 700, 12, 60, 0, 2, 250, 1_500, 5, 40, 400, 1]:
        # new ids, ids held already (replaced), and ids named twice in the batch
        docs = [rng.randrange(3_000) for _ in range(size)]
        docs += rng.choices(docs, k=size // 5)
        rng.shuffle(docs)
        texts = [text() for _ in docs]
        for doc, each in zip(docs, texts, strict=True):
            one_by_one.add(doc, each)
        batched.add_many(docs, texts)
        assert_same_index(one_by_one, batched, queries)
        for doc in rng.sample(range(3_000), 1_200):  # dead slots pile up and are compacted
            one_by_one.remove(doc)
            batched.remove(doc)
        assert_same_index(one_by_one, batched, queries)
    batched.add_many(np.arange(5, dtype=np.int64), ["numpy ids"] * 5)  # type: ignore[arg-type]
    assert [doc for doc, _ in batched.search("numpy", 10)] == [0, 1, 2, 3, 4]


def test_add_many_checks_before_it_changes_anything() -> None:
    index = corpus_index()
    with pytest.raises(ValueError):
        index.add_many([1, 2], ["only one text"])
    with pytest.raises(TypeError):
        index.add_many([8, 1.5], ["bird", "bird"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        index.add_many([8, 9], ["bird", None])  # type: ignore[list-item]
    assert len(index) == 7 and index.search("bird", 5) == []
    index.add_many([], [])
    assert [doc for doc, _ in index.search("cat", 5)] == [2, 1]


# -- rrf --------------------------------------------------------------------------------


def test_rrf_arithmetic() -> None:
    vector = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (4, 8.0)]
    fused = rrf([vector, lexical], limit=10)
    expected = {1: 1 / 61, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 62}
    assert [doc for doc, _ in fused] == [3, 1, 2, 4]  # 2 and 4 tie: first met first
    assert dict(fused) == pytest.approx(expected)
    assert [doc for doc, _ in rrf([vector, lexical], limit=2)] == [3, 1]
    weighted = dict(rrf([vector, lexical], k=1, weights=[1.0, 3.0], limit=10))
    assert weighted == pytest.approx({1: 1 / 2, 2: 1 / 3, 3: 1 / 4 + 3 / 2, 4: 3 / 3})
    assert rrf([[(7, 1.0), (7, 0.5), (8, 0.1)]], limit=5) == [
        (7, pytest.approx(1 / 61)),
        (8, pytest.approx(1 / 63)),
    ]
    assert rrf([], limit=5) == [] and rrf([vector], limit=0) == []
    with pytest.raises(ValueError):
        rrf([vector], weights=[1.0, 2.0], limit=3)
    with pytest.raises(ValueError):
        rrf([vector], k=0, limit=3)
