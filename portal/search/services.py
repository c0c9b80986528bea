"""The public search: one page of hits over every source, each with its kind's label and a
snippet of the document's visible text."""

from __future__ import annotations

import html
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace

from flask import g, has_app_context
from markupsafe import Markup
from sqlmodel import Session

from portal.i18n import current_language, format_day
from portal.pagination import Page
from portal.search.index import Hit, SearchIndex, get_index, make_snippet, marked_passages
from portal.search.sources import all_kinds, sources


@dataclass(frozen=True)
class SearchPage(Page):
    """A page of `Hit`s, with the query it answers."""

    query: str = ""
    partial: bool = False  # no document had every word: these have some of them


def search(
    session: Session,
    query: str,
    *,
    kind: str | None = None,
    year: str | None = None,
    page: int = 1,
    per_page: int = 10,
    url_prefix: str = "",
    index: SearchIndex | None = None,
) -> SearchPage:
    """Search every source; `url_prefix` (the request's script root) goes before each path."""
    index = index or get_index()
    found = index.search(query, kind=kind, year=year, page=page, per_page=per_page)
    texts = _texts(session, found.hits, snippet_texts(index))
    labels = kind_labels()
    hits = [
        replace(
            hit,
            url=url_prefix + hit.url,
            kind_label=labels.get(hit.kind, hit.kind),
            snippet=_snippet(hit, texts.get(hit.key, EMPTY_TEXT), found.words),
            published_iso=hit.published.isoformat() if hit.published else "",
            published_day=format_day(hit.published) if hit.published else "",
        )
        for hit in found.hits
    ]
    return SearchPage(
        items=hits,
        page=found.page,
        per_page=per_page,
        total=found.total,
        query=query,
        partial=found.partial,
    )


_KIND_LABELS: dict[tuple, dict[str, str]] = {}


def kind_labels() -> dict[str, str]:
    """Kind code -> label in the current language, translated once per language and sources
    (and looked up once per request: the page and the search both ask)."""
    language = current_language()
    if has_app_context():
        known = g.get("portal_kind_labels")
        if known is not None and known[0] == language:
            return known[1]
    labels = _kind_labels()
    if has_app_context():
        g.portal_kind_labels = (language, labels)
    return labels


def _kind_labels() -> dict[str, str]:
    kinds = all_kinds()
    # A label is known by its message (a lazy string's arguments), not by the object: a source
    # may build its labels anew at every call.
    key = (
        current_language(),
        *((code, getattr(label, "_args", label)) for code, label in kinds.items()),
    )
    found = _KIND_LABELS.get(key)
    if found is None:
        if len(_KIND_LABELS) > 64:  # sources registered anew (tests build many apps)
            _KIND_LABELS.clear()
        found = _KIND_LABELS[key] = {code: str(label) for code, label in kinds.items()}
    return found


@dataclass(frozen=True, slots=True)
class SnippetText:
    """A document's visible text as snippets read it."""

    text: str  # runs of whitespace made single spaces
    lowered: str
    head: str  # the first 120 characters as the source gave them

    @classmethod
    def of(cls, text: str) -> SnippetText:
        spaced = " ".join(text.split())
        lowered = spaced.lower()
        return cls(spaced, spaced if lowered == spaced else lowered, text[:120])

    def size(self) -> int:
        return len(self.text) + (len(self.lowered) if self.lowered is not self.text else 0)


EMPTY_TEXT = SnippetText("", "", "")


class SnippetTexts:
    """The texts of recently shown documents, by (qualified id, version): what the public
    sees of a document changes only with its version, so a text is read from its source and
    prepared once per version. Bounded by the characters it holds."""

    def __init__(self, max_chars: int = 4_000_000):
        self.max_chars = max_chars
        self._texts: OrderedDict[tuple[str, str], SnippetText] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> SnippetText | None:
        with self._lock:
            found = self._texts.get(key)
            if found is not None:
                self._texts.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], text: SnippetText) -> None:
        with self._lock:
            old = self._texts.pop(key, None)
            if old is not None:
                self._chars -= old.size()
            self._texts[key] = text
            self._chars += text.size()
            while self._chars > self.max_chars and len(self._texts) > 1:
                _key, dropped = self._texts.popitem(last=False)
                self._chars -= dropped.size()


# One per index: another index (a test's, a rebuilt directory) may number its documents alike.
_SNIPPET_TEXTS: weakref.WeakKeyDictionary[SearchIndex, SnippetTexts] = weakref.WeakKeyDictionary()
_SNIPPET_TEXTS_LOCK = threading.Lock()


def snippet_texts(index: SearchIndex) -> SnippetTexts:
    with _SNIPPET_TEXTS_LOCK:
        texts = _SNIPPET_TEXTS.get(index)
        if texts is None:
            texts = _SNIPPET_TEXTS[index] = SnippetTexts()
        return texts


def _texts(session: Session, hits: list[Hit], kept: SnippetTexts) -> dict[str, SnippetText]:
    """{qualified id: visible text} of the hits; those not kept, one call per source.

    A hit without a version (an index written before versions were shown) is always read.
    """
    texts: dict[str, SnippetText] = {}
    wanted: dict[str, list[Hit]] = {}
    for hit in hits:
        found = kept.get((hit.key, hit.version)) if hit.version else None
        if found is not None:
            texts[hit.key] = found
        else:
            wanted.setdefault(hit.source, []).append(hit)
    for source in sources() if wanted else ():
        missing = wanted.get(source.name)
        if not missing:
            continue
        read = source.texts(session, [hit.local_id for hit in missing])
        for hit in missing:
            text = read.get(hit.local_id)
            if text is None:  # no longer live: nothing to keep
                continue
            texts[hit.key] = prepared = SnippetText.of(text)
            if hit.version:
                kept.put((hit.key, hit.version), prepared)
    return texts


def _snippet(hit: Hit, text: SnippetText, words: list[str]) -> Markup:
    snippet = marked_passages(text.text, text.lowered, words) or make_snippet(hit.summary, words)
    if not snippet:
        snippet = html.escape(hit.summary[:120] if hit.summary else text.head)
    return Markup(snippet)  # noqa: S704 - make_snippet escapes the text it marks
