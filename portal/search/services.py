"""The public search: one page of hits over every source, each with its kind's label and a
snippet of the document's visible text."""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from flask_babel import get_locale
from markupsafe import Markup
from sqlmodel import Session

from portal.pagination import Page
from portal.search.index import Hit, SearchIndex, get_index, make_snippet
from portal.search.sources import all_kinds, qualify, sources


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
    found = (index or get_index()).search(query, kind=kind, year=year, page=page, per_page=per_page)
    texts = _texts(session, found.hits)
    labels = kind_labels()
    hits = [
        replace(
            hit,
            url=url_prefix + hit.url,
            kind_label=labels.get(hit.kind, hit.kind),
            snippet=_snippet(hit, texts.get(hit.key, ""), found.words),
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
    """Kind code -> label in the current language, translated once per language and sources."""
    kinds = all_kinds()
    key = (str(get_locale() or ""), *((code, id(label)) for code, label in kinds.items()))
    found = _KIND_LABELS.get(key)
    if found is None:
        if len(_KIND_LABELS) > 64:  # sources registered anew (tests build many apps)
            _KIND_LABELS.clear()
        found = _KIND_LABELS[key] = {code: str(label) for code, label in kinds.items()}
    return found


def _texts(session: Session, hits: list[Hit]) -> dict[str, str]:
    """{qualified id: visible text} of the hits, one call per source."""
    wanted: dict[str, list[str]] = {}
    for hit in hits:
        wanted.setdefault(hit.source, []).append(hit.local_id)
    texts: dict[str, str] = {}
    for source in sources():
        ids = wanted.get(source.name)
        if ids:
            for local_id, text in source.texts(session, ids).items():
                texts[qualify(source.name, local_id)] = text
    return texts


def _snippet(hit: Hit, text: str, words: list[str]) -> Markup:
    snippet = make_snippet(text, words) or make_snippet(hit.summary, words)
    if not snippet:
        snippet = html.escape((hit.summary or text)[:120])
    return Markup(snippet)  # noqa: S704 - make_snippet escapes the text it marks
