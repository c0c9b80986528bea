"""What search knows: documents, each from a source that an area declares.

A source is an object an area names in its declaration (`AreaSpec(search_sources=
("portal.<area>.search:source",))`). It says which of its documents are live and at which
version, produces the text to index for a document, and gives the visible text used for
snippets. The index stores each document under an id qualified by its source
("publicity:12"), with its kind and its URL path, so results link to the right page without the
search code knowing anything of the area behind them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from portal.core import registry
from portal.timeutil import SHANGHAI

SEPARATOR = ":"
# What a document may say about itself besides its text (official documents: 发文字号, 索引号,
# 发布机构). Each is searchable; the numbers also match exactly, as typed.
METADATA = ("doc_no", "index_no", "issuer")


def qualify(source: str, local_id: object) -> str:
    """The id of a document in the index: its source's name and its id there ("publicity:12")."""
    return f"{source}{SEPARATOR}{local_id}"


def split_key(key: str) -> tuple[str, str]:
    """(source name, local id) of a qualified id."""
    source, _, local_id = key.partition(SEPARATOR)
    return source, local_id


@dataclass(frozen=True)
class Document:
    """One thing to index, as its source describes it.

    `version` changes whenever what the public sees of the document changes; `url` is the
    document's path inside the application ("/publicity/news/some-slug"); `body` is the plain
    text searched besides the title (a source that wants its summary searched includes it);
    `summary` is only shown. `year` (for the year filter) defaults to the year of `published`
    in China. `metadata` holds what an official document says of itself, under the keys of
    METADATA: its document number (发文字号, "松政办发〔2017〕139号"), index number (索引号) and
    issuing body (发布机构).
    """

    source: str
    local_id: str
    kind: str
    version: str
    url: str
    title: str
    summary: str = ""
    body: str = ""
    published: datetime | None = None
    year: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if SEPARATOR in self.source:
            raise ValueError(f"a source name cannot hold {SEPARATOR!r}: {self.source!r}")
        unknown = set(self.metadata) - set(METADATA)
        if unknown:
            raise ValueError(f"unknown document metadata {sorted(unknown)}; known: {METADATA}")
        object.__setattr__(
            self,
            "metadata",
            {key: " ".join(str(value).split()) for key, value in self.metadata.items() if value},
        )
        object.__setattr__(self, "local_id", str(self.local_id))
        if not self.year and self.published is not None:
            published = self.published
            if published.tzinfo is not None:
                published = published.astimezone(SHANGHAI)
            object.__setattr__(self, "year", str(published.year))

    @property
    def key(self) -> str:
        return qualify(self.source, self.local_id)


@runtime_checkable
class SearchSource(Protocol):
    """What an area gives search. Ids are the source's own, as strings."""

    @property
    def name(self) -> str:
        """Unique among sources; the prefix of its documents' ids in the index."""
        ...

    @property
    def kinds(self) -> Mapping[str, Any]:
        """Kind code -> label (a lazy string) of every kind of document the source indexes."""
        ...

    def live_versions(self, session) -> dict[str, str]:
        """{id: version} of every document the public may find now."""
        ...

    def documents(self, session, ids: Iterable[str] | None = None) -> Iterable[Document]:
        """The live documents among these ids (all of them when ids is None)."""
        ...

    def texts(self, session, ids: Iterable[str]) -> dict[str, str]:
        """{id: visible text} of these live documents, for the snippets under results."""
        ...


def sources() -> list[SearchSource]:
    """Every area's search sources, in the areas' order."""
    found = registry.search_sources()
    names = [s.name for s in found]
    if len(names) != len(set(names)):
        raise registry.AreaError(f"two search sources share a name: {sorted(names)}")
    return found


def source_named(name: str) -> SearchSource:
    for source in sources():
        if source.name == name:
            return source
    raise KeyError(name)


def all_kinds() -> dict[str, Any]:
    """Kind code -> label over every source; a code two sources share keeps the first label."""
    kinds: dict[str, Any] = {}
    for source in sources():
        for code, label in source.kinds.items():
            kinds.setdefault(code, label)
    return kinds


def plain_text(body_html: str) -> str:
    """Visible text of rendered HTML, for indexing and snippets."""
    return html.unescape(re.sub(r"<[^>]+>", " ", body_html or ""))


def app_path(endpoint: str, **values: Any) -> str:
    """The path of an endpoint inside the application, built without a request.

    Indexing runs in jobs and commands as well as in requests; the path is stored and joined
    to the request's script root when a result is shown.
    """
    from flask import current_app

    adapter = current_app.url_map.bind(current_app.config.get("SERVER_NAME") or "localhost")
    return adapter.build(endpoint, values)
