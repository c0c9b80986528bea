"""The Whoosh index: schema, one searcher per process kept fresh, updates, repair, rebuild.

It holds documents from every search source (portal.search.sources), each under an id
qualified by its source ("publicity:12"), and knows nothing of the areas behind them.

The index is derived data and may be lost or damaged (a deleted directory, a crash while a
file was written). Readers notice: a new commit, or a directory replaced under them, gets a
fresh searcher (unchanged segments reused); an index that cannot be read raises
`IndexUnavailable`, which the search page shows as a notice with the hotlines. The catch-up
job rebuilds an index it cannot read from every source, beside the old one, and swaps it in.
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlmodel import Session
from whoosh import index as whoosh_index
from whoosh import writing
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.filedb.structfile import StructFile
from whoosh.index import TOC, LockError
from whoosh.query import And, Or, Term
from whoosh.reading import EmptyReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

from portal.search import sources as search_sources
from portal.search.analysis import ChineseAnalyzer, query_words
from portal.search.numbers import doc_no_forms, index_no_forms, query_forms
from portal.search.scoring import LengthCache, TermScorer
from portal.search.scoring import Term as TermKey
from portal.search.sources import Document, qualify, split_key

log = logging.getLogger("portal.search")
STOP_WORDS = {"and", "or", "not", "to", "title", "body"}
MAX_WORDS = 12
MAX_EXPANSION = 60  # words a one-character query stands for, per field
MAX_KEPT_STORED = 5000  # documents whose stored fields a searcher keeps decoded


# Bump when the schema or the analysis changes; the dictionary's own hash is added to it.
SCHEMA_VERSION = 4
# The fields searched for the query's words (the title weighs three times, by its field boost).
FIELDS = ("title", "body", "numbers", "issuer")
# Exact forms of an official document's numbers (portal.search.numbers).
NUMBER_FIELDS = ("doc_no", "index_no")
INDEX_NAME = "MAIN"
SIGNATURE_FILE = "portal-signature"
DAMAGE_FILE = "portal-unreadable"  # left by a reader that failed; the catch-up job rebuilds
_TOC = re.compile(rf"^_{INDEX_NAME}_([0-9]+)\.toc$")


def make_schema() -> Schema:
    analyzer = ChineseAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),  # qualified by the source: "publicity:12"
        source=ID(stored=True),
        ver=ID(stored=True),
        kind=ID(stored=True),
        year=ID(stored=True),
        url=STORED,
        # No positions: the portal asks for words, never phrases.
        title=TEXT(analyzer=analyzer, field_boost=3.0, stored=True, phrase=False),
        summary=STORED,
        # What the source gives as body (its summary included if it wants it searched).
        body=TEXT(analyzer=analyzer, phrase=False),
        # An official document's numbers as whole tokens in their exact forms ...
        doc_no=KEYWORD(),
        index_no=KEYWORD(),
        # ... and cut into words like any text, with the issuing body.
        numbers=TEXT(analyzer=analyzer, phrase=False),
        issuer=TEXT(analyzer=analyzer, phrase=False),
        meta=STORED,
        published=DATETIME(stored=True),
    )


def fields_of(document: Document) -> dict:
    """The Whoosh fields of a document."""
    published = document.published
    if published is not None and published.tzinfo is not None:
        published = published.astimezone(UTC).replace(tzinfo=None)
    meta = dict(document.metadata)
    doc_no, index_no = meta.get("doc_no", ""), meta.get("index_no", "")
    return {
        "id": document.key,
        "source": document.source,
        "ver": document.version,
        "kind": document.kind,
        "year": document.year,
        "url": document.url,
        "title": document.title,
        "summary": document.summary,
        "body": document.body,
        "doc_no": " ".join(doc_no_forms(doc_no)),
        "index_no": " ".join(index_no_forms(index_no)),
        "numbers": f"{doc_no}\n{index_no}",
        "issuer": meta.get("issuer", ""),
        "meta": meta,
        "published": published,
    }


def schema_signature() -> str:
    """What the index was built with: a different one means it must be rebuilt."""
    import hashlib
    from importlib import resources

    words = resources.files("portal.search").joinpath("userdict.txt").read_bytes()
    return f"{SCHEMA_VERSION}:{hashlib.sha256(words).hexdigest()[:16]}"


def search_words(text: str) -> list[str]:
    """The words of a query the search looks for."""
    return [w for w in query_words(text) if w not in STOP_WORDS][:MAX_WORDS]


class IndexUnavailable(Exception):  # noqa: N818 - a state, like NotFound
    """The index cannot be read now: missing, damaged, or built by another version."""

    def __init__(self, detail: str, *, missing: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.missing = missing


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


@dataclass(frozen=True)
class Hit:
    """One result: what the index stored of a document, then its label and snippet."""

    key: str  # "publicity:12"
    source: str
    local_id: str
    kind: str
    url: str  # path inside the application
    title: str
    summary: str
    published: datetime | None  # aware UTC
    doc_no: str = ""  # 发文字号, for an official document
    version: str = ""  # the document's version when it was indexed
    kind_label: str = ""
    snippet: str = ""  # safe HTML: escaped text with <mark> around matches
    published_iso: str = ""  # for <time datetime>
    published_day: str = ""  # the date as the page shows it, in the page's language


@dataclass
class SearchResults:
    """One page of what the index found, before snippets are made."""

    query: str
    words: list[str] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    hits: list[Hit] = field(default_factory=list)
    partial: bool = False  # no document had every word: these have some of them


def make_snippet(text: str, words: list[str], *, width: int = 60, count: int = 2) -> str:
    """Up to `count` passages around the query words, escaped, with the words in <mark>.

    Plain substring search over the text: a few microseconds, where re-tokenising a long body
    for Whoosh's highlighter took milliseconds per hit.
    """
    text = " ".join(text.split())
    return marked_passages(text, text.lower(), words, width=width, count=count)


@functools.lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """The query words as one pattern, longest first: the same for every hit of a page."""
    alternatives = sorted({w for w in words if w}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile("|".join(re.escape(w) for w in alternatives), re.IGNORECASE)


def marked_passages(
    text: str, lowered: str, words: list[str], *, width: int = 60, count: int = 2
) -> str:
    """make_snippet for a text whose runs of whitespace are single spaces already, and its
    lower case (kept with the text by whoever shows snippets of it again)."""
    found = sorted(
        (pos, word) for word in words if word for pos in [lowered.find(word)] if pos >= 0
    )
    if not found:
        return ""
    passages: list[tuple[int, int]] = []
    for pos, word in found:
        start, end = max(0, pos - width // 2), min(len(text), pos + len(word) + width // 2)
        if passages and start <= passages[-1][1]:
            passages[-1] = (passages[-1][0], max(end, passages[-1][1]))
        else:
            passages.append((start, end))
        if len(passages) >= count:
            break
    pattern = _words_pattern(tuple(words))
    parts = []
    for start, end in passages:
        chunk = text[start:end]
        marked, last = [], 0
        for match in pattern.finditer(chunk) if pattern is not None else ():
            marked.append(html.escape(chunk[last : match.start()]))
            marked.append(f'<mark class="hl">{html.escape(match.group(0))}</mark>')
            last = match.end()
        marked.append(html.escape(chunk[last:]))
        parts.append(
            ("…" if start > 0 else "") + "".join(marked) + ("…" if end < len(text) else "")
        )
    return " ".join(parts)


class SearchIndex:
    """One index directory and this process's searcher on it, refreshed rather than reopened.

    The searcher is checked before each use against the directory (replaced?), the latest
    generation and its table of contents (rewritten?): a new commit gets a refreshed searcher
    that keeps the readers of unchanged segments; a replaced directory gets a new one.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._ix = None
        self._folder: tuple[int, int] | None = None  # the directory self._ix was opened in
        self._searcher = None
        self._searcher_state: tuple | None = None
        self._lengths = LengthCache()
        self._expansions: dict[str, list[TermKey]] = {}
        self._numbered_fields: tuple[object, list[str]] = (None, [])
        self._stored: tuple[object, dict[int, dict]] = (None, {})
        self.failure: str | None = None  # the last read that failed, until one succeeds
        try:
            with self._lock:
                # First use in this process: a directory without an index gets an empty one
                # (the catch-up job fills it). An index lost later is not silently recreated.
                self._open(create=True)
        except IndexUnavailable as problem:
            self.failure = problem.detail

    # Opening ------------------------------------------------------------------------------

    def _open(self, *, create: bool) -> None:
        marker = self.path / SIGNATURE_FILE
        signature = schema_signature()
        try:
            current = marker.read_text() if marker.exists() else None
            exists = _generation(self.path) >= 0
            if exists and current == signature:
                ix = whoosh_index.open_dir(str(self.path), indexname=INDEX_NAME)
            elif create:
                # New, or built with another schema or dictionary: start empty; the catch-up
                # job (and `flask search catch-up` in `make run`) fills it from the sources.
                self.path.mkdir(parents=True, exist_ok=True)
                ix = whoosh_index.create_in(str(self.path), make_schema(), indexname=INDEX_NAME)
                marker.write_text(signature)
                if current is not None:
                    log.warning(
                        "search index rebuilt for a new schema or dictionary",
                        extra={"fields": {"path": str(self.path)}},
                    )
            elif exists:
                raise IndexUnavailable(f"the index in {self.path} was built by another version")
            else:
                raise IndexUnavailable(f"no search index in {self.path}", missing=True)
        except IndexUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - any damage to the files: report it
            raise IndexUnavailable(_describe(error)) from error
        self._ix = ix
        self._folder = _folder(self.path)

    def _state(self) -> tuple:
        """What identifies the index on disk now: its directory, generation and TOC file."""
        for _look in range(3):  # a commit may remove the TOC we just listed: look again
            folder = _folder(self.path)
            generation = _generation(self.path) if folder else -1
            if generation < 0:
                break
            try:
                toc = os.stat(self.path / TOC._filename(INDEX_NAME, generation))
            except OSError:
                continue
            return (*folder, generation, toc.st_ino, toc.st_mtime_ns)
        raise IndexUnavailable(f"no search index in {self.path}", missing=True)

    def _close_searcher(self) -> None:
        if self._searcher is not None:
            with contextlib.suppress(Exception):  # closing the files of a lost index
                self._searcher.close()
        self._searcher = self._searcher_state = None

    def _refreshed(self, old) -> Searcher:
        """A searcher on the latest commit, reusing `old`'s readers of unchanged segments.

        whoosh3's own Searcher.refresh() fails after an empty index, keeps segments that a
        merge removed (the same documents twice) and reuses a segment's reader after some of
        its documents were deleted (deleted documents found again); this one does neither.
        """
        storage = self._ix.storage
        toc = TOC.read(storage, INDEX_NAME)
        reusable: dict[str, SegmentReader] = {}
        if old is not None:
            for reader, _offset in old.reader().leaf_readers():
                segment = reader.segment()
                if segment is not None:
                    reusable[segment.segment_id()] = reader
        readers, opened = [], []
        try:
            for segment in toc.segments:
                reader = reusable.get(segment.segment_id())
                if (
                    reader is not None
                    and not reader.is_closed
                    and reader.segment().deleted_count() == segment.deleted_count()
                ):
                    del reusable[segment.segment_id()]
                else:
                    reader = _segment_reader(storage, toc, segment)
                    opened.append(reader)
                readers.append(reader)
        except BaseException:
            for reader in opened:
                reader.close()
            raise
        for reader in reusable.values():  # merged away, or with new deletions
            reader.close()
        if not readers:
            reader = EmptyReader(toc.schema)
        elif len(readers) == 1:
            reader = readers[0]
        else:
            reader = MultiReader(readers, generation=toc.generation)
        return Searcher(reader, fromindex=self._ix)

    def searcher(self) -> Searcher:
        """This process's searcher on the latest commit (IndexUnavailable when it cannot be)."""
        with self._lock:
            try:
                state = self._state()
            except IndexUnavailable:
                self._close_searcher()
                raise
            if self._searcher is not None and state == self._searcher_state:
                return self._searcher
            try:
                replaced = self._ix is None or tuple(state[:2]) != self._folder
                if replaced:
                    self._close_searcher()
                    self._open(create=False)
                    state = self._state()
                searcher = self._refreshed(self._searcher)
            except IndexUnavailable:
                self._close_searcher()
                raise
            except Exception as error:  # noqa: BLE001 - damaged files: report, never crash
                self._close_searcher()
                self._record_failure(error)
                raise IndexUnavailable(_describe(error)) from error
            self._searcher, self._searcher_state = searcher, state
            self._lengths.keep_only(
                r.segment().segment_id()
                for r, _o in searcher.reader().leaf_readers()
                if r.segment() is not None
            )
            self._expansions.clear()
            return searcher

    def _discard(self, searcher) -> None:
        with self._lock:
            if self._searcher is searcher:
                self._close_searcher()

    def _read(self, operation: Callable[[Searcher], object]):
        """operation(searcher), once more on a fresh searcher if it fails, then IndexUnavailable.

        A read can fail because another thread's refresh closed a reader, or because a file
        is damaged; the second try tells them apart.
        """
        for attempt in (1, 2):
            searcher = self.searcher()
            try:
                result = operation(searcher)
            except Exception as error:  # noqa: BLE001 - whoosh raises many kinds on bad files
                self._discard(searcher)
                if attempt == 1:
                    continue
                self._record_failure(error)
                raise IndexUnavailable(_describe(error)) from error
            self.failure = None
            return result
        raise AssertionError("unreachable")

    def _record_failure(self, error: BaseException) -> None:
        self.failure = _describe(error)
        log.error(
            "search index unreadable; the catch-up job will rebuild it",
            exc_info=error,
            extra={"fields": {"path": str(self.path)}},
        )
        with contextlib.suppress(OSError):  # tell the catch-up job, maybe in another process
            (self.path / DAMAGE_FILE).write_text(self.failure)

    def damage(self) -> str | None:
        """What a failed read recorded in the directory, if one did since it was built."""
        try:
            return (self.path / DAMAGE_FILE).read_text() or "unreadable"
        except OSError:
            return None

    # Reading ------------------------------------------------------------------------------

    def _expansion(self, searcher, character: str) -> list[TermKey]:
        """The words a lone character stands for: those containing it, the most frequent first.

        The segmenter does not make a word of one character, so 爱 alone finds 关爱, 爱心 ….
        """
        terms = self._expansions.get(character)
        if terms is None:
            terms = []
            for fieldname in FIELDS:
                found = []
                for term in searcher.lexicon(fieldname):
                    text = term.decode("utf-8") if isinstance(term, bytes) else term
                    if character in text:
                        found.append((-searcher.doc_frequency(fieldname, text), text))
                terms.extend((fieldname, text) for _n, text in sorted(found)[:MAX_EXPANSION])
            self._expansions[character] = terms
        return terms

    def word_terms(self, searcher, words: list[str]) -> list[list[TermKey]]:
        """For each word, the (field, text) terms any of which it matches."""
        alone = len(words) == 1
        found = []
        for word in words:
            if alone and len(word) == 1 and not word.isascii():
                terms = self._expansion(searcher, word)
            else:
                terms = [(name, word) for name in FIELDS]
            if terms:
                found.append(terms)
        return found

    def _stored_fields(self, searcher, docnum: int) -> dict:
        """A document's stored fields (not to be changed), decoded once per searcher: they
        never change under it, and a refreshed searcher starts with none."""
        owner, kept = self._stored
        if owner is not searcher:
            kept = {}
            self._stored = (searcher, kept)
        fields = kept.get(docnum)
        if fields is None:
            if len(kept) >= MAX_KEPT_STORED:
                kept.clear()
            fields = kept[docnum] = searcher.stored_fields(docnum)
        return fields

    def numbered_documents(self, searcher, text: str) -> set[int]:
        """Documents whose document or index number the query holds (the most specific form
        of each number that any document has)."""
        known, fields = self._numbered_fields
        if known is not searcher:  # once per searcher: most indexes hold no numbers at all
            fields = [name for name in NUMBER_FIELDS if any(True for _t in searcher.lexicon(name))]
            self._numbered_fields = (searcher, fields)
        found: set[int] = set()
        for forms in query_forms(text) if fields else ():
            for form in forms:
                docs = {
                    d
                    for name in fields
                    if searcher.doc_frequency(name, form)
                    for d in searcher.docs_for_query(Term(name, form))
                }
                if docs:
                    found |= docs
                    break
        return found

    def whoosh_queries(self, searcher, text: str):
        """The same search as Whoosh queries: (every word, some words), or None without words.

        Ranking by `searcher.search(all_words, limit=None, optimize=False)` is what `search()`
        reproduces (without the document-number rule): the benchmark and the tests compare them.
        """
        clauses = [
            Or([Term(name, term) for name, term in terms])
            for terms in self.word_terms(searcher, search_words(text))
        ]
        if not clauses:
            return None
        return And(clauses), (Or(clauses) if len(clauses) > 1 else None)

    def search(
        self,
        text: str,
        *,
        kind: str | None = None,
        year: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> SearchResults:
        """Plain-text search: every word must match (some words, when none has them all);
        a document whose number the query holds comes first."""
        results = SearchResults(query=text, page=page)
        words = search_words(text)
        results.words = words
        if not words:
            return results
        filters = [("kind", kind)] if kind else []
        if year:
            filters.append(("year", year))
        page = max(1, page)

        def run(searcher):
            scorer = TermScorer(searcher, self._lengths)
            terms = self.word_terms(searcher, words)
            first = self.numbered_documents(searcher, text)
            if not terms and not first:
                return None
            start = (page - 1) * per_page
            ranked = scorer.rank(terms, filters=filters, first=first, start=start, count=per_page)
            pages = max(1, math.ceil(ranked.total / per_page))
            if page > pages:  # past the end: the last page, as Whoosh's search_page did
                last = (pages - 1) * per_page
                ranked = scorer.rank(
                    terms, filters=filters, first=first, start=last, count=per_page
                )
            stored = [self._stored_fields(searcher, docnum) for docnum, _score in ranked.page]
            return ranked, pages, stored

        found = self._read(run)
        if found is None:
            return results
        ranked, pages, stored = found
        results.total = ranked.total
        results.partial = ranked.partial
        results.pages = pages
        results.page = min(page, pages)
        for fields in stored:
            source, local_id = split_key(fields["id"])
            published = fields.get("published")
            results.hits.append(
                Hit(
                    key=fields["id"],
                    source=source,
                    local_id=local_id,
                    kind=fields["kind"],
                    url=fields.get("url") or "",
                    title=fields["title"],
                    summary=fields.get("summary") or "",
                    published=published.replace(tzinfo=UTC) if published else None,
                    doc_no=(fields.get("meta") or {}).get("doc_no", ""),
                    version=fields.get("ver") or "",
                )
            )
        return results

    def versions(self) -> dict[str, str]:
        """{qualified id: indexed version} of every document in the index."""
        return self._read(lambda s: {f["id"]: f["ver"] for f in s.all_stored_fields()})

    def health(self) -> dict:
        """{"state": "ok" | "degraded" | "missing", "documents": n, "detail": text}."""
        try:
            documents, segments = self._read(
                lambda s: (s.doc_count(), len(s.reader().leaf_readers()))
            )
        except IndexUnavailable as problem:
            state = "missing" if problem.missing else "degraded"
            return {"state": state, "documents": 0, "detail": problem.detail}
        damage = self.damage()
        if damage:
            detail = f"a read failed ({damage}); the catch-up job rebuilds the index"
            return {"state": "degraded", "documents": documents, "detail": detail}
        return {"state": "ok", "documents": documents, "detail": f"{segments} segment(s)"}

    # Writing ------------------------------------------------------------------------------

    def _writable(self):
        """The index to write to, reopened if its directory was replaced."""
        with self._lock:
            state = self._state()
            if self._ix is None or tuple(state[:2]) != self._folder:
                self._close_searcher()
                self._open(create=False)
            return self._ix

    def update(self, documents: Iterable[Document], delete_keys: Iterable[str] = ()) -> None:
        """Add or replace these documents and remove these qualified ids, in one commit.

        LockError when another writer holds the index; IndexUnavailable when it is lost or
        damaged (the catch-up job rebuilds it).
        """
        fields = [fields_of(document) for document in documents]
        writer = self._writable().writer(timeout=15.0, delay=0.1)
        try:
            for key in delete_keys:
                writer.delete_by_term("id", key)
            for values in fields:
                writer.update_document(**values)
        except BaseException as error:
            writer.cancel()
            if not isinstance(error, Exception):
                raise
            self._record_failure(error)
            raise IndexUnavailable(_describe(error)) from error
        try:
            writer.commit()
        except Exception as error:  # noqa: BLE001 - merging read a damaged segment
            self._record_failure(error)
            raise IndexUnavailable(_describe(error)) from error

    def rebuild(self, documents: Iterable[Document], *, procs: int = 1) -> int:
        """Replace the whole index in one commit; readers see the old one until then."""
        writer = self._writable().writer(timeout=15.0, delay=0.1, **_writer_options(procs))
        count = 0
        try:
            for document in documents:
                writer.add_document(**fields_of(document))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=writing.CLEAR)
        return count

    def replace(self, documents: Iterable[Document], *, procs: int = 1) -> int:
        """Build a new index beside this one, then swap the directories.

        For an index that is lost or cannot be read: nothing of the old one is read, and
        readers never see a half-built index.
        """
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.path)
        fresh = Path(tempfile.mkdtemp(prefix=f".{self.path.name}-new-", dir=parent))
        try:
            ix = whoosh_index.create_in(str(fresh), make_schema(), indexname=INDEX_NAME)
            (fresh / SIGNATURE_FILE).write_text(schema_signature())
            writer = ix.writer(**_writer_options(procs))
            count = 0
            for document in documents:
                writer.add_document(**fields_of(document))
                count += 1
            writer.commit()
            with self._lock:
                self._close_searcher()
                old = None
                if self.path.exists():
                    old = parent / f".{self.path.name}-old-{uuid.uuid4().hex}"
                    os.rename(self.path, old)
                os.rename(fresh, self.path)
                self._ix = None
                self._open(create=False)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.failure = None
        return count


LEFTOVER_AGE_SECONDS = 3600


def remove_leftovers(path: Path, *, older_than: float = LEFTOVER_AGE_SECONDS) -> list[Path]:
    """Remove half-built or swapped-out index folders a killed rebuild left beside `path`.

    Only folders untouched for an hour go: a rebuild running now in another process keeps its.
    """
    removed = []
    cutoff = time.time() - older_than
    for pattern in (f".{path.name}-new-*", f".{path.name}-old-*"):
        for leftover in path.parent.glob(pattern):
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover)
    return removed


def _segment_reader(storage, toc, segment) -> SegmentReader:
    try:
        return SegmentReader(storage, toc.schema, segment, generation=toc.generation)
    except Exception as error:
        # whoosh leaves the file of a segment it cannot open unclosed: close it here.
        trace = error.__traceback__
        while trace is not None:
            for value in list(trace.tb_frame.f_locals.values()):
                if isinstance(value, StructFile | io.IOBase):
                    with contextlib.suppress(Exception):
                        value.close()
            trace = trace.tb_next
        raise


def _writer_options(procs: int) -> dict:
    return {"procs": procs, "limitmb": 256, "multisegment": True} if procs > 1 else {}


def _folder(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _generation(path: Path) -> int:
    """The latest generation of the index in this directory; -1 when it holds none."""
    try:
        names = os.listdir(path)
    except OSError:
        return -1
    return max((int(m[1]) for name in names if (m := _TOC.match(name))), default=-1)


_INDEXES: dict[str, SearchIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _index_key(path: str | Path | None) -> str:
    return str(path or current_app.config["PORTAL_SEARCH_DIR"])


def get_index(path: str | Path | None = None) -> SearchIndex:
    """This process's index object for the configured directory (created on first use)."""
    key = _index_key(path)
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = SearchIndex(Path(key))
        return _INDEXES[key]


def forget_index(path: str | Path) -> None:
    with _INDEXES_LOCK:
        _INDEXES.pop(str(path), None)


def index_health(path: str | Path | None = None) -> dict:
    """The state of the search index, for health checks; never creates one.

    {"state": "ok" | "degraded" | "missing", "documents": n, "detail": text}: "degraded" is an
    index that cannot be read, or one a read recently failed on (the catch-up job rebuilds
    both); "missing" is a directory without an index.
    """
    key = _index_key(path)
    with _INDEXES_LOCK:
        known = _INDEXES.get(key)
    if known is None and _generation(Path(key)) < 0:
        return {"state": "missing", "documents": 0, "detail": f"no search index in {key}"}
    return (known or get_index(key)).health()


# Keeping the index in step with the sources -------------------------------------------------


def live_count(session: Session) -> int:
    """How many documents a rebuild will index."""
    return sum(len(source.live_versions(session)) for source in search_sources.sources())


def _documents(session: Session, source, ids: Iterable[str] | None = None):
    for document in source.documents(session, ids):
        if document.source != source.name:
            raise ValueError(f"source {source.name!r} gave a document of {document.source!r}")
        yield document


def _all_documents(session: Session, progress: Callable[[int], None] | None = None):
    for source in search_sources.sources():
        for document in _documents(session, source):
            yield document
            if progress:
                progress(1)


def sync_items(
    session: Session, source: str, ids: Iterable, index: SearchIndex | None = None
) -> None:
    """Index the live ones among these documents of a source; remove the others."""
    ids = [str(i) for i in ids]
    index = index or get_index()
    documents = list(_documents(session, search_sources.source_named(source), ids))
    live = {d.local_id for d in documents}
    index.update(documents, delete_keys=[qualify(source, i) for i in ids if i not in live])


def sync_after_commit(session: Session, source: str, ids: Iterable) -> None:
    """Update the index for these documents of a source once the transaction commits.

    A source calls this from the service that changed what the public sees.
    """
    from portal.db import on_commit
    from portal.extensions import db

    ids = [str(i) for i in ids]

    def run() -> None:
        try:
            with db.transaction(write=False) as read:
                sync_items(read, source, ids)
        except (LockError, IndexUnavailable) as problem:
            log.warning(
                "search index busy or unreadable; the catch-up job will index these documents",
                extra={"fields": {"source": source, "ids": ids, "problem": str(problem)}},
            )
            return
        # A search page cached (by any worker) between the commit and this update showed the
        # old index: let it go now that the index has the change.
        from portal import cache

        with db.transaction() as write:
            cache.bump(write, "search")

    on_commit(session, run)


def _search_changed() -> None:
    """Cached pages answered from the old index (the search page): let them go."""
    from portal import cache
    from portal.extensions import db

    with db.transaction() as write:
        cache.bump(write, "search")


def catch_up(session: Session, index: SearchIndex | None = None) -> dict:
    """Compare the index with every source and mend the differences.

    An index that is missing or cannot be read is rebuilt from every source instead.
    """
    index = index or get_index()
    try:
        damage = index.damage()
        if damage:
            raise IndexUnavailable(damage)
        indexed = index.versions()
    except IndexUnavailable as problem:
        return _rebuild_lost(session, index, problem)
    stale: list[Document] = []
    wanted: set[str] = set()
    for source in search_sources.sources():
        versions = {str(i): str(v) for i, v in source.live_versions(session).items()}
        wanted.update(qualify(source.name, i) for i in versions)
        changed = [i for i, ver in versions.items() if indexed.get(qualify(source.name, i)) != ver]
        if changed:
            found = list(_documents(session, source, changed))
            stale.extend(found)
            # Live a moment ago but gone now: not wanted after all.
            wanted.difference_update(
                qualify(source.name, i) for i in set(changed) - {d.local_id for d in found}
            )
    extra = [key for key in indexed if key not in wanted]
    if stale or extra:
        try:
            index.update(stale, delete_keys=extra)
        except IndexUnavailable as problem:
            return _rebuild_lost(session, index, problem)
        _search_changed()
    return {"indexed": len(stale), "removed": len(extra), "rebuilt": False}


def _rebuild_lost(session: Session, index: SearchIndex, problem: IndexUnavailable) -> dict:
    log.warning(
        "search index missing or unreadable; rebuilding it from every source",
        extra={"fields": {"path": str(index.path), "problem": problem.detail}},
    )
    count = index.replace(_all_documents(session))
    _search_changed()
    return {"indexed": count, "removed": 0, "rebuilt": True}


def reindex(
    session: Session,
    *,
    index: SearchIndex | None = None,
    progress: Callable[[int], None] | None = None,
    procs: int = 1,
) -> int:
    """Rebuild the index from every source's live documents (beside it, if it is unreadable)."""
    index = index or get_index()
    documents = _all_documents(session, progress)
    try:
        index.versions()
    except IndexUnavailable:
        return index.replace(documents, procs=procs)
    return index.rebuild(documents, procs=procs)
