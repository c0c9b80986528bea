"""Languages: zh_CN default, English second, switch remembered; every message translated."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from portal.i18n import format_day, format_time
from tests.conftest import page_text

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
}


def _source_messages() -> set:
    method_map = [
        ("portal/**.py", "python"),
        ("portal/templates/**.html", "jinja2"),
        ("portal/templates/**.xml", "jinja2"),
    ]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_has_a_zh_cn_translation():
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string)) and not m.fuzzy
    }
    missing = sorted(_source_messages() - translated)
    assert not missing, f"messages without a zh_CN translation: {missing}"


def test_default_is_chinese_even_without_accept_language(client):
    assert "登录" in page_text(client.get("/"))


def test_english_browser_gets_english(client):
    text = page_text(client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert "Log in" in text


def test_lang_parameter_switches_and_is_remembered(client):
    response = client.get("/?lang=en")
    assert "Log in" in page_text(response)
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en" and cookie.http_only
    assert "Log in" in page_text(client.get("/volunteers/"))
    client.get("/?lang=zh_CN")
    assert "登录" in page_text(client.get("/volunteers/"))


def test_switch_link_keeps_the_page(client):
    html = client.get("/search?q=志愿").get_data(as_text=True)
    assert 'href="/search?q=%E5%BF%97%E6%84%BF&amp;lang=en"' in html


def test_unknown_language_falls_back_to_chinese(client):
    assert "登录" in page_text(client.get("/?lang=xx"))


def test_dates_in_chinese_and_english(app):
    with app.test_request_context("/"):
        assert format_day(date(2017, 10, 14)) == "2017年10月14日（星期六）"
        # 23:30 UTC is already the next day in Asia/Shanghai.
        assert format_day(datetime(2026, 11, 28, 23, 30, tzinfo=UTC)) == "2026年11月29日（星期日）"
        assert format_time(datetime(2026, 11, 29, 1, 5, tzinfo=UTC)).endswith("09:05")
    with app.test_request_context("/?lang=en"):
        assert format_day(date(2026, 11, 29)) == "Sunday, 29 November 2026"


@pytest.mark.parametrize(
    "path",
    [
        "/publicity/news/?segment=x",  # a query argument named like the route's variable
        "/publicity/?_scheme=https",  # or like one of url_for's options
        "/publicity/?_external=1&_anchor=x",
    ],
)
def test_the_language_link_survives_odd_query_arguments(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "lang=en" in response.get_data(as_text=True)


def test_each_language_is_parsed_once_and_shared_by_requests(app):
    from flask_babel import get_locale

    seen = []
    for headers in ({}, {"Accept-Language": "en"}, {}, {"Accept-Language": "en-GB,en;q=0.9"}):
        with app.test_request_context("/", headers=headers):
            seen.append(get_locale())
    assert [str(locale) for locale in seen] == ["zh_Hans_CN", "en", "zh_Hans_CN", "en"]
    assert seen[0] is seen[2] and seen[1] is seen[3]
