"""In real Chromium: where focus goes after a click or a key, the elder switch, tables on a
phone, and axe scans of the pages every page links to."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

FOCUSED = "document.activeElement.tagName + ':' + document.activeElement.textContent.trim()"


def _outline(page, selector: str) -> str:
    return page.eval_on_selector(selector, "el => getComputedStyle(el).outlineStyle")


def test_a_reader_who_taps_a_link_sees_no_box_around_the_page(live_server, phone):
    page = phone
    page.goto(live_server.url + "/")
    page.evaluate("window.__boostMarker = 1")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="家长学校").tap()
    expect(page.locator("h1")).to_have_text("家长学校")
    assert page.evaluate("window.__boostMarker") == 1  # a boosted navigation, not a reload
    # The heading has the focus (screen readers announce the new page), not the whole <main>.
    # Focus moves once htmx has settled the swap, a moment after the heading shows: wait for it.
    expect(page.locator("h1")).to_be_focused()
    assert page.evaluate(FOCUSED) == "H1:家长学校"
    assert _outline(page, "h1") == "none"
    assert _outline(page, "#main") == "none"


def test_a_keyboard_user_lands_on_the_new_heading_with_a_visible_ring(live_server, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.evaluate("window.__boostMarker = 2")
    link = page.get_by_role("navigation", name="主导航").get_by_role("link", name="志愿服务")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("志愿服务")
    assert page.evaluate("window.__boostMarker") == 2
    expect(page.locator("h1")).to_be_focused()
    assert page.evaluate(FOCUSED) == "H1:志愿服务"
    assert _outline(page, "h1") == "solid"  # :focus-visible after a key press
    assert _outline(page, "#main") == "none"
    # The next Tab leaves the heading for the first link of the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    context.close()


def test_a_grandmother_sees_in_words_whether_elder_mode_is_on(live_server, phone):
    page = phone
    page.goto(live_server.url + "/charity/")
    switch = page.locator(".elder-toggle")
    expect(switch).to_have_text("长辈模式：关闭")
    expect(switch).to_have_attribute("aria-pressed", "false")
    switch.tap()
    expect(page.locator("body")).to_have_class("elder")
    expect(page.locator(".elder-toggle")).to_have_text("长辈模式：开启")
    expect(page.locator(".elder-toggle")).to_have_attribute("aria-pressed", "true")
    assert page.url.endswith("/charity/")
    page.locator(".elder-toggle").tap()
    expect(page.locator(".elder-toggle")).to_have_text("长辈模式：关闭")
    expect(page.locator("body")).not_to_have_class("elder")


def test_an_admin_reads_the_audit_table_on_a_phone_without_one_character_lines(live_server, phone):
    admin = live_server.user(role="admin", name="管理员")
    page = phone
    page.goto(live_server.url + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(admin.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")
    page.goto(live_server.url + "/admin/audit")
    expect(page.locator("table.audit")).to_contain_text("登录")
    # Headers stay on one line and cells keep a readable width; the table scrolls sideways.
    heights = page.eval_on_selector_all(
        "table.audit th", "ths => ths.map(th => th.getBoundingClientRect().height)"
    )
    line = page.eval_on_selector(
        "table.audit th", "th => parseFloat(getComputedStyle(th).lineHeight)"
    )
    assert max(heights) < 2 * line + 16, heights
    widths = page.eval_on_selector_all(
        "table.audit td", "tds => tds.map(td => td.getBoundingClientRect().width)"
    )
    font = page.eval_on_selector(
        "table.audit td", "td => parseFloat(getComputedStyle(td).fontSize)"
    )
    assert min(widths) >= 4 * font, widths
    assert page.eval_on_selector(".table-wrap", "w => w.scrollWidth > w.clientWidth")
    # A bad date is refused in Chinese, in place, by the filter's htmx request.
    page.get_by_label("开始日期").fill("2026-12-01")
    page.get_by_label("结束日期").fill("2026-11-01")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#results [role=alert]")).to_contain_text("结束日期早于开始日期。")


def test_the_policy_details_read_label_over_value_on_a_phone(live_server, phone):
    live_server.load_content()
    page = phone
    page.goto(live_server.url + "/publicity/policies/songyang-2017-139")
    assert page.eval_on_selector("table.meta th", "th => getComputedStyle(th).display") == "block"
    assert page.eval_on_selector(".table-wrap", "w => w.scrollWidth <= w.clientWidth")
    # Contents: one plain list, the headings carry their own numbers.
    expect(page.locator("nav.toc ul li").first).to_have_text("一、指导思想和目标")
    assert page.locator("nav.toc ol").count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/sitemap",
        "/pages/about",
        "/pages/hotlines",
        "/pages/privacy",
        "/pages/disclaimer",
        "/pages/about?lang=en",
        "/publicity/interpretations/songyang-2017-139-explained",
        "/publicity/guides/guide-emergency-aid",
        "/publicity/news/news-portal-first-content",
        "/volunteers/",
    ],
)
def test_the_pages_linked_from_every_page_have_no_serious_accessibility_violations(
    live_server, phone, path
):
    live_server.load_content()
    response = phone.goto(live_server.url + path)
    assert response.status == 200
    results = Axe().run(phone)
    serious = [
        (v["id"], v["impact"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious


def test_the_favicon_is_served_to_the_browser(live_server, phone):
    response = phone.goto(live_server.url + "/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] == "image/vnd.microsoft.icon"
