"""In real Chromium: the public searches live and reads; an editor and a reviewer publish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


def _log_in(page, base, user):
    page.goto(base + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(user.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")


def test_a_parent_searches_live_and_opens_the_policy(live_server, phone):
    live_server.load_content()
    page = phone
    page.goto(live_server.url + "/search")
    page.evaluate("window.__liveMarker = 1")
    page.locator("#q").press_sequentially("监护", delay=50)
    # Results arrive while typing (htmx), without a page load; the URL follows the query.
    expect(page.locator("#results")).to_contain_text("条结果")
    expect(page.locator("#results mark").first).to_have_text("监护")
    assert page.evaluate("window.__liveMarker") == 1
    expect(page).to_have_url(re.compile(r"q=%E7%9B%91%E6%8A%A4"))
    page.get_by_role(
        "link", name="松阳县人民政府办公室关于加强留守儿童关爱保护工作的实施意见"
    ).click()
    expect(page.locator("h1")).to_have_text(
        "松阳县人民政府办公室关于加强留守儿童关爱保护工作的实施意见"
    )
    expect(page.locator("table.meta")).to_contain_text("松政办发〔2017〕139号")


def test_search_works_without_javascript(live_server, browser):
    live_server.load_content()
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("searchbox").first.fill("家长学校")
    page.get_by_role("button", name="搜索").first.click()
    expect(page.locator("#results")).to_contain_text("家长学校讲座预约办事指南")
    page.get_by_label("类别").select_option("guide")
    page.locator(".search-page").get_by_role("button", name="搜索").click()
    expect(page.locator("#results")).to_contain_text("条结果")
    context.close()


def test_an_editor_writes_and_a_reviewer_publishes(live_server, browser):
    editor = live_server.user(role="editor", name="编辑甲")
    reviewer = live_server.user(role="reviewer", name="审核乙")
    writing = browser.new_context(locale="zh-CN").new_page()
    _log_in(writing, live_server.url, editor)
    writing.goto(live_server.url + "/publicity/manage/new")
    writing.get_by_label("栏目").select_option("news")
    writing.get_by_label("网址名", exact=True).fill("gushi-drowning-2026")
    writing.get_by_label("标题").fill("古市镇开展防溺水安全教育")
    writing.get_by_label("正文").fill("## 活动\n\n古市镇组织留守儿童学习防溺水知识。")
    writing.get_by_role("button", name="保存草稿").click()
    expect(writing.locator(".flash")).to_contain_text("草稿已保存")
    writing.get_by_role("button", name="提交审核").click()
    expect(writing.locator(".flash")).to_contain_text("已提交审核")

    reviewing = browser.new_context(locale="zh-CN").new_page()
    _log_in(reviewing, live_server.url, reviewer)
    reviewing.goto(live_server.url + "/publicity/review")
    reviewing.get_by_role("link", name="古市镇开展防溺水安全教育").click()
    reviewing.get_by_role("button", name="发布", exact=True).click()
    expect(reviewing.locator(".flash")).to_contain_text("已发布")

    public = browser.new_context(locale="zh-CN").new_page()
    public.goto(live_server.url + "/")
    public.get_by_role("link", name="古市镇开展防溺水安全教育").click()
    expect(public.locator(".article .body")).to_contain_text("防溺水知识")
    for page in (writing, reviewing, public):
        page.context.close()
