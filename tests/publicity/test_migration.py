"""The migration that gives revisions their authors and contents and attachments their revision."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from portal import migrate
from portal.db import make_engine

BEFORE = "0bf661acab2d"  # the revision this migration follows
THIS = "d4afc2c64289"
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def _insert(conn, table: str, **values) -> None:
    columns = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    # Table and column names are this file's own constants; the values are bound.
    statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
    conn.execute(sa.text(statement), values)


def _user(conn, user_id: int, name: str) -> None:
    _insert(
        conn,
        "user_account",
        id=user_id,
        name=name,
        phone=f"1380000000{user_id}",
        role="editor",
        password_hash="x",
        is_active=True,
        is_demo=False,
        session_version=1,
        created_at=NOW,
        password_changed_at=NOW,
        notify_by_email=True,
        notify_by_sms=False,
        language="zh_CN",
    )


def _revision(conn, revision_id: int, number: int, created_by, body: str, status: str) -> None:
    _insert(
        conn,
        "content_revision",
        id=revision_id,
        item_id=1,
        number=number,
        title=f"第{number}版",
        summary="",
        body=body,
        # What the old renderer stored: raw HTML escaped twice inside code.
        body_html="<p><code>&amp;lt;b&gt;</code></p>",
        meta="{}",
        status=status,
        created_by=created_by,
        created_at=NOW,
    )


def test_existing_content_gets_authors_contents_and_attachment_revisions(scratch_database):
    engine = make_engine(scratch_database)
    try:
        migrate.upgrade(engine, BEFORE)
        with engine.begin() as conn:
            _user(conn, 1, "编辑甲")
            _user(conn, 2, "编辑乙")
            _insert(
                conn,
                "content_item",
                id=1,
                slug="n-old",
                kind="news",
                status="published",
                live=True,
                created_at=NOW,
                updated_at=NOW,
                public_version=1,
            )
            _revision(conn, 1, 1, 1, "## 家长 & 学校\n\n用 `<b>` 加粗", "published")
            _revision(conn, 2, 2, 2, "改过的正文", "draft")
            conn.execute(
                sa.text("UPDATE content_item SET live_revision_id = 1, working_revision_id = 2")
            )
            _insert(
                conn,
                "content_attachment",
                id=1,
                item_id=1,
                filename="a.pdf",
                content_type="application/pdf",
                size=10,
                sha256="0" * 64,
                is_image=False,
                created_by=1,
                created_at=NOW,
            )
        migrate.upgrade(engine, THIS)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT number, text_authors, toc, body_html FROM content_revision "
                    "ORDER BY number"
                )
            ).all()
            attachment = conn.execute(
                sa.text(
                    "SELECT added_in_revision_id, removed_in_revision_id FROM content_attachment"
                )
            ).one()
        decoded = [(n, _json(authors), _json(toc), html) for n, authors, toc, html in rows]
        # Authors: the savers of the item's revisions up to each one.
        assert [(n, authors) for n, authors, _t, _h in decoded] == [(1, [1]), (2, [1, 2])]
        # Rendered again: contents stored, code escaped once.
        first = decoded[0]
        assert first[2] == [["家长-学校", "家长 & 学校"]]
        assert "<code>&lt;b&gt;</code>" in first[3] and "&amp;lt;" not in first[3]
        # The file was public: it belongs to the live revision, and nothing removed it.
        assert tuple(attachment) == (1, None)
        migrate.downgrade(engine, BEFORE)
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("content_attachment")}
        assert "added_in_revision_id" not in columns
    finally:
        engine.dispose()


def _json(value):
    return json.loads(value) if isinstance(value, str) else value
