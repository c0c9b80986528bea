"""The layout's parts rendered once and reused: each language and page still gets its own."""

import re

from flask import render_template_string
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from portal.i18n import translated


def _nav(html: str) -> str:
    return re.search(r'<nav class="areas".*?</nav>', html, re.S).group(0)


def _footer(html: str) -> str:
    return re.search(r'<footer class="site-footer">.*?</footer>', html, re.S).group(0)


def test_navigation_and_footer_follow_the_language_of_each_request(client):
    english = client.get("/?lang=en").get_data(as_text=True)
    chinese = client.get("/?lang=zh_CN").get_data(as_text=True)
    english_again = client.get("/?lang=en").get_data(as_text=True)
    assert "Policy and news" in _nav(english) and "政策宣传" not in _nav(english)
    assert "政策宣传" in _nav(chinese) and "Policy and news" not in _nav(chinese)
    assert "Hotlines" in _footer(english) and "Site map" in _footer(english)
    assert "Site map" not in _footer(chinese)
    assert _nav(english_again) == _nav(english) and _footer(english_again) == _footer(english)


def test_navigation_marks_the_current_area_on_each_page(client):
    home = _nav(client.get("/").get_data(as_text=True))
    publicity = _nav(client.get("/publicity/").get_data(as_text=True))
    volunteers = _nav(client.get("/volunteers/").get_data(as_text=True))
    assert 'aria-current="page"' not in home
    assert re.search(r'href="/publicity/" aria-current="page"', publicity)
    assert publicity.count('aria-current="page"') == 1
    assert re.search(r'href="/volunteers/" aria-current="page"', volunteers)
    assert 'href="/publicity/" aria-current' not in volunteers


def test_layout_links_carry_the_script_root(client):
    html = client.get("/", base_url="http://localhost/portal/").get_data(as_text=True)
    assert 'href="/portal/static/css/portal.css"' in html
    assert '<a class="brand" href="/portal/"' in html
    assert 'href="/portal/publicity/"' in _nav(html)
    assert re.search(r'href="/portal/[^"]+">网站地图', _footer(html))
    plain = client.get("/").get_data(as_text=True)  # its own cache entry (script root in key)
    assert 'href="/static/css/portal.css"' in plain and "/portal/" not in _nav(plain)


def test_templates_translate_in_the_locale_in_force_at_rendering(app):
    with app.test_request_context("/?lang=zh_CN"):
        source = "{{ _('Hotlines') }}|{{ is_chinese() }}|{{ html_lang() }}"
        assert render_template_string(source) == "求助热线|True|zh-CN"
        with force_locale("en"):
            assert render_template_string(source) == "Hotlines|False|en"
        assert render_template_string(source) == "求助热线|True|zh-CN"


def test_a_remembered_translation_is_kept_per_language(app):
    label = _l("Hotlines")
    with app.test_request_context("/?lang=en"):
        assert translated(label) == "Hotlines"
    with app.test_request_context("/?lang=zh_CN"):
        assert translated(label) == str(label) != "Hotlines"
    with app.test_request_context("/?lang=en"):
        assert translated(label) == "Hotlines"
        assert translated(_l("%(n)s items", n=3)) == "3 items"


def test_footer_site_pages_carry_the_script_root(client):
    html = client.get("/", base_url="http://localhost/portal/").get_data(as_text=True)
    assert 'href="/portal/pages/privacy"' in _footer(html)
    assert 'href="/pages/privacy"' in _footer(client.get("/").get_data(as_text=True))


def test_option_tags_escape_and_mark_the_chosen_one(app):
    from portal.core.views import option_tags

    html = str(option_tags([("", "全部"), ("a&b", "<b>x</b>"), (2017, "2017")], "2017"))
    assert html == (
        '<option value="">全部</option>'
        '<option value="a&amp;b">&lt;b&gt;x&lt;/b&gt;</option>'
        '<option value="2017" selected>2017</option>'
    )
    assert "selected" not in str(option_tags([("x", "X")], ""))
