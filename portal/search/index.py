"""The Whoosh index: schema, one cached searcher per process, updates, catch-up, rebuild.

It holds documents from every search source (portal.search.sources), each under an id
qualified by its source ("publicity:12"), and knows nothing of the areas behind them.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlmodel import Session
from whoosh import index as whoosh_index
from whoosh import writing
from whoosh.fields import DATETIME, ID, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.query import And, Or, Term

from portal.search import sources as search_sources
from portal.search.analysis import ChineseAnalyzer, query_words
from portal.search.sources import Document, qualify, split_key

log = logging.getLogger("portal.search")
STOP_WORDS = {"and", "or", "not", "to", "title", "body"}
MAX_WORDS = 12
MAX_EXPANSION = 60


# Bump when the schema or the analysis changes; the dictionary's own hash is added to it.
SCHEMA_VERSION = 3
FIELDS = ("title", "body")


def make_schema() -> Schema:
    analyzer = ChineseAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),  # qualified by the source: "publicity:12"
        source=ID(stored=True),
        ver=ID(stored=True),
        kind=ID(stored=True),
        year=ID(stored=True),
        url=STORED,
        title=TEXT(analyzer=analyzer, field_boost=3.0, stored=True),
        summary=STORED,
        # What the source gives as body (its summary included if it wants it searched).
        body=TEXT(analyzer=analyzer),
        published=DATETIME(stored=True),
    )


def fields_of(document: Document) -> dict:
    """The Whoosh fields of a document."""
    published = document.published
    if published is not None and published.tzinfo is not None:
        published = published.astimezone(UTC).replace(tzinfo=None)
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
        "published": published,
    }


def schema_signature() -> str:
    """What the index was built with: a different one means it must be rebuilt."""
    import hashlib
    from importlib import resources

    words = resources.files("portal.search").joinpath("userdict.txt").read_bytes()
    return f"{SCHEMA_VERSION}:{hashlib.sha256(words).hexdigest()[:16]}"


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
    kind_label: str = ""
    snippet: str = ""  # safe HTML: escaped text with <mark> around matches


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
    lowered = text.lower()
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
    pattern = re.compile(
        "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True) if w),
        re.IGNORECASE,
    )
    parts = []
    for start, end in passages:
        chunk = text[start:end]
        marked, last = [], 0
        for match in pattern.finditer(chunk):
            marked.append(html.escape(chunk[last : match.start()]))
            marked.append(f'<mark class="hl">{html.escape(match.group(0))}</mark>')
            last = match.end()
        marked.append(html.escape(chunk[last:]))
        parts.append(
            ("…" if start > 0 else "") + "".join(marked) + ("…" if end < len(text) else "")
        )
    return " ".join(parts)


class SearchIndex:
    """One index directory; the searcher is opened once and refreshed, not reopened per query."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._searcher = None
        self.path.mkdir(parents=True, exist_ok=True)
        marker = self.path / "portal-signature"
        signature = schema_signature()
        current = marker.read_text() if marker.exists() else None
        if whoosh_index.exists_in(str(self.path)) and current == signature:
            self.ix = whoosh_index.open_dir(str(self.path))
        else:
            # New, or built with another schema or dictionary: start empty; the catch-up job
            # (and `flask search catch-up` in `make run`) fills it from the database.
            self.ix = whoosh_index.create_in(str(self.path), make_schema())
            marker.write_text(signature)
            if current is not None:
                log.warning(
                    "search index rebuilt for a new schema or dictionary",
                    extra={"fields": {"path": str(self.path)}},
                )

    # Reading ------------------------------------------------------------------------------

    def searcher(self):
        """The cached searcher, replaced only when the index has had a new commit.

        (whoosh3's Searcher.refresh() fails on an index that was empty, so a changed index
        gets a fresh searcher; an unchanged one is reused as is.)
        """
        with self._lock:
            if self._searcher is None or not self._searcher.up_to_date():
                if self._searcher is not None:
                    self._searcher.close()
                self._searcher = self.ix.searcher()
            return self._searcher

    def _word_query(self, searcher, word: str, *, alone: bool):
        fields = FIELDS
        if alone and len(word) == 1 and not word.isascii():
            # A single character is not a word for the segmenter: match the words containing it.
            terms = []
            for fieldname in fields:
                for term in searcher.lexicon(fieldname):
                    text = term.decode("utf-8") if isinstance(term, bytes) else term
                    if word in text:
                        terms.append(Term(fieldname, text))
                        if len(terms) >= MAX_EXPANSION:
                            break
            return Or(terms) if terms else None
        return Or([Term(name, word) for name in fields])

    def search(
        self,
        text: str,
        *,
        kind: str | None = None,
        year: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> SearchResults:
        """Plain-text search: every word must match (some words, when none has them all)."""
        results = SearchResults(query=text, page=page)
        words = [w for w in query_words(text) if w not in STOP_WORDS][:MAX_WORDS]
        results.words = words
        if not words:
            return results
        searcher = self.searcher()
        alone = len(words) == 1
        clauses = [
            q for q in (self._word_query(searcher, w, alone=alone) for w in words) if q is not None
        ]
        if not clauses:
            return results
        filters = [Term("kind", kind)] if kind else []
        if year:
            filters.append(Term("year", year))
        filter_query = And(filters) if filters else None
        query = And(clauses)
        found = searcher.search_page(query, page, pagelen=per_page, filter=filter_query)
        if found.total == 0 and len(clauses) > 1:
            query = Or(clauses)
            found = searcher.search_page(query, page, pagelen=per_page, filter=filter_query)
            results.partial = found.total > 0
        results.total = found.total
        results.pages = max(1, found.pagecount)
        results.page = min(page, results.pages)
        for hit in found:
            source, local_id = split_key(hit["id"])
            published = hit.get("published")
            results.hits.append(
                Hit(
                    key=hit["id"],
                    source=source,
                    local_id=local_id,
                    kind=hit["kind"],
                    url=hit.get("url") or "",
                    title=hit["title"],
                    summary=hit.get("summary") or "",
                    published=published.replace(tzinfo=UTC) if published else None,
                )
            )
        return results

    def versions(self) -> dict[str, str]:
        """{qualified id: indexed version} of every document in the index."""
        searcher = self.searcher()
        return {fields["id"]: fields["ver"] for fields in searcher.all_stored_fields()}

    # Writing ------------------------------------------------------------------------------

    def _writer(self, **kwargs):
        return self.ix.writer(timeout=15.0, delay=0.1, **kwargs)

    def update(self, documents: Iterable[Document], delete_keys: Iterable[str] = ()) -> None:
        """Add or replace these documents and remove these qualified ids, in one commit."""
        writer = self._writer()
        try:
            for key in delete_keys:
                writer.delete_by_term("id", key)
            for document in documents:
                writer.update_document(**fields_of(document))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    def rebuild(self, documents: Iterable[Document], *, procs: int = 1) -> int:
        """Replace the whole index in one commit; readers see the old one until then."""
        kwargs = {"procs": procs, "limitmb": 256, "multisegment": True} if procs > 1 else {}
        writer = self._writer(**kwargs)
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


_INDEXES: dict[str, SearchIndex] = {}
_INDEXES_LOCK = threading.Lock()


def get_index(path: str | Path | None = None) -> SearchIndex:
    """This process's index object for the configured directory (created on first use)."""
    key = str(path or current_app.config["PORTAL_SEARCH_DIR"])
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = SearchIndex(Path(key))
        return _INDEXES[key]


def forget_index(path: str | Path) -> None:
    with _INDEXES_LOCK:
        _INDEXES.pop(str(path), None)


# Keeping the index in step with the sources -------------------------------------------------


def live_count(session: Session) -> int:
    """How many documents a rebuild will index."""
    return sum(len(source.live_versions(session)) for source in search_sources.sources())


def _documents(session: Session, source, ids: Iterable[str] | None = None):
    for document in source.documents(session, ids):
        if document.source != source.name:
            raise ValueError(f"source {source.name!r} gave a document of {document.source!r}")
        yield document


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
        except LockError:
            log.warning(
                "search index busy; the catch-up job will index these documents",
                extra={"fields": {"source": source, "ids": ids}},
            )
            return
        # A search page cached (by any worker) between the commit and this update showed the
        # old index: let it go now that the index has the change.
        from portal import cache

        with db.transaction() as write:
            cache.bump(write, "search")

    on_commit(session, run)


def catch_up(session: Session, index: SearchIndex | None = None) -> dict[str, int]:
    """Compare the index with every source and mend the differences."""
    index = index or get_index()
    indexed = index.versions()
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
        index.update(stale, delete_keys=extra)
        # Cached pages answered from the old index (the search page): let them go.
        from portal import cache
        from portal.extensions import db

        with db.transaction() as write:
            cache.bump(write, "search")
    return {"indexed": len(stale), "removed": len(extra)}


def reindex(
    session: Session,
    *,
    index: SearchIndex | None = None,
    progress: Callable[[int], None] | None = None,
    procs: int = 1,
) -> int:
    """Rebuild the index from every source's live documents."""
    index = index or get_index()

    def documents():
        for source in search_sources.sources():
            for document in _documents(session, source):
                yield document
                if progress:
                    progress(1)

    return index.rebuild(documents(), procs=procs)
