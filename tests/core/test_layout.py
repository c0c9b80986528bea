"""The base layout: landmarks, areas, hotlines, search box, elder mode, htmx set-up."""

import json
import re

from tests.conftest import page_text, post

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
        ("/policy/", "政策宣传"),
        ("/parents-school/", "家长学校"),
        ("/volunteers/", "志愿服务"),
        ("/charity/", "应急救助"),
    ]:
        response = client.get(path)
        assert response.status_code == 200
        text = page_text(response)
        assert title in text and "首页" in text and "松政办发〔2017〕139号" in text


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


def test_htmx_requests_carry_the_csrf_header(client):
    html = client.get("/").get_data(as_text=True)
    headers = json.loads(re.search(r"hx-headers='([^']+)'", html).group(1))
    assert len(headers["X-CSRFToken"]) > 20


def test_elder_mode_is_switched_on_and_remembered(client):
    assert 'class=""' in client.get("/").get_data(as_text=True)
    response = post(client, "/settings/display", {"elder": "1", "next": "/volunteers/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/volunteers/"
    html = client.get("/").get_data(as_text=True)
    assert '<body class="elder"' in html
    assert 'aria-pressed="true"' in html
    post(client, "/settings/display", {"elder": "0", "next": "/"})
    assert '<body class=""' in client.get("/").get_data(as_text=True)


def test_elder_mode_refuses_foreign_next(client):
    response = post(client, "/settings/display", {"elder": "1", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


def test_home_shows_todays_date_in_chinese_format(client, time_machine):
    time_machine.move_to("2026-11-29T04:00:00+00:00")
    assert "今天是 2026年11月29日（星期日）。" in page_text(client.get("/"))


def test_search_finds_service_areas_and_handles_odd_queries(client):
    text = page_text(client.get("/search?q=家长"))
    assert "家长学校" in text and "条结果" in text
    assert "没有找到" in page_text(client.get("/search?q=不存在的词"))
    for odd in ["title:*", '"(', "a" * 1000, "<script>alert(1)</script>"]:
        response = client.get("/search", query_string={"q": odd})
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in response.get_data(as_text=True)


def test_search_answers_htmx_with_the_results_block_only(client):
    response = client.get("/search?q=志愿", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
