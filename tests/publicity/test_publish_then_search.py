"""Publishing from the reviewer's screen makes an item findable at once, with no scheduler."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.extensions import db
from portal.publicity import services
from portal.publicity.models import Item
from tests.conftest import login, make_user, post, reset_schema
from tests.publicity.test_views import NEW


@pytest.fixture()
def real_app(scratch_database, new_app, tmp_path):
    """An app on its own database, where each request commits on its own connection."""
    reset_schema(scratch_database)
    return new_app(scratch_database, PORTAL_SEARCH_DIR=str(tmp_path / "search"))


def test_publishing_on_a_real_database_indexes_after_the_commit(real_app):
    """The index is updated by a separate connection: it must run after the real commit."""
    with real_app.app_context(), db.transaction() as session:
        editor = make_user(session, role=Role.EDITOR, phone="13905780011")
        reviewer = make_user(session, role=Role.REVIEWER, phone="13905780012")
        item = services.create_item(
            session,
            author=editor,
            kind="news",
            slug="n-real",
            draft=services.draft(title="寒假安全教育", body="寒假期间注意用火用电安全"),
        )
        services.submit(session, item=item, user=editor)
        item_id = item.id
        session.expunge_all()
    judge = real_app.test_client()
    login(judge, reviewer)
    assert post(judge, f"/publicity/manage/{item_id}/publish").status_code == 303
    found = real_app.test_client().get("/search?q=寒假").get_data(as_text=True)
    assert "寒假安全教育" in found


def test_an_item_published_through_the_view_is_found_by_search_at_once(
    app, session, editor, reviewer, client
):
    writer, judge = app.test_client(), app.test_client()
    login(writer, editor)
    login(judge, reviewer)
    post(writer, "/publicity/manage/new", {**NEW, "title": "冬季取暖安全提醒", "slug": "n-winter"})
    item = session.exec(select(Item).where(Item.slug == "n-winter")).one()
    post(writer, f"/publicity/manage/{item.id}/submit")
    assert "冬季取暖安全提醒" not in client.get("/search?q=取暖").get_data(as_text=True)
    # (The test harness shares one connection between sessions; the real-database test above
    # is the one that shows the update waits for the outermost commit.)
    assert post(judge, f"/publicity/manage/{item.id}/publish").status_code == 303
    # No scheduler runs in tests: nothing but the publish request itself updated the index.
    found = client.get("/search?q=取暖").get_data(as_text=True)
    assert "冬季取暖安全提醒" in found


def test_a_refused_publish_leaves_the_index_alone(app, session, editor, client):
    writer = app.test_client()
    login(writer, editor)
    post(writer, "/publicity/manage/new", {**NEW, "title": "防溺水安全提醒", "slug": "n-water"})
    item = session.exec(select(Item).where(Item.slug == "n-water")).one()
    post(writer, f"/publicity/manage/{item.id}/submit")
    # The editor may not publish: the request is refused and rolled back, nothing indexed.
    assert post(writer, f"/publicity/manage/{item.id}/publish").status_code == 403
    assert "防溺水安全提醒" not in client.get("/search?q=防溺水").get_data(as_text=True)
