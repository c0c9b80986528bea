"""The page cache per area: each area bumps its own version and drops only its pages."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal import cache
from portal.cache import ALL, PageCache, cached_page
from portal.extensions import db


def _sneak_edit(session, item, title):
    """Change the live title without a service (no version bump): only the cache hides it."""
    session.execute(
        text("UPDATE content_revision SET title = :t WHERE id = :i"),
        {"t": title, "i": item.live_revision_id},
    )
    session.commit()


def _bump(app, area):
    with app.app_context(), db.transaction() as session:
        cache.bump(session, area)


def test_another_areas_change_keeps_this_areas_pages(app, client, session, publish):
    item = publish(kind="news", slug="n-area", title="第一版标题")
    assert "第一版标题" in client.get("/publicity/news/n-area").get_data(as_text=True)
    _sneak_edit(session, item, "偷偷改的标题")
    _bump(app, "parents_school")  # e.g. a seat was booked: publicity's pages stay
    assert "第一版标题" in client.get("/publicity/news/n-area").get_data(as_text=True)
    _bump(app, "publicity")
    assert "偷偷改的标题" in client.get("/publicity/news/n-area").get_data(as_text=True)


def test_a_page_that_shows_every_area_is_dropped_by_any_change(app, client, session, publish):
    item = publish(kind="news", slug="n-home", title="首页的标题")
    assert "首页的标题" in client.get("/").get_data(as_text=True)
    _sneak_edit(session, item, "改过的标题")
    assert "首页的标题" in client.get("/").get_data(as_text=True)  # cached
    _bump(app, "charity")
    assert "改过的标题" in client.get("/").get_data(as_text=True)


def test_each_host_and_scheme_has_its_own_entries(app, client):
    client.get("/robots.txt", base_url="http://portal.example")
    client.get("/robots.txt", base_url="http://evil.example")
    client.get("/robots.txt", base_url="https://portal.example")
    assert len(app.extensions["page_cache"]) == 3
    client.get("/robots.txt", base_url="http://portal.example")  # answered from its entry
    assert len(app.extensions["page_cache"]) == 3


def test_forwarded_host_is_part_of_the_key(app, client):
    client.get("/robots.txt", base_url="http://portal.example")
    poisoned = client.get(
        "/robots.txt",
        base_url="http://portal.example",
        headers={"X-Forwarded-Host": "evil.example"},
    )
    assert poisoned.status_code == 200
    assert len(app.extensions["page_cache"]) == 2


def test_an_htmx_fragment_and_the_full_page_are_cached_apart(client, publish):
    publish(kind="news", slug="n-frag", title="防溺水")
    url = "/search?q=防溺水"
    full = client.get(url)
    fragment = client.get(url, headers={"HX-Request": "true"})
    boosted = client.get(url, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in full.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    # Asked again, each comes from its own cache entry.
    assert client.get(url, headers={"HX-Request": "true"}).get_data() == fragment.get_data()
    assert client.get(url).get_data() == full.get_data()


def test_cached_page_needs_the_areas_it_depends_on():
    with pytest.raises(TypeError, match="name the areas"):
        cached_page(lambda: None)
    with pytest.raises(TypeError, match="name the areas"):
        cached_page()


def test_dropping_an_area_keeps_the_others_entries():
    pages = PageCache()
    epoch = cache.EPOCH
    pages.put(("a",), cache.Entry(b"a", [], "a", epoch, ("publicity",)))
    pages.put(("b",), cache.Entry(b"b", [], "b", epoch, ("parents_school",)))
    pages.put(("c",), cache.Entry(b"c", [], "c", epoch, (ALL,)))
    pages.drop({"parents_school"})
    assert pages.get(("a",)) is not None
    assert pages.get(("b",)) is None and pages.get(("c",)) is None


def test_a_page_asked_under_a_script_root_is_not_served_to_the_plain_address(client):
    under_root = client.get("/", base_url="http://localhost/portal/").get_data(as_text=True)
    assert 'href="/portal/static/css/portal.css"' in under_root
    plain = client.get("/").get_data(as_text=True)
    assert 'href="/static/css/portal.css"' in plain and "/portal/static/" not in plain


def test_an_address_with_an_argument_the_view_does_not_read_is_never_stored(app, client):
    pages = app.extensions["page_cache"]
    client.get("/publicity/")
    assert len(pages) == 1
    for n in range(30):  # endless variants of one page
        response = client.get(f"/publicity/?r={n}")
        assert response.status_code == 200
        assert "ETag" not in response.headers  # rendered, not stored
    client.get("/publicity/?utm_source=wechat")
    assert len(pages) == 1


def test_the_arguments_a_view_reads_have_their_own_entries(app, client, publish):
    publish(kind="news", slug="n-args", title="防溺水")
    pages = app.extensions["page_cache"]
    client.get("/search?q=防溺水")
    client.get("/search?q=防溺水&kind=news")
    client.get("/publicity/news/?page=1")
    assert len(pages) == 3
    # One argument more than the view reads, and the page is rendered but not stored.
    assert client.get("/search?q=防溺水&kind=news&x=1").status_code == 200
    assert len(pages) == 3


def test_a_stored_page_is_not_served_for_an_address_with_another_argument(
    app, client, session, publish
):
    item = publish(kind="news", slug="n-other", title="第一版")
    assert "第一版" in client.get("/publicity/news/n-other").get_data(as_text=True)
    _sneak_edit(session, item, "第二版")
    assert "第一版" in client.get("/publicity/news/n-other").get_data(as_text=True)
    assert "第二版" in client.get("/publicity/news/n-other?r=1").get_data(as_text=True)


def test_cached_page_takes_the_names_of_the_arguments_it_reads():
    with pytest.raises(TypeError, match="query arguments"):
        cached_page("publicity", query="page")
    with pytest.raises(TypeError, match="query arguments"):
        cached_page("publicity", query=(1,))
    view = cached_page("publicity", query=("page",))(lambda: None)
    assert view.cache_query == frozenset({"page"})
