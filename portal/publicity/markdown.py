"""Markdown to safe HTML: rendered once when a revision is saved, cleaned by nh3's allow-list."""

from __future__ import annotations

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


def _slugify(value: str, separator: str) -> str:
    """Heading ids that keep Chinese characters (readers link to a unit's duties)."""
    kept = "".join(ch if ch.isalnum() else separator for ch in value.strip())
    return separator.join(part for part in kept.split(separator) if part)[:60] or "section"


def render_markdown(text: str) -> str:
    """Markdown (raw HTML is not allowed through) to cleaned HTML."""
    converter = md.Markdown(
        extensions=["tables", "sane_lists", "toc"],
        extension_configs={"toc": {"slugify": _slugify, "toc_depth": "2-3"}},
    )
    # Escape any raw HTML the writer typed: it is shown as text, never run.
    html = converter.convert(text.replace("&", "&amp;").replace("<", "&lt;"))
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def headings(html: str) -> list[tuple[str, str]]:
    """(id, text) of the h2 headings, for a page's table of contents."""
    import re

    return [
        (m.group(1), re.sub(r"<[^>]+>", "", m.group(2)))
        for m in re.finditer(r'<h2 id="([^"]+)">(.*?)</h2>', html)
    ]
