"""Anonymous public pages come from a cache keyed on content version, language and display."""

from sqlalchemy import text

from portal.auth.models import Role
from portal.publicity import services
from tests.conftest import login, make_user


def _sneak_edit(session, item, title):
    """Change the live title without going through the services (no version bump)."""
    session.execute(
        text("UPDATE content_revision SET title = :t WHERE id = :i"),
        {"t": title, "i": item.live_revision_id},
    )
    session.commit()


def test_a_page_is_served_from_the_cache_until_something_is_published(
    app, client, session, publish
):
    item = publish(kind="news", slug="n-cache", title="第一版标题")
    assert "第一版标题" in client.get("/publicity/news/n-cache").get_data(as_text=True)
    _sneak_edit(session, item, "偷偷改的标题")
    assert "第一版标题" in client.get("/publicity/news/n-cache").get_data(as_text=True)  # cached
    publish(kind="news", slug="n-other", title="另一条")  # publishing clears the cache
    assert "偷偷改的标题" in client.get("/publicity/news/n-cache").get_data(as_text=True)


def test_etag_and_last_modified_answer_conditional_requests(client, publish):
    publish(kind="news", slug="n-etag", title="标题")
    first = client.get("/publicity/news/n-etag")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    again = client.get("/publicity/news/n-etag", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    since = client.get("/publicity/news/n-etag", headers={"If-Modified-Since": modified})
    assert since.status_code == 304


def test_language_and_elder_mode_have_their_own_entries(client, publish):
    publish(kind="news", slug="n-lang", title="标题")
    zh = client.get("/publicity/news/n-lang").get_data(as_text=True)
    en = client.get("/publicity/news/n-lang", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "首页" in zh and "Home" in en
    client.set_cookie("elder", "1")
    assert '<body class="elder"' in client.get("/publicity/news/n-lang").get_data(as_text=True)


def test_logged_in_pages_are_never_cached(app, session, publish):
    item = publish(kind="news", slug="n-user", title="原标题")
    reader = app.test_client()
    login(reader, make_user(session, role=Role.VOLUNTEER))
    first = reader.get("/publicity/news/n-user")
    assert first.headers["Cache-Control"] == "no-store" and "ETag" not in first.headers
    _sneak_edit(session, item, "新标题")
    assert "新标题" in reader.get("/publicity/news/n-user").get_data(as_text=True)


def test_answers_that_set_a_cookie_are_not_cached(client, publish):
    publish(kind="news", slug="n-cookie", title="标题")
    response = client.get("/publicity/news/n-cookie?lang=en")
    assert "Set-Cookie" in response.headers and "ETag" not in response.headers


def test_retracting_clears_the_cached_page(app, client, session, publish, reviewer):
    item = publish(kind="news", slug="n-retract", title="标题")
    assert client.get("/publicity/news/n-retract").status_code == 200
    with app.app_context():
        services.retract(session, item=item, reviewer=reviewer)
        session.commit()
    assert client.get("/publicity/news/n-retract").status_code == 404


def test_errors_are_not_cached(client, publish):
    assert client.get("/publicity/news/n-later").status_code == 404
    publish(kind="news", slug="n-later", title="后来发布")
    assert client.get("/publicity/news/n-later").status_code == 200


def test_a_new_day_gets_a_fresh_page(client, time_machine):
    time_machine.move_to("2026-11-29T15:00:00+00:00", tick=False)  # 23:00 in Songyang
    assert "2026年11月29日" in client.get("/").get_data(as_text=True)
    time_machine.move_to("2026-11-29T16:30:00+00:00", tick=False)  # 00:30 the next day
    assert "2026年11月30日" in client.get("/").get_data(as_text=True)
