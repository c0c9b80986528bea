"""Ranking, term at a time: Whoosh's BM25F read straight from its postings.

Whoosh answers an And of Ors by advancing a tree of matchers document by document, and its
top-N pruning (`optimize=True`) returns a different first page from full scoring on about one
query in five, then runs the query again to count the hits. The portal's queries are small
(a few words, each looked for in a few fields), so it is faster to read each term's postings
once per segment, add each term's BM25F contribution into a table per word, intersect the
words' tables (smallest first) and take the page with a heap.

The scores are Whoosh's own: the same formula and parameters as `whoosh.scoring.BM25F`, the
same idf and average field lengths (from the whole index, deleted documents included), the
same lossy field lengths, and the weights as stored, field boosts included. Rankings therefore
equal `searcher.search(query, limit=None, optimize=False)`; ties go to the lower document
number, as in Whoosh. `reader.postings()` skips deleted documents.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import ListMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25F

Term = tuple[str, str]  # (field name, text)


def read_postings(reader, fieldname: str, text: str) -> tuple[Sequence[int], Sequence[float]]:
    """(document numbers, weights) of a term in one segment, deleted documents left out.

    Whole blocks are read at once from the two matchers whoosh3's codec makes (on-disk
    blocks and inlined lists); any other matcher is walked posting by posting.
    """
    matcher = reader.postings(fieldname, text)
    deleted = None
    if type(matcher) is FilterMatcher and matcher._exclude:
        deleted, matcher = matcher._ids, matcher.child
        matcher.reset()  # the filter advanced it past leading deleted documents
    if type(matcher) is W3LeafMatcher:
        ids: list[int] = []
        weights: list[float] = []
        while matcher.is_active():
            matcher._read_ids()
            matcher._read_weights()
            ids.extend(matcher._ids)
            weights.extend(matcher._weights)
            matcher._next_block()
    elif type(matcher) is ListMatcher and matcher._all_weights is None:
        ids = list(matcher._ids)
        weights = list(matcher._weights) if matcher._weights else [1.0] * len(ids)
    else:  # another codec: the public interface, which skips deleted documents itself
        return walk_postings(reader.postings(fieldname, text))
    if deleted:
        kept = [(d, w) for d, w in zip(ids, weights, strict=True) if d not in deleted]
        ids, weights = [d for d, _w in kept], [w for _d, w in kept]
    return ids, weights


def walk_postings(matcher) -> tuple[list[int], list[float]]:
    """(document numbers, weights) through the matcher's public interface, one at a time."""
    ids: list[int] = []
    weights: list[float] = []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


class LengthCache:
    """Per segment and field: every document's field length, then its BM25 length norm.

    Lengths never change in a segment (deleting a document only marks it), so they are read
    once per segment; the norms depend on the average length over the index, which each commit
    moves, and are recomputed when it does. Kept across searchers: a refreshed searcher reuses
    the entries of its unchanged segments.
    """

    def __init__(self) -> None:
        self._lengths: dict[tuple[str, str], list[int]] = {}
        self._norms: dict[tuple[str, str], tuple[tuple[float, float, float], list[float]]] = {}

    def keep_only(self, segment_ids: Iterable[str]) -> None:
        """Forget the segments that are gone (merged or rebuilt)."""
        keep = set(segment_ids)
        for cache in (self._lengths, self._norms):
            for key in [k for k in cache if k[0] not in keep]:
                del cache[key]

    def norms(self, reader, fieldname: str, avgfl: float, b: float, k1: float) -> list[float]:
        """K1 * ((1 - B) + B * length / avgfl) for each document of the segment, as BM25F has it."""
        key = (segment_id(reader), fieldname)
        cached = self._norms.get(key)
        if cached is not None and cached[0] == (avgfl, b, k1):
            return cached[1]
        lengths = self._lengths.get(key)
        if lengths is None:
            lengths = [
                reader.doc_field_length(docnum, fieldname) or 0
                for docnum in range(reader.doc_count_all())
            ]
            self._lengths[key] = lengths
        norms = [k1 * ((1 - b) + b * length / avgfl) for length in lengths]
        self._norms[key] = ((avgfl, b, k1), norms)
        return norms


def segment_id(reader) -> str:
    segment = reader.segment()
    return segment.segment_id() if segment is not None else ""


@dataclass
class Ranked:
    """What a query found: its total and one page of (document number, score)."""

    total: int
    page: list[tuple[int, float]]
    partial: bool = False  # no document had every word: these have some of them


class TermScorer:
    """Scores one query against one searcher, term at a time."""

    def __init__(self, searcher, lengths: LengthCache):
        weighting = searcher.weighting
        if not isinstance(weighting, BM25F):
            raise TypeError(f"the term-at-a-time scorer implements BM25F, not {weighting!r}")
        self.searcher = searcher
        self.weighting = weighting
        self.lengths = lengths
        self.leaves = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]

    def frequency(self, terms: Iterable[Term]) -> int:
        """How many documents hold these terms, counted per term: the size of a word's table."""
        return sum(self.searcher.doc_frequency(f, t) for f, t in terms)

    def table(self, terms: Sequence[Term], only: dict | set | None = None) -> dict[int, float]:
        """{document number: the word's score}: the sum over its terms of BM25F, as Whoosh adds
        the scores of an Or's matching terms. `only` limits it to these documents."""
        searcher, weighting = self.searcher, self.weighting
        k1 = weighting.K1
        scores: dict[int, float] = {}
        for fieldname, text in terms:
            if not searcher.schema[fieldname].scorable:
                raise ValueError(f"field {fieldname!r} keeps no lengths to score with")
            holding = [(r, o) for r, o in self.leaves if (fieldname, text) in r]
            if not holding:
                continue
            idf = searcher.idf(fieldname, text)
            avgfl = searcher.avg_field_length(fieldname) or 1
            b = weighting._field_B.get(fieldname, weighting.B)
            for reader, offset in holding:
                ids, weights = read_postings(reader, fieldname, text)
                norms = self.lengths.norms(reader, fieldname, avgfl, b, k1)
                get = scores.get
                for docnum, weight in zip(ids, weights, strict=True):
                    key = docnum + offset
                    if only is not None and key not in only:
                        continue
                    # Whoosh's bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
                    score = idf * ((weight * (k1 + 1)) / (weight + norms[docnum]))
                    scores[key] = get(key, 0.0) + score
        return scores

    def allowed(self, filters: Sequence[Term]) -> set[int] | None:
        """The documents holding every one of these (unscored) terms; None for no filter."""
        allowed: set[int] | None = None
        for fieldname, text in filters:
            found: set[int] = set()
            for reader, offset in self.leaves:
                if (fieldname, text) in reader:
                    ids, _weights = read_postings(reader, fieldname, text)
                    found.update(d + offset for d in ids)
            allowed = found if allowed is None else allowed & found
        return allowed

    def rank(
        self,
        words: Sequence[Sequence[Term]],
        *,
        filters: Sequence[Term] = (),
        first: Iterable[int] = (),
        start: int = 0,
        count: int = 10,
    ) -> Ranked:
        """Documents having every word (each word: the terms any of which may match), best first;
        those having some of them when none has all. `first` (exact document-number matches)
        go before the others whatever their score."""
        allowed = self.allowed(filters)
        words = sorted(words, key=self.frequency)  # smallest table first
        partial = False
        found: dict[int, float] = {}
        if words:
            found = self.table(words[0], allowed)
            for terms in words[1:]:
                if not found:
                    break
                more = self.table(terms, found)
                found = {d: s + more[d] for d, s in found.items() if d in more}
            if not found and len(words) > 1:
                for terms in words:
                    for docnum, score in self.table(terms, allowed).items():
                        found[docnum] = found.get(docnum, 0.0) + score
                partial = bool(found)
        first = {d for d in first if allowed is None or d in allowed}
        for docnum in first - found.keys():
            found[docnum] = 0.0
        top = heapq.nsmallest(
            start + count, found.items(), key=lambda item: (item[0] not in first, -item[1], item[0])
        )
        return Ranked(total=len(found), page=top[start:], partial=partial)
