"""Absolute links come from PORTAL_BASE_URL, never from Host; unknown hosts get 400."""

from __future__ import annotations

import pytest

BASE = "https://lsrt.songyang.gov.cn"


@pytest.fixture()
def canonical(app):
    before = app.config["PORTAL_BASE_URL"]
    app.config["PORTAL_BASE_URL"] = BASE
    yield app
    app.config["PORTAL_BASE_URL"] = before


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}],
    ids=["host", "forwarded-host"],
)
def test_a_poisoned_host_never_reaches_robots_txt(canonical, client, headers):
    for _ in range(3):
        client.get("/robots.txt", headers=headers)
    for answer in (client.get("/robots.txt", headers=headers), client.get("/robots.txt")):
        text = answer.get_data(as_text=True)
        assert f"Sitemap: {BASE}/sitemap.xml" in text
        assert "evil.example" not in text


def test_sitemap_and_feeds_use_the_canonical_address(canonical, client, session):
    sitemap = client.get("/sitemap.xml", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f"<loc>{BASE}/</loc>" in sitemap and "evil.example" not in sitemap
    feed = client.get("/feed.atom", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert f'href="{BASE}/feed.atom"' in feed and "evil.example" not in feed


def test_reset_links_shown_to_the_admin_use_the_canonical_address(canonical, session):
    from portal.auth.models import Role
    from tests.conftest import login, make_user, post

    client = canonical.test_client()
    login(client, make_user(session, role=Role.ADMIN))
    target = make_user(session, role=Role.EDITOR)
    page = post(client, f"/admin/users/{target.id}/reset-link").get_data(as_text=True)
    # The request came to http://localhost; the link the admin passes on is the public one.
    assert f"{BASE}/auth/reset/" in page and "http://localhost/auth/reset/" not in page


@pytest.fixture()
def guarded(new_app, db_url):
    return new_app(db_url, PORTAL_ALLOWED_HOSTS=["lsrt.songyang.gov.cn", "127.0.0.1"])


def test_an_unknown_host_gets_400_when_hosts_are_listed(guarded):
    client = guarded.test_client()
    assert client.get("/robots.txt", headers={"Host": "lsrt.songyang.gov.cn"}).status_code == 200
    assert client.get("/robots.txt", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    refused = client.get("/robots.txt", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert "请求有误" in refused.get_data(as_text=True)


def test_behind_a_proxy_the_forwarded_host_is_checked(new_app, db_url):
    app = new_app(db_url, PORTAL_ALLOWED_HOSTS=["lsrt.songyang.gov.cn"], PORTAL_PROXY_COUNT=1)
    client = app.test_client()
    ok = {"Host": "lsrt.songyang.gov.cn", "X-Forwarded-Host": "lsrt.songyang.gov.cn"}
    assert client.get("/robots.txt", headers=ok).status_code == 200
    evil = {"Host": "lsrt.songyang.gov.cn", "X-Forwarded-Host": "evil.example"}
    assert client.get("/robots.txt", headers=evil).status_code == 400


def test_behind_a_proxy_a_cached_page_is_found_again(new_app, db_url):
    """The page is stored under the key it is looked up with (the request as it arrived)."""
    app = new_app(db_url, PORTAL_PROXY_COUNT=1)
    view = app.view_functions["core.robots"]
    calls = []

    def counted():
        calls.append(1)
        return view()

    counted.cache_areas = view.cache_areas
    app.view_functions["core.robots"] = counted
    client = app.test_client()
    headers = {"Host": "127.0.0.1:8000", "X-Forwarded-Host": "lsrt.songyang.gov.cn"}
    for _ in range(3):
        assert client.get("/robots.txt", headers=headers).status_code == 200
    assert len(calls) == 1
