"""Publishing from the reviewer's screen makes an item findable at once, with no scheduler."""

from __future__ import annotations

from sqlmodel import select

from portal.publicity.models import Item
from tests.conftest import login, post
from tests.publicity.test_views import NEW


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
    # Publishing queues the author's notice through the outbox (a SAVEPOINT inside the
    # request's transaction): the index must still be updated after the real commit only.
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
