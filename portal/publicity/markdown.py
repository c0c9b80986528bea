"""Markdown to safe HTML: rendered once when a revision is saved, cleaned by nh3's allow-list."""

from __future__ import annotations

import html
from typing import NamedTuple

import markdown as md
import nh3

TAGS = {
    "a",
    "abbr",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
    "del",
    "sup",
    "sub",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "td": {"align"},
    "th": {"align"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


class Rendered(NamedTuple):
    """A revision's body as shown: the cleaned HTML and its table of contents."""

    html: str
    # (id, plain text) of each level-2 heading; the text is not HTML: templates escape it.
    toc: list[tuple[str, str]]


def _slugify(value: str, separator: str) -> str:
    """Heading ids that keep Chinese characters (readers link to a unit's duties)."""
    kept = "".join(ch if ch.isalnum() else separator for ch in value.strip())
    return separator.join(part for part in kept.split(separator) if part)[:60] or "section"


def _converter() -> md.Markdown:
    converter = md.Markdown(
        extensions=["tables", "sane_lists", "toc"],
        extension_configs={"toc": {"slugify": _slugify, "toc_depth": "2-3"}},
    )
    # Raw HTML the writer typed is text, shown as typed and never run. Markdown escapes it once
    # when these two readers are gone; escaping it beforehand as well showed `&lt;` in code.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


def _h2(tokens: list[dict]) -> list[tuple[str, str]]:
    found = []
    for token in tokens:
        if token["level"] == 2:
            # Markdown gives the heading's text HTML-escaped; keep it plain so it is escaped once.
            found.append((token["id"], html.unescape(token["name"])))
        found.extend(_h2(token["children"]))
    return found


def render(text: str) -> Rendered:
    """Markdown (raw HTML is not allowed through) to cleaned HTML and its contents."""
    converter = _converter()
    body = converter.convert(text)
    cleaned = nh3.clean(
        body,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return Rendered(cleaned, _h2(converter.toc_tokens))
