"""The base layout: landmarks, areas, hotlines, search box, elder mode, htmx set-up."""

import json
import re

from tests.conftest import login, make_user, page_text

HOTLINES = ["110", "120", "12355", "12338", "12345"]


def test_layout_has_name_areas_search_footer_and_skip_link(client):
    html = client.get("/").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">跳到正文</a>' in html
    assert '<main id="main"' in html and "<header" in html and "<footer" in html
    assert 'role="search"' in html and 'name="q"' in html
    for label in ["政策宣传", "家长学校", "志愿服务", "应急救助"]:
        assert label in html
    for number in HOTLINES:
        assert f'href="tel:{number}"' in html


def test_each_area_page_renders_with_breadcrumbs(client):
    for path, title in [
        ("/publicity/", "政策宣传"),
        ("/parents-school/", "家长学校"),
        ("/volunteers/", "志愿服务"),
        ("/charity/", "应急救助"),
    ]:
        response = client.get(path)
        assert response.status_code == 200
        text = page_text(response)
        assert title in text and "首页" in text
        if path != "/publicity/":
            assert "松政办发〔2017〕139号" in text


def test_phone_viewport_and_no_inline_script(client):
    html = client.get("/").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    # CSP forbids inline script: every <script> has a src.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag


def test_htmx_is_vendored_boosted_and_keeps_no_history(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert 'hx-boost="true"' in html
    config = json.loads(re.search(r'name="htmx-config" content=\'([^\']+)\'', html).group(1))
    assert config["historyCacheSize"] == 0
    assert config["allowEval"] is False
    js = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert js.status_code == 200 and b"htmx" in js.data
    js.close()


def test_htmx_requests_carry_the_csrf_header_once_logged_in(client, session):
    # Anonymous pages carry no token: they are the same for everyone and can be cached.
    assert "hx-headers" not in client.get("/").get_data(as_text=True)
    login(client, make_user(session))
    html = client.get("/").get_data(as_text=True)
    headers = json.loads(re.search(r"hx-headers='([^']+)'", html).group(1))
    assert len(headers["X-CSRFToken"]) > 20


def test_elder_mode_is_switched_on_and_remembered(client):
    assert '<body class=""' in client.get("/").get_data(as_text=True)
    response = client.get("/settings/display", query_string={"elder": "1", "next": "/volunteers/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/volunteers/"
    html = client.get("/").get_data(as_text=True)
    assert '<body class="elder"' in html
    assert 'aria-pressed="true"' in html
    client.get("/settings/display", query_string={"elder": "0", "next": "/"})
    assert '<body class=""' in client.get("/").get_data(as_text=True)


def test_elder_mode_refuses_foreign_next(client):
    response = client.get(
        "/settings/display", query_string={"elder": "1", "next": "//evil.example/"}
    )
    assert response.headers["Location"] == "/"


def test_home_shows_todays_date_in_chinese_format(client, time_machine):
    time_machine.move_to("2026-11-29T04:00:00+00:00")
    assert "今天是 2026年11月29日（星期日）。" in page_text(client.get("/"))
