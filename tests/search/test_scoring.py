"""The term-at-a-time scorer ranks exactly as Whoosh's full BM25F scoring does, over several
segments with deleted documents, with filters, pagination and the some-words fallback."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from whoosh.query import And, Term

from portal.search.index import SearchIndex, search_words
from portal.search.scoring import (
    LengthCache,
    TermScorer,
    read_postings,
    walk_postings,
    weighted_tree,
)
from portal.search.sources import Document

WORDS = [
    "留守儿童",
    "监护",
    "家长学校",
    "关爱",
    "帮扶",
    "志愿者",
    "应急救助",
    "慈善",
    "督导员",
    "儿童之家",
    "心理辅导",
    "防溺水",
    "安全教育",
    "走访",
    "乡镇",
    "村委会",
    "学校",
    "讲座",
    "政策",
    "资助",
    "民政局",
    "教育局",
    "妇联",
]
ISSUERS = ("县民政局", "县教育局", "县妇联")
KINDS = ("news", "notice", "policy")
YEARS = ("2019", "2020", "2021")


def _document(rng: random.Random, number: int, version: int = 1) -> Document:
    year = rng.choice(YEARS)
    kind = rng.choice(KINDS)
    metadata = {}
    if kind == "policy":  # numbers and an issuer: words found in up to four fields
        metadata = {"doc_no": f"松政办发〔{year}〕{number}号", "issuer": rng.choice(ISSUERS)}
    return Document(
        source="test",
        local_id=str(number),
        kind=kind,
        version=str(version),
        url=f"/t/{number}",
        title="".join(rng.sample(WORDS, rng.randint(1, 3))),
        body="，".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) + "。",
        published=datetime(int(year), 5, 1, 2, 0, tzinfo=UTC),
        metadata=metadata,
    )


REPLACED = random.Random(1).sample(range(100), 12)
REMOVED = [n for n in range(3, 100, 9) if n not in REPLACED]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> SearchIndex:
    """100 documents indexed at once, then 12 of them republished one at a time, as editors
    do (a segment each, merged as they come), then 10 removed: segments of very different
    sizes holding deleted documents, where Whoosh's pruned search_page() misses documents."""
    rng = random.Random(2)
    index = SearchIndex(tmp_path_factory.mktemp("scoring") / "search")
    index.update([_document(rng, n) for n in range(100)])
    for n in REPLACED:
        index.update([_document(rng, n, version=2)])
    index.update([], delete_keys=[f"test:{n}" for n in REMOVED])
    return index


QUERIES = [
    "留守儿童",
    "监护",
    "留守儿童 监护",
    "家长学校 讲座",
    "关爱 帮扶 志愿者",
    "应急救助 慈善 督导员 乡镇",
    "儿童之家 心理辅导",
    "防溺水 安全教育 走访",
    "爱",  # one character alone: the words containing it
    "留守儿童 不存在的词",  # no document has both: some words
    "政策 资助 学校",
]


def _whoosh_full(
    index: SearchIndex, searcher, query: str, filters: list
) -> tuple[list[tuple[str, float]], bool]:
    """Whoosh's own full scoring of the same search: every hit, no pruning; and whether it had
    to fall back on documents having some of the words."""
    queries = index.whoosh_queries(searcher, query)
    if queries is None:
        return [], False
    every, some = queries
    filter_query = And([Term(f, v) for f, v in filters]) if filters else None
    found = searcher.search(every, limit=None, optimize=False, filter=filter_query)
    fell_back = not found.scored_length() and some is not None
    if fell_back:
        found = searcher.search(some, limit=None, optimize=False, filter=filter_query)
    return [(hit["id"], hit.score) for hit in found], fell_back and bool(found.scored_length())


def _pages(index: SearchIndex, query: str, **filters) -> tuple[list[str], int, bool]:
    keys: list[str] = []
    page, total, partial = 1, 0, False
    while True:
        results = index.search(query, page=page, per_page=10, **filters)
        total, partial = results.total, results.partial
        keys.extend(hit.key for hit in results.hits)
        if page >= results.pages:
            return keys, total, partial
        page += 1


def test_the_corpus_has_several_segments_and_deleted_documents(corpus):
    searcher = corpus.searcher()
    assert len(searcher.leaf_searchers()) > 1
    assert searcher.doc_count() == 100 - len(REMOVED) and searcher.doc_count_all() > 100


PAIRS = [f"{a} {b}" for a, b in itertools.combinations(WORDS, 2)]


@pytest.mark.parametrize(
    "filters",
    [{}, {"kind": "news"}, {"year": "2020"}, {"kind": "policy", "year": "2019"}],
    ids=["no filter", "kind", "year", "kind and year"],
)
def test_the_ranking_equals_whooshs_full_bm25f_scoring(corpus, filters):
    searcher = corpus.searcher()
    differ = []
    for query in QUERIES + PAIRS:
        expected, fell_back = _whoosh_full(corpus, searcher, query, list(filters.items()))
        keys, total, partial = _pages(corpus, query, **filters)
        if keys != [key for key, _score in expected] or total != len(expected):
            differ.append(query)
        assert partial == fell_back
    assert differ == []


TRIPLES = [
    " ".join(words) for words in itertools.islice(itertools.combinations(WORDS, 3), 0, None, 7)
]


def _differing_scores(corpus, queries) -> list[str]:
    searcher = corpus.searcher()
    scorer = TermScorer(searcher, LengthCache())
    differ = []
    for query in queries:
        expected, _fell_back = _whoosh_full(corpus, searcher, query, [])
        words = corpus.word_terms(searcher, search_words(query))
        ranked = scorer.rank(words, count=len(expected))
        found = [(searcher.stored_fields(d)["id"], score) for d, score in ranked.page]
        if found != expected:
            differ.append(query)
    return differ


def test_the_scores_are_whooshs_own_to_the_last_bit(corpus):
    # Equal floats, not close ones: two documents a rounding apart keep Whoosh's order.
    assert _differing_scores(corpus, QUERIES + PAIRS + TRIPLES) == []


def test_in_segments_of_more_than_5000_documents_too(corpus, monkeypatch):
    # There Whoosh adds an Or's parts as a tree, smallest first, instead of in order.
    from whoosh.query import Or

    from portal.search import scoring

    monkeypatch.setattr(Or, "matcher_type", Or.DEFAULT_MATCHER)
    monkeypatch.setattr(scoring, "ARRAY_UNION_MAX_DOCS", 0)
    assert _differing_scores(corpus, QUERIES + PAIRS + TRIPLES) == []


@pytest.mark.parametrize("seed", range(20))
def test_the_tree_is_whooshs_make_weighted_tree(seed):
    from whoosh.matching import NullMatcher
    from whoosh.util import make_weighted_tree

    rng = random.Random(seed)
    weights = [
        rng.choice([0, 0, 1, 2, 3, 5, 8]) * rng.choice([1, -1]) for _ in range(rng.randint(1, 9))
    ]

    class Part(type(NullMatcher)):  # compares as Whoosh's matchers do
        def __init__(self, index):
            self.index = index

    class Pair(type(NullMatcher)):
        def __init__(self, a, b):
            self.shape = (_shape(a), _shape(b))

    def _shape(node):
        return node.index if isinstance(node, Part) else node.shape

    whooshs = make_weighted_tree(Pair, [(w, Part(i)) for i, w in enumerate(weights)])
    assert weighted_tree(weights) == _shape(whooshs)


def test_the_queries_take_every_path(corpus):
    searcher = corpus.searcher()
    # A lone character stands for the words containing it, in every field it occurs in.
    assert set(corpus.word_terms(searcher, ["爱"])[0]) == {("title", "关爱"), ("body", "关爱")}
    assert corpus.search("留守儿童 不存在的词").partial  # no document has both words
    assert corpus.search("留守儿童", kind="none").total == 0


def test_a_page_past_the_end_shows_the_last_page(corpus):
    last = corpus.search("留守儿童", page=1, per_page=7).pages
    beyond = corpus.search("留守儿童", page=last + 5, per_page=7)
    assert beyond.page == last and beyond.hits
    assert beyond.hits == corpus.search("留守儿童", page=last, per_page=7).hits


def test_deleted_documents_never_appear(corpus):
    searcher = corpus.searcher()
    live = {fields["id"] for fields in searcher.all_stored_fields()}
    removed = {f"test:{n}" for n in REMOVED}
    assert not removed & live
    for query in QUERIES:
        keys, total, _partial = _pages(corpus, query)
        assert not removed & set(keys) and len(keys) == len(set(keys)) == total
    # A replaced document is found once, at its new version.
    versions = corpus.versions()
    assert all(versions[f"test:{n}"] == "2" for n in REPLACED)


def test_postings_read_in_blocks_equal_the_matchers_own(corpus):
    searcher = corpus.searcher()
    checked = 0
    for leaf, _offset in searcher.leaf_searchers():
        reader = leaf.reader()
        assert reader.has_deletions() or len(searcher.leaf_searchers()) > 1
        for fieldname in ("title", "body", "kind", "year"):
            for term in reader.lexicon(fieldname):
                text = term.decode("utf-8")
                expected = walk_postings(reader.postings(fieldname, text))
                ids, weights = read_postings(reader, fieldname, text)
                assert (list(ids), list(weights)) == expected
                assert not any(reader.is_deleted(d) for d in ids)
                checked += 1
    assert checked > 100


def test_documents_matched_by_number_come_first_and_the_pages_follow_on(corpus):
    searcher = corpus.searcher()
    scorer = TermScorer(searcher, LengthCache())
    words = corpus.word_terms(searcher, ["留守儿童"])
    everything = [d for d, _score in scorer.rank(words, count=1000).page]
    outside = next(d for d in searcher.reader().all_doc_ids() if d not in everything)
    chosen = {everything[-1], everything[-5], outside}
    pages = [
        scorer.rank(words, first=chosen, start=start, count=7)
        for start in range(0, len(everything) + 1, 7)
    ]
    found = [d for ranked in pages for d, _score in ranked.page]
    assert all(ranked.total == len(everything) + 1 for ranked in pages)
    assert set(found[:3]) == chosen
    assert found[3:] == [d for d in everything if d not in chosen]
    # A filter applies to them too.
    kind = searcher.stored_fields(outside)["kind"]
    filtered = [
        d for d, _s in scorer.rank(words, filters=[("kind", kind)], first=chosen, count=999).page
    ]
    leading = {d for d in chosen if searcher.stored_fields(d)["kind"] == kind}
    assert outside in leading and set(filtered[: len(leading)]) == leading
    assert {searcher.stored_fields(d)["kind"] for d in filtered} == {kind}
    assert (
        set(filtered) - chosen
        == {d for d in everything if searcher.stored_fields(d)["kind"] == kind} - chosen
    )


@pytest.mark.parametrize("removed", [[5], [0, 41, 99], list(range(0, 100, 3))])
def test_postings_skip_deleted_documents_however_many(tmp_path, removed):
    index = SearchIndex(tmp_path / "search")
    documents = [
        Document(source="t", local_id=str(n), kind="news", version="1", url="/", title="儿童之家")
        for n in range(100)
    ]
    index.update(documents)
    index.update([], delete_keys=[f"t:{n}" for n in removed])
    [(leaf, _offset)] = index.searcher().leaf_searchers()
    reader = leaf.reader()
    ids, weights = read_postings(reader, "title", "儿童之家")
    assert (list(ids), list(weights)) == walk_postings(reader.postings("title", "儿童之家"))
    assert len(ids) == 100 - len(removed)
    assert index.search("儿童之家").total == 100 - len(removed)
