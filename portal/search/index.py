"""The Whoosh index: schema, one cached searcher per process, updates, catch-up, rebuild."""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlmodel import Session, select
from whoosh import index as whoosh_index
from whoosh import writing
from whoosh.fields import DATETIME, ID, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.query import And, Or, Term

from portal.search.analysis import ChineseAnalyzer, query_words

log = logging.getLogger("portal.search")
STOP_WORDS = {"and", "or", "not", "to", "title", "body"}
MAX_WORDS = 12
MAX_EXPANSION = 60


# Bump when the schema or the analysis changes; the dictionary's own hash is added to it.
SCHEMA_VERSION = 2
FIELDS = ("title", "body")


def make_schema() -> Schema:
    analyzer = ChineseAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        ver=ID(stored=True),
        kind=ID(stored=True),
        year=ID(stored=True),
        slug=ID(stored=True),
        title=TEXT(analyzer=analyzer, field_boost=3.0, stored=True),
        summary=STORED,
        # The summary is searched as part of the body: two fields to look in, not three.
        body=TEXT(analyzer=analyzer),
        published=DATETIME(stored=True),
    )


def schema_signature() -> str:
    """What the index was built with: a different one means it must be rebuilt."""
    import hashlib
    from importlib import resources

    words = resources.files("portal.search").joinpath("userdict.txt").read_bytes()
    return f"{SCHEMA_VERSION}:{hashlib.sha256(words).hexdigest()[:16]}"


@dataclass
class Hit:
    id: int
    kind: str
    slug: str
    title: str
    summary: str
    published: object
    snippet: str = ""  # safe HTML: escaped text with <mark> around matches


@dataclass
class SearchResults:
    query: str
    total: int = 0
    page: int = 1
    pages: int = 1
    hits: list[Hit] = field(default_factory=list)
    partial: bool = False  # no item had every word: these have some of them


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


def plain_text(body_html: str) -> str:
    """Visible text of rendered HTML, for indexing and snippets."""
    return html.unescape(re.sub(r"<[^>]+>", " ", body_html or ""))


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
        body_for: Callable[[list[int]], dict[int, str]] | None = None,
    ) -> SearchResults:
        """Plain-text search: every word must match (some words, when none has them all)."""
        results = SearchResults(query=text, page=page)
        words = [w for w in query_words(text) if w not in STOP_WORDS][:MAX_WORDS]
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
        hits = list(found)
        bodies = body_for([int(h["id"]) for h in hits]) if body_for and hits else {}
        for hit in hits:
            item_id = int(hit["id"])
            body = bodies.get(item_id, "")
            snippet = make_snippet(body, words) or make_snippet(hit.get("summary") or "", words)
            if not snippet:
                snippet = html.escape((hit.get("summary") or body)[:120])
            results.hits.append(
                Hit(
                    id=item_id,
                    kind=hit["kind"],
                    slug=hit["slug"],
                    title=hit["title"],
                    summary=hit.get("summary") or "",
                    published=hit.get("published"),
                    snippet=snippet,
                )
            )
        return results

    def versions(self) -> dict[int, str]:
        """{item id: indexed version} of every document in the index."""
        searcher = self.searcher()
        return {int(fields["id"]): fields["ver"] for fields in searcher.all_stored_fields()}

    # Writing ------------------------------------------------------------------------------

    def _writer(self, **kwargs):
        return self.ix.writer(timeout=15.0, delay=0.1, **kwargs)

    def update(self, documents: Iterable[dict], delete_ids: Iterable[int] = ()) -> None:
        writer = self._writer()
        try:
            for item_id in delete_ids:
                writer.delete_by_term("id", str(item_id))
            for document in documents:
                writer.update_document(**document)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    def rebuild(self, documents: Iterable[dict], *, procs: int = 1) -> int:
        """Replace the whole index in one commit; readers see the old one until then."""
        kwargs = {"procs": procs, "limitmb": 256, "multisegment": True} if procs > 1 else {}
        writer = self._writer(**kwargs)
        count = 0
        try:
            for document in documents:
                writer.add_document(**document)
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


# Keeping the index in step with the database ------------------------------------------------


def document_for(item, revision) -> dict:
    from portal.timeutil import SHANGHAI

    published = item.published_at
    return {
        "id": str(item.id),
        "ver": f"{item.id}:{item.public_version}",
        "kind": str(item.kind),
        "year": str(published.astimezone(SHANGHAI).year) if published else "",
        "slug": item.slug,
        "title": revision.title,
        "summary": revision.summary or "",
        "body": (revision.summary or "") + "\n" + plain_text(revision.body_html),
        "published": published.replace(tzinfo=None) if published else None,
    }


def _live_documents(session: Session, ids: Iterable[int] | None = None):
    from portal.publicity.models import Item, Revision

    statement = (
        select(Item, Revision)
        .join(Revision, Revision.id == Item.live_revision_id)
        .where(Item.live.is_(True))
    )
    if ids is not None:
        statement = statement.where(Item.id.in_(list(ids)))
    for item, revision in session.exec(statement.order_by(Item.id)):
        yield document_for(item, revision)


def sync_items(session: Session, ids: Iterable[int], index: SearchIndex | None = None) -> None:
    """Index the live ones among these items; remove the others."""
    ids = list(ids)
    index = index or get_index()
    documents = list(_live_documents(session, ids))
    live_ids = {int(d["id"]) for d in documents}
    index.update(documents, delete_ids=[i for i in ids if i not in live_ids])


def sync_after_commit(session: Session, ids: list[int]) -> None:
    """Update the index for these items once the transaction that changed them commits."""
    from portal.db import on_commit
    from portal.extensions import db

    def run() -> None:
        try:
            with db.transaction(write=False) as read:
                sync_items(read, ids)
        except LockError:
            log.warning(
                "search index busy; the catch-up job will index these items",
                extra={"fields": {"items": ids}},
            )

    on_commit(session, run)


def catch_up(session: Session, index: SearchIndex | None = None) -> dict[str, int]:
    """Compare the index with the database and mend the differences."""
    from portal.publicity.models import Item

    index = index or get_index()
    indexed = index.versions()
    wanted = {
        item_id: f"{item_id}:{version}"
        for item_id, version in session.exec(
            select(Item.id, Item.public_version).where(Item.live.is_(True))
        )
    }
    stale = [i for i, ver in wanted.items() if indexed.get(i) != ver]
    extra = [i for i in indexed if i not in wanted]
    if stale or extra:
        index.update(_live_documents(session, stale) if stale else [], delete_ids=extra)
        # Cached search pages answered from the old index: let them go.
        from portal.extensions import db
        from portal.publicity.services import bump_content_version

        with db.transaction() as write:
            bump_content_version(write)
    return {"indexed": len(stale), "removed": len(extra)}


def reindex(
    session: Session,
    *,
    index: SearchIndex | None = None,
    progress: Callable[[int], None] | None = None,
    procs: int = 1,
) -> int:
    """Rebuild the index from the database's live items."""
    index = index or get_index()

    def documents():
        for document in _live_documents(session):
            yield document
            if progress:
                progress(1)

    return index.rebuild(documents(), procs=procs)
