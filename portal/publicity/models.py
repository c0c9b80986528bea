"""Publicity content (宣传内容): items, their kept revisions, attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow


class Kind(StrEnum):
    NEWS = "news"  # 工作动态
    NOTICE = "notice"  # 通知公告
    POLICY = "policy"  # 政策文件
    INTERPRETATION = "interpretation"  # 政策解读
    LAW = "law"  # 法律法规
    CASE = "case"  # 典型案例
    AD = "ad"  # 公益广告
    GUIDE = "guide"  # 办事指南
    PAGE = "page"  # 页面


class ItemStatus(StrEnum):
    """Plone's simple publication workflow."""

    DRAFT = "draft"
    PENDING = "pending"
    PUBLISHED = "published"
    RETRACTED = "retracted"


class RevisionStatus(StrEnum):
    DRAFT = "draft"  # being written
    PENDING = "pending"  # submitted for review
    PUBLISHED = "published"  # is or was the live text
    RETURNED = "returned"  # sent back by a reviewer
    SUPERSEDED = "superseded"  # a newer draft replaced it before review


class Item(SQLModel, table=True):
    """One piece of content; what the public sees is its live revision."""

    __tablename__ = "content_item"
    __table_args__ = (Index("ix_content_live", "live", "kind", "published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    kind: Kind = Field(sa_type=String(20))
    status: ItemStatus = Field(default=ItemStatus.DRAFT, sa_type=String(12))
    # Shown to the public right now: published, publish_at reached, expire_at not reached.
    live: bool = Field(default=False)
    author_id: int | None = Field(default=None, foreign_key="user_account.id")
    live_revision_id: int | None = Field(default=None)
    working_revision_id: int | None = Field(default=None)
    policy_id: int | None = Field(default=None, foreign_key="content_item.id")
    publish_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expire_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "day", or "year" for a document whose day of publication is not known (shown as 2016年;
    # published_at is then the year's last day, so it sorts within its year).
    date_precision: str = Field(default="day", max_length=5)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Bumped whenever what the public sees of this item changes (drives the search index).
    public_version: int = Field(default=0)
    source_file: str | None = Field(default=None, max_length=200)
    source_hash: str | None = Field(default=None, max_length=64)


class RevisionBase(SQLModel):
    """What a writer writes. The limits here are the only ones: forms and services read them."""

    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=200_000, sa_type=Text)


class Revision(RevisionBase, table=True):
    """A kept version of an item's text and metadata; never changed once submitted."""

    __tablename__ = "content_revision"
    __table_args__ = (UniqueConstraint("item_id", "number", name="uq_revision_number"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="content_item.id", index=True)
    number: int
    # Rendered once when the revision is saved, never on a page view (see markdown.render).
    body_html: str = Field(default="", sa_type=Text)
    # [id, text] of each level-2 heading of body_html: the page's table of contents.
    toc: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: RevisionStatus = Field(default=RevisionStatus.DRAFT, sa_type=String(12))
    # Who saved this revision: every save is attributed to the person who made it.
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    # Everyone whose text this revision holds: its saver, the authors of the revision it was
    # started from, and those of any earlier revision with the same text. None of them may
    # publish it (services._publish_refusal).
    text_authors: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reviewed_by: int | None = Field(default=None, foreign_key="user_account.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str | None = Field(default=None, max_length=1000)


class RevisionCreate(RevisionBase):
    """A new draft as a writer sends it (the editing form or a content file), validated.

    There is no RevisionUpdate: a revision is never changed in place; every save is a new one.
    """

    meta: dict[str, Any] | None = None
    publish_at: datetime | None = None
    expire_at: datetime | None = None
    policy_slug: str | None = Field(default=None, max_length=80)


class Attachment(SQLModel, table=True):
    """A PDF or image attached to an item; the file lives under instance/uploads.

    Attachments belong to revisions, like the text: a revision shows the files added in it or
    before it (by revision number) and not yet removed. Adding or removing a file goes into the
    working draft, so the public sees the change only once a reviewer publishes that draft.
    """

    __tablename__ = "content_attachment"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="content_item.id", index=True)
    added_in_revision_id: int = Field(foreign_key="content_revision.id")
    removed_in_revision_id: int | None = Field(default=None, foreign_key="content_revision.id")
    filename: str = Field(max_length=120)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    is_image: bool = Field(default=False)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
