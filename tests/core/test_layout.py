"""The base layout: landmarks, areas, hotlines, search box, elder mode, htmx set-up."""

import json
import re

import pytest

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


def _publish(
    app, session, *, kind="page", slug="about", title="关于本平台", body="## 一、用途\n\n正文"
):
    """A live item, written by an editor and published by a reviewer (indexed after commit)."""
    from portal.auth.models import Role
    from portal.publicity import services
    from portal.publicity.services import Draft

    editor = make_user(session, role=Role.EDITOR)
    reviewer = make_user(session, role=Role.REVIEWER)
    with app.app_context():
        item = services.create_item(
            session, author=editor, kind=kind, slug=slug, draft=Draft(title=title, body=body)
        )
        services.submit(session, item=item, user=editor)
        services.publish(session, item=item, reviewer=reviewer)
        session.commit()
    return item


def test_favicon_answers_at_the_address_browsers_ask_for(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an icon file, not a page
    response.close()
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert '<link rel="icon" href="/favicon.ico"' in html
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data
    svg.close()


def test_the_elder_switch_says_whether_it_is_on(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'aria-pressed="false"\s+href="[^"]+elder=1[^"]*">长辈模式：关闭</a>', html)
    client.get("/settings/display", query_string={"elder": "1", "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'aria-pressed="true"\s+href="[^"]+elder=0[^"]*">长辈模式：开启</a>', html)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert ">Elder mode: on</a>" in english


def test_the_login_field_is_plain_text_for_a_phone_number_or_an_email(client):
    html = client.get("/auth/login").get_data(as_text=True)
    tag = re.search(r'<input[^>]*name="login"[^>]*>', html).group(0)
    assert 'type="text"' in tag and 'autocomplete="username"' in tag
    assert "inputmode" not in tag


def test_footer_names_who_runs_the_site_and_links_its_pages(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    footer = html[html.index('<footer class="site-footer">') :]
    for path in ["/pages/hotlines", "/pages/about", "/pages/privacy", "/pages/disclaimer"]:
        assert f'href="{path}"' in footer, path
    assert 'href="/sitemap"' in footer
    text = page_text(response)
    assert "主办单位：松阳县留守儿童关爱保护工作联席会议办公室（设在县民政局）" in text
    assert '<p>联系方式见「<a href="/pages/about">关于本平台</a>」。</p>' in footer
    # No contact detail is made up: the only numbers in the footer are the national hotlines.
    digits = set(re.findall(r"\d{3,}", re.sub(r"<[^>]+>", " ", footer)))
    assert digits == set(HOTLINES)


def test_hotlines_and_about_are_linked_from_the_header_and_the_home_page(client):
    html = client.get("/").get_data(as_text=True)
    header = html[html.index("<header") : html.index("</header>")]
    assert '<a class="hotline-link" href="/pages/hotlines">求助热线</a>' in header
    main = html[html.index("<main") : html.index("</main>")]
    assert 'href="/pages/about"' in main and 'href="/pages/hotlines"' in main


def test_the_home_page_says_what_the_portal_does_today(client):
    text = page_text(client.get("/"))
    intro = text[text.index("每一个父母在外务工的孩子") :]
    intro = intro[: intro.index("关于本平台")]
    for service in ("政策", "志愿者", "一对一帮扶", "家长学校", "应急救助"):
        assert service in intro, service
    assert "陆续开通" not in intro and "尚未开通" not in intro


# Every area is online: each area page links its main action (sign up, book, apply, follow).
AREA_ACTIONS = {
    "/volunteers/": ["/volunteers/signup"],
    "/parents-school/": ["/lectures/", "/lectures/my-booking"],
    "/charity/": ["/charity/apply", "/charity/track", "/charity/disclosure"],
}


@pytest.mark.parametrize(("page", "actions"), AREA_ACTIONS.items(), ids=list(AREA_ACTIONS))
def test_each_area_page_links_its_main_action_and_says_nothing_is_not_online(client, page, actions):
    response = client.get(page)
    assert response.status_code == 200
    text = page_text(response)
    # The only thing not switched on is the sending of text messages, which pages may say.
    assert text.count("尚未开通") == text.count("短信发送功能尚未开通")
    html = response.get_data(as_text=True)
    for action in actions:
        assert f'href="{action}"' in html, action


def test_the_emergency_aid_page_still_says_to_call_110_first(client):
    text = page_text(client.get("/charity/"))
    assert "110" in text and "120" in text


def test_site_map_lists_the_areas_the_columns_and_the_pages(app, client, session):
    _publish(app, session, slug="privacy", title="隐私声明")
    response = client.get("/sitemap")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "<h1>网站地图</h1>" in html
    for label in ["首页", "政策宣传", "家长学校", "志愿服务", "应急救助", "站内搜索"]:
        assert label in text, label
    for path in ["/publicity/", "/publicity/news/", "/publicity/guides/", "/search"]:
        assert f'href="{path}"' in html, path
    site_map = html[html.index('<div class="site-map">') : html.index("</main>")]
    assert site_map.count('<a href="/pages/privacy">隐私声明</a>') == 1  # published: listed once
    assert site_map.count('<a href="/pages/about">关于本平台</a>') == 1  # from the layout's list
    assert 'href="/sitemap.xml"' in html
    # The XML sitemap for search engines stays.
    assert client.get("/sitemap.xml").mimetype == "application/xml"


def test_chinese_content_is_marked_as_chinese_on_english_pages(app, client, session):
    _publish(app, session, slug="about", title="关于本平台", body="## 一、用途\n\n正文")
    english = client.get("/pages/about?lang=en").get_data(as_text=True)
    assert '<h1 lang="zh-CN">关于本平台</h1>' in english
    assert '<div class="body" lang="zh-CN">' in english
    assert '<html lang="en">' in english
    map_page = client.get("/sitemap").get_data(as_text=True)  # the language is remembered
    assert '<a href="/pages/about" lang="zh-CN">关于本平台</a>' in map_page
    chinese = client.get("/pages/about?lang=zh_CN").get_data(as_text=True)
    assert "<h1>关于本平台</h1>" in chinese and 'lang="zh-CN">关于' not in chinese


def test_the_table_of_contents_is_numbered_once(app, client, session):
    body = "\n\n".join(f"## {n}、第{n}部分\n\n正文" for n in "一二三四")
    _publish(app, session, kind="page", slug="four-parts", title="四个部分", body=body)
    html = client.get("/pages/four-parts").get_data(as_text=True)
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    assert "<ul>" in toc and "<ol" not in toc
    assert "一、第一部分" in toc


def test_focus_ring_is_for_keyboard_users_and_never_around_the_whole_page(client):
    css = client.get("/static/css/portal.css")
    text = css.get_data(as_text=True)
    css.close()
    rules = re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", text, flags=re.S))
    outlined = [sel for sel, body in rules if re.search(r"outline:\s*3px", body)]
    assert outlined and all(
        all(":focus-visible" in s for s in sel.split(",")) for sel in outlined
    ), outlined
    assert any("#main:focus" in sel and "outline: none" in body for sel, body in rules)
    js = client.get("/static/js/portal.js")
    script = js.get_data(as_text=True)
    js.close()
    assert 'querySelector("h1")' in script and "main.focus(" not in script
