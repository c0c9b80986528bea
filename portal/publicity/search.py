"""Publicity as a search source: its live items, each at its public version."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlmodel import Session, select

from portal.publicity import services
from portal.publicity.models import Item, Kind, Revision
from portal.search.sources import METADATA, Document, app_path, plain_text


def _ints(ids: Iterable[str]) -> list[int]:
    return [int(i) for i in ids if str(i).isdigit()]


def item_path(item: Item) -> str:
    """The item's public path (as services.public_url, without needing a request)."""
    if item.kind == Kind.PAGE:
        return app_path("publicity.page", slug=item.slug)
    segment = services.COLUMN_BY_KIND[Kind(item.kind)].segment
    return app_path("publicity.detail", segment=segment, slug=item.slug)


class PublicitySource:
    """The special column's published items (every kind, web pages included)."""

    name = "publicity"

    @property
    def kinds(self) -> Mapping[str, Any]:
        return {column.kind.value: column.title for column in services.COLUMNS}

    def live_versions(self, session: Session) -> dict[str, str]:
        rows = session.exec(select(Item.id, Item.public_version).where(Item.live.is_(True)))
        return {str(item_id): str(version) for item_id, version in rows}

    def documents(self, session: Session, ids: Iterable[str] | None = None) -> Iterable[Document]:
        statement = (
            select(Item, Revision)
            .join(Revision, Revision.id == Item.live_revision_id)
            .where(Item.live.is_(True))
        )
        if ids is not None:
            statement = statement.where(Item.id.in_(_ints(ids)))
        for item, revision in session.exec(statement.order_by(Item.id)):
            summary = revision.summary or ""
            yield Document(
                source=self.name,
                local_id=str(item.id),
                kind=str(item.kind),
                version=str(item.public_version),
                url=item_path(item),
                title=revision.title,
                summary=summary,
                # The summary is searched as part of the body, not as a field of its own.
                body=summary + "\n" + plain_text(revision.body_html),
                published=item.published_at,
                # A policy's 发文字号, 索引号 and 发布机构 (a law's issuer too) are searched.
                metadata={
                    key: str(revision.meta[key]) for key in METADATA if revision.meta.get(key)
                },
            )

    def texts(self, session: Session, ids: Iterable[str]) -> dict[str, str]:
        found = services.live_texts(session, _ints(ids))
        return {str(item_id): text for item_id, text in found.items()}


source = PublicitySource()
