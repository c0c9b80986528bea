"""Ranking, term at a time: Whoosh's BM25F read straight from its postings.

Whoosh answers an And of Ors by advancing a tree of matchers document by document; its top-N
pruning (`optimize=True`, and even `limit=10` alone across segments) returns a different first
page from full scoring on about one query in eight, and it runs the query a second time to
count the hits. The portal's queries are small (a few words, each looked for in a few fields),
so it is faster to read each term's postings once per segment, turn them into a table of
BM25F scores, read the words smallest first (the others only for the documents still in the
running), and take the page with a heap.

The scores are Whoosh's own to the last bit: the same formula and parameters as
`whoosh.scoring.BM25F`, the same idf and average field lengths (from the whole index, deleted
documents included), the same lossy field lengths, the weights as stored (field boosts
included), and the sums made in the order Whoosh's matchers make them. Rankings therefore
equal `searcher.search(query, limit=None, optimize=False)`, even between two documents a
rounding apart; ties go to the lower document number, as in Whoosh. `reader.postings()` skips
deleted documents.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

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
            if matcher._data is None:
                matcher._read_data()
            # Document numbers are stored as gaps: add them up in C (whoosh's delta_decode is a
            # Python generator, about a fifth of the time of a search).
            gaps = matcher._data[0]
            ids.extend(gaps if matcher._byteids else accumulate(gaps))
            matcher._read_weights()
            weights.extend(matcher._weights)
            matcher._next_block()
    elif type(matcher) is ListMatcher and matcher._all_weights is None:
        ids = list(matcher._ids)
        weights = list(matcher._weights) if matcher._weights else [1.0] * len(ids)
    else:  # another codec: the public interface, which skips deleted documents itself
        return walk_postings(reader.postings(fieldname, text))
    if deleted:
        if len(deleted) * 16 < len(ids):  # a few deletions: find them (ids ascend)
            for docnum in sorted(deleted, reverse=True):
                at = bisect.bisect_left(ids, docnum)
                if at < len(ids) and ids[at] == docnum:
                    del ids[at], weights[at]
        else:
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


# How Whoosh adds the scores of a query's parts, so that the sums are its own to the last bit:
# per segment, an Or of more than two parts over at most 5,000 documents adds them in order
# (ArrayUnionMatcher); otherwise an Or and an And are trees built smallest first (an And's
# parts weigh minus their size), ties kept in order (whoosh.util.make_weighted_tree).
ARRAY_UNION_MAX_DOCS = 5000
TOO_MANY_CLAUSES = 1024


def weighted_tree(weights: Sequence[float]):
    """The shape of whoosh.util.make_weighted_tree over parts 0..n-1: nested pairs of indexes.

    Matchers compare as never "less" than one another, so equal weights keep their order in
    the sort and a merged pair goes after the parts of equal weight (bisect's insort).
    """
    items = sorted(zip(weights, range(len(weights)), strict=True), key=lambda item: item[0])
    nodes: list[tuple[float, object]] = list(items)
    while len(nodes) > 1:
        (wa, a), (wb, b) = nodes.pop(0), nodes.pop(0)
        weight = wa + wb
        at = bisect.bisect_right([w for w, _node in nodes], weight)
        nodes.insert(at, (weight, (a, b)))
    return nodes[0][1]


# The tables combined below are made for one query and used once: they are added into in place.


def union(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """Whoosh's UnionMatcher: a document in both gets a + b (== b + a)."""
    if len(a) < len(b):
        a, b = b, a
    get = a.get
    for key, score in b.items():
        a[key] = get(key, 0.0) + score  # 0 + x == x
    return a


def intersection(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """Whoosh's IntersectionMatcher: documents in both, a + b (== b + a)."""
    if len(a) > len(b):
        a, b = b, a
    return {key: score + b[key] for key, score in a.items() if key in b}


def added_in_order(parts: Sequence[dict[int, float]]) -> dict[int, float]:
    """Whoosh's ArrayUnionMatcher: each part added in turn into an array of zeros.

    Each step adds one number to a running sum, and a + b == b + a exactly, so the smaller
    table may be added into the larger: only the grouping, ((a + b) + c), must be kept.
    """
    total: dict[int, float] = {}
    for part in parts:
        if part:
            total = union(total, part) if total else part
    return total


def evaluate(tree, parts: Sequence[dict[int, float]], combine) -> dict[int, float]:
    if isinstance(tree, int):
        return parts[tree]
    return combine(evaluate(tree[0], parts, combine), evaluate(tree[1], parts, combine))


class TermScorer:
    """Scores one query against one searcher, term at a time, segment by segment."""

    def __init__(self, searcher, lengths: LengthCache):
        weighting = searcher.weighting
        if not isinstance(weighting, BM25F):
            raise TypeError(f"the term-at-a-time scorer implements BM25F, not {weighting!r}")
        self.searcher = searcher
        self.weighting = weighting
        self.lengths = lengths
        self.leaves = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]
        self._stats: dict[Term, tuple[float, float, float]] = {}
        self._frequencies: dict[tuple[int, Term], int] = {}

    def _frequency(self, reader, term: Term) -> int:
        """How many documents of the segment (deleted ones too) hold the term; 0 without it.

        Asked once per query: each look-up hashes the term in the segment's table.
        """
        key = (id(reader), term)
        found = self._frequencies.get(key)
        if found is None:
            fieldname, text = term
            # A field nothing in the segment has (numbers, issuer): no look-up at all.
            found = reader.doc_frequency(fieldname, text) if reader.field_length(fieldname) else 0
            self._frequencies[key] = found
        return found

    def _term_stats(self, fieldname: str, text: str) -> tuple[float, float, float]:
        """(idf, average field length, B) from the whole index, as BM25FScorer takes them."""
        stats = self._stats.get((fieldname, text))
        if stats is None:
            searcher, weighting = self.searcher, self.weighting
            if not searcher.schema[fieldname].scorable:
                raise ValueError(f"field {fieldname!r} keeps no lengths to score with")
            stats = (
                searcher.idf(fieldname, text),
                searcher.avg_field_length(fieldname) or 1,
                weighting._field_B.get(fieldname, weighting.B),
            )
            self._stats[(fieldname, text)] = stats
        return stats

    def _term(self, reader, offset: int, term: Term, only) -> dict[int, float]:
        """{document number: BM25F of the term} in one segment (`only`: these documents)."""
        fieldname, text = term
        if not self._frequency(reader, term):
            return {}
        idf, avgfl, b = self._term_stats(fieldname, text)
        k1 = self.weighting.K1
        ids, weights = read_postings(reader, fieldname, text)
        norms = self.lengths.norms(reader, fieldname, avgfl, b, k1)
        # Whoosh's bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        if only is None:
            return {
                d + offset: idf * ((w * (k1 + 1)) / (w + norms[d]))
                for d, w in zip(ids, weights, strict=True)
            }
        return {
            key: idf * ((w * (k1 + 1)) / (w + norms[d]))
            for d, w in zip(ids, weights, strict=True)
            if (key := d + offset) in only
        }

    def _size(self, reader, terms: Sequence[Term]) -> int:
        """What Whoosh estimates an Or of these terms to match in the segment."""
        return min(sum(self._frequency(reader, term) for term in terms), reader.doc_count())

    def _any(self, reader, parts: Sequence[dict[int, float]], sizes: Callable[[], list[int]]):
        """The parts of an Or added as Whoosh adds them in this segment."""
        if len(parts) == 1:
            return parts[0]
        if len(parts) >= TOO_MANY_CLAUSES or (
            len(parts) > 2 and reader.doc_count_all() <= ARRAY_UNION_MAX_DOCS
        ):
            return added_in_order(parts)
        return evaluate(weighted_tree(sizes()), parts, union)

    def _word(self, reader, offset: int, terms: Sequence[Term], only) -> dict[int, float]:
        """{document number: the word's score} in one segment: its terms' Or."""
        parts = [self._term(reader, offset, term, only) for term in terms]
        return self._any(reader, parts, lambda: [self._frequency(reader, t) for t in terms])

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

    def _every(self, reader, offset: int, words, allowed) -> dict[int, float]:
        """Documents of the segment having every word, scored as Whoosh's And of Ors.

        The word with the fewest documents is read first; the others only for the documents
        still in the running. The sum follows Whoosh's tree, whatever the reading order.
        """
        sizes = [self._size(reader, terms) for terms in words]
        tables: list[dict[int, float]] = [{}] * len(words)
        only = allowed
        for index in sorted(range(len(words)), key=sizes.__getitem__):
            tables[index] = self._word(reader, offset, words[index], only)
            if not tables[index]:
                return {}
            only = tables[index]
        if len(words) == 1:
            return tables[0]
        return evaluate(weighted_tree([-size for size in sizes]), tables, intersection)

    def _some(self, reader, offset: int, words, allowed) -> dict[int, float]:
        """Documents of the segment having some of the words, scored as Whoosh's Or of Ors."""
        tables = [self._word(reader, offset, terms, allowed) for terms in words]
        return self._any(reader, tables, lambda: [self._size(reader, terms) for terms in words])

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
        partial = False
        found: dict[int, float] = {}
        if words:
            for reader, offset in self.leaves:
                found.update(self._every(reader, offset, words, allowed))
            if not found and len(words) > 1:
                for reader, offset in self.leaves:
                    found.update(self._some(reader, offset, words, allowed))
                partial = bool(found)
        first = {d for d in first if allowed is None or d in allowed}
        top = sorted(((d, found.get(d, 0.0)) for d in first), key=_best_first)
        total = len(found) + len(first - found.keys())
        wanted = start + count - len(top)
        others = [s for d, s in found.items() if d not in first] if first else found.values()
        if wanted > 0 and others:
            # The wanted-th best score, then every document scoring at least that (ties
            # included) in Whoosh's order: higher score first, then lower document number.
            threshold = heapq.nlargest(wanted, others)[-1]
            rest = [(d, s) for d, s in found.items() if s >= threshold and d not in first]
            top += sorted(rest, key=_best_first)[:wanted]
        return Ranked(total=total, page=top[start : start + count], partial=partial)


def _best_first(item: tuple[int, float]) -> tuple[float, int]:
    return (-item[1], item[0])
