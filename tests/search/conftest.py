"""A second, test-only search source beside publicity's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from portal.search.sources import Document
from tests.publicity.conftest import editor, publish, reviewer  # noqa: F401 - fixtures


class NotesSource:
    """Documents kept in memory: what an area's source does with its tables."""

    name = "notes"
    kinds = {"note": "Notes"}

    def __init__(self) -> None:
        self.live: dict[str, Document] = {}

    def put(self, local_id: str, title: str, body: str, *, version: str = "1") -> Document:
        document = Document(
            source=self.name,
            local_id=local_id,
            kind="note",
            version=version,
            url=f"/notes/{local_id}",
            title=title,
            body=body,
            published=datetime(2026, 5, 1, 2, 0, tzinfo=UTC),
        )
        self.live[local_id] = document
        return document

    def change(self, local_id: str, **fields) -> None:
        self.live[local_id] = replace(self.live[local_id], **fields)

    def live_versions(self, session) -> dict[str, str]:
        return {i: d.version for i, d in self.live.items()}

    def documents(self, session, ids: Iterable[str] | None = None) -> Iterable[Document]:
        wanted = None if ids is None else set(ids)
        return [d for i, d in self.live.items() if wanted is None or i in wanted]

    def texts(self, session, ids: Iterable[str]) -> dict[str, str]:
        return {i: self.live[i].body for i in ids if i in self.live}


@pytest.fixture()
def notes(monkeypatch) -> NotesSource:
    """The notes source, registered after publicity's for this test."""
    from portal.core import registry
    from portal.publicity.search import source as publicity

    source = NotesSource()
    monkeypatch.setattr(registry, "search_sources", lambda: [publicity, source])
    return source
