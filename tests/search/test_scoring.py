"""The term-at-a-time scorer ranks exactly as Whoosh's full BM25F scoring does, over several
segments with deleted documents, with filters, pagination and the some-words fallback."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest
from whoosh.query import And, Term

from portal.search.index import SearchIndex, search_words
from portal.search.scoring import LengthCache, TermScorer, read_postings, walk_postings
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
]
KINDS = ("news", "notice", "policy")
YEARS = ("2019", "2020", "2021")


def _document(rng: random.Random, number: int, version: int = 1) -> Document:
    year = rng.choice(YEARS)
    return Document(
        source="test",
        local_id=str(number),
        kind=rng.choice(KINDS),
        version=str(version),
        url=f"/t/{number}",
        title="".join(rng.sample(WORDS, rng.randint(1, 3))),
        body="，".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) + "。",
        published=datetime(int(year), 5, 1, 2, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> SearchIndex:
    """120 documents over several segments; 15 replaced by new versions and 10 removed, so that
    segments hold deleted documents."""
    rng = random.Random(20261130)
    index = SearchIndex(tmp_path_factory.mktemp("scoring") / "search")
    for batch in range(6):
        index.update([_document(rng, n) for n in range(batch * 20, batch * 20 + 20)])
    index.update(
        [_document(rng, n, version=2) for n in range(0, 60, 4)],
        delete_keys=[f"test:{n}" for n in range(61, 120, 6)],
    )
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
) -> list[tuple[str, float]]:
    """Whoosh's own full scoring of the same search: every hit, no pruning."""
    queries = index.whoosh_queries(searcher, query)
    if queries is None:
        return []
    every, some = queries
    filter_query = And([Term(f, v) for f, v in filters]) if filters else None
    found = searcher.search(every, limit=None, optimize=False, filter=filter_query)
    if not found.scored_length() and some is not None:
        found = searcher.search(some, limit=None, optimize=False, filter=filter_query)
    return [(hit["id"], hit.score) for hit in found]


def _pages(index: SearchIndex, query: str, **filters) -> tuple[list[str], int, bool]:
    keys: list[str] = []
    page, total, partial = 1, 0, False
    while True:
        results = index.search(query, page=page, per_page=7, **filters)
        total, partial = results.total, results.partial
        keys.extend(hit.key for hit in results.hits)
        if page >= results.pages:
            return keys, total, partial
        page += 1


def test_the_corpus_has_several_segments_and_deleted_documents(corpus):
    searcher = corpus.searcher()
    assert len(searcher.leaf_searchers()) > 1
    assert searcher.doc_count() == 110 and searcher.doc_count_all() > 110


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "filters",
    [{}, {"kind": "news"}, {"year": "2020"}, {"kind": "policy", "year": "2019"}],
    ids=["no filter", "kind", "year", "kind and year"],
)
def test_the_ranking_equals_whooshs_full_bm25f_scoring(corpus, query, filters):
    expected = _whoosh_full(corpus, corpus.searcher(), query, list(filters.items()))
    keys, total, partial = _pages(corpus, query, **filters)
    assert keys == [key for key, _score in expected]
    assert total == len(expected)
    assert partial == ("不存在的词" in query and bool(expected))


@pytest.mark.parametrize("query", QUERIES)
def test_the_scores_are_whooshs_own(corpus, query):
    searcher = corpus.searcher()
    expected = _whoosh_full(corpus, searcher, query, [])
    scorer = TermScorer(searcher, LengthCache())
    words = corpus.word_terms(searcher, search_words(query))
    ranked = scorer.rank(words, count=len(expected))
    found = [(searcher.stored_fields(d)["id"], score) for d, score in ranked.page]
    assert [k for k, _s in found] == [k for k, _s in expected]
    for (_k, score), (_e, whoosh_score) in zip(found, expected, strict=True):
        assert math.isclose(score, whoosh_score, rel_tol=1e-12)


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
    removed = {f"test:{n}" for n in range(61, 120, 6)}
    assert not removed & live
    for query in QUERIES:
        keys, total, _partial = _pages(corpus, query)
        assert not removed & set(keys) and len(keys) == len(set(keys)) == total
    # A replaced document is found once, at its new version.
    versions = corpus.versions()
    assert all(versions[f"test:{n}"] == "2" for n in range(0, 60, 4))


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
