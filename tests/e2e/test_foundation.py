"""In real Chromium: log in, switch language, navigate with htmx boost, log out; axe scans."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def test_staff_member_logs_in_switches_language_browses_and_logs_out(live_server, phone):
    user = live_server.user(role="county_staff", name="叶主任")
    page = phone
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_have_text("松阳县留守儿童关爱保护服务平台")
    # hx-boost: a marker set on window survives boosted navigation (no full reload).
    page.evaluate("window.__boostMarker = 42")
    page.get_by_role("link", name="登录").click()
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    assert page.evaluate("window.__boostMarker") == 42
    page.get_by_label("手机号码或电子邮箱").fill(user.phone)
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".error")).to_contain_text("手机号码、电子邮箱或密码不正确")
    expect(page.get_by_label("手机号码或电子邮箱")).to_have_value(user.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您，叶主任")
    # Staff land on their workspace (工作台), where what waits for them is counted.
    expect(page.locator("h1")).to_have_text("工作台")
    expect(page.locator(".queue").filter(has_text="未读消息")).to_have_count(1)
    assert page.evaluate("window.__boostMarker") == 42

    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Workspace")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.evaluate("window.__boostMarker = 7")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Volunteers").click()
    expect(page.locator("h1")).to_have_text("Volunteers")
    assert page.url.endswith("/volunteers/")
    assert page.evaluate("window.__boostMarker") == 7  # boosted, not reloaded
    page.go_back()
    expect(page.locator("h1")).to_have_text("Workspace")

    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash")).to_contain_text("You have logged out.")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0  # no htmx history snapshot kept


def test_guardian_switches_on_large_text_on_a_phone(live_server, phone):
    page = phone
    page.goto(live_server.url + "/parents-school/")
    size_before = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("body")).to_have_class("elder")
    # The new page's class comes with its HTML; its stylesheet may still be on the way.
    page.wait_for_load_state("load")
    page.wait_for_function(
        f"parseFloat(getComputedStyle(document.body).fontSize) > {size_before}", timeout=5000
    )
    assert page.url.endswith("/parents-school/")
    page.goto(live_server.url + "/")
    expect(page.locator("body")).to_have_class("elder")


def test_expired_session_on_an_htmx_request_goes_to_login(live_server, phone):
    user = live_server.user(role="admin", name="管理员")
    page = phone
    page.goto(live_server.url + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(user.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")
    page.goto(live_server.url + "/admin/users")
    expect(page.get_by_role("heading", name="账号管理")).to_be_visible()
    # The session ends elsewhere (cookie removed); the filter's htmx request answers 401.
    page.context.clear_cookies()
    page.get_by_label("角色").select_option("admin")
    page.wait_for_url(lambda url: "/auth/login?next=/admin/users" in url)
    expect(page.get_by_role("heading", name="登录")).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/auth/login",
        "/publicity/policies/songyang-2017-139",
        "/search?q=%E7%9B%91%E6%8A%A4",
        "/pages/songyang-2017-139-annex-2",
    ],
)
def test_public_pages_have_no_serious_accessibility_violations(live_server, phone, path):
    live_server.load_content()
    phone.goto(live_server.url + path)
    results = Axe().run(phone)
    serious = [
        (v["id"], v["impact"], len(v["nodes"]))
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious
