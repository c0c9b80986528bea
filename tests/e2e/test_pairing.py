"""In real Chromium, in Chinese: one-on-one pairing from a child's registration to credited hours.

Township staff of 西屏街道 register a child, ask for suggestions, accept one and record the
guardian's consent on a desktop browser; the volunteer answers, logs a visit on a phone and sees
the hours once staff confirm it. County staff see the dashboard's chart and table. axe scans the
staff pairing page, the volunteer's pairing page and the visit form.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

XIPING = "331124001"
CHILD_NAME = "李小花"
GUARDIAN_PHONE = "13812345678"


def _no_accessibility_violations(page) -> None:
    """axe finds nothing on the page as it stands (every impact, not only serious ones)."""
    results = Axe().run(page)
    found = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
    ]
    assert found == [], found


def _log_in(page, base, login):
    page.goto(base + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")


def _desktop(browser, live_server, login):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    _log_in(page, live_server.url, login)
    return page


def _active_volunteer(live_server) -> tuple[str, str]:
    """A vetted, trained volunteer of 西屏街道 who tutors (committed): number and mobile."""
    from portal.extensions import db
    from portal.timeutil import china_today
    from portal.volunteers import services
    from portal.volunteers.models import Status
    from tests.volunteers.conftest import signup_data

    today = china_today()
    data = signup_data(1, name="王建国", skills=["tutoring"], village="城北社区")
    with live_server.app.test_request_context(), db.transaction() as session:
        volunteer = services.sign_up(session, data, password=PASSWORD, consent=True)
        volunteer.status = Status.ACTIVE
        volunteer.check_date = today - timedelta(days=10)
        volunteer.check_expires = volunteer.check_date + timedelta(days=365)
        volunteer.training_date = today - timedelta(days=5)
        session.add(volunteer)
        return volunteer.number, data["mobile"]


def _register_the_child(page, base) -> str:
    """Township staff fill the registration form; the child's code comes back."""
    from portal.timeutil import china_today

    today = china_today()
    page.goto(base + "/pairing/children/new")
    expect(page.locator("h1")).to_have_text("登记儿童")
    page.get_by_label("儿童姓名", exact=True).fill(CHILD_NAME)
    page.get_by_label("性别", exact=True).select_option("F")
    page.get_by_label("出生日期", exact=True).fill(date(today.year - 9, 3, 15).isoformat())
    expect(page.get_by_label("乡镇（街道）", exact=True)).to_have_value(XIPING)
    page.get_by_label("村（社区）", exact=True).fill("城北社区")
    page.get_by_label("监护人姓名", exact=True).fill("李奶奶")
    page.get_by_label("监护人与儿童的关系", exact=True).select_option("grandparent")
    page.get_by_label("监护人联系电话", exact=True).fill(GUARDIAN_PHONE)
    page.get_by_role("group", name="帮扶需求").get_by_label("学习").check()
    page.get_by_label("同意人", exact=True).fill("李奶奶")
    page.get_by_label("同意人与儿童的关系", exact=True).select_option("grandparent")
    page.get_by_label("同意日期", exact=True).fill((today - timedelta(days=3)).isoformat())
    page.get_by_label("同意方式", exact=True).select_option("written")
    page.get_by_label("监护人同时同意为儿童结对志愿者。").check()
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("ET")
    return re.search(r"ET\d{10}", page.locator(".flash").inner_text()).group(0)


def _suggest_and_accept(page, base, code: str, number: str) -> None:
    page.goto(base + "/pairing/")
    waiting = page.get_by_role("region", name=re.compile("待结对"))
    expect(waiting).to_contain_text(code)
    page.get_by_role("button", name="生成结对推荐").click()
    expect(page.locator(".flash")).to_be_visible()
    card = page.locator("article.card").filter(has_text=code)
    expect(card).to_contain_text(number)
    # Why: the volunteer tutors (the child needs help with study) and lives in the same village.
    reasons = card.locator(".reasons li")
    expect(reasons.filter(has_text="志愿者特长符合儿童需求：学习")).to_contain_text("+10")
    expect(reasons.filter(has_text="同村（社区）")).to_contain_text("+8")
    expect(card).to_contain_text("得分 18 = 以上各项分值之和。")
    _no_accessibility_violations(page)
    card.get_by_role("button", name="采纳", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("已采纳，等待志愿者答复。")
    expect(page.locator("article.card").filter(has_text=code)).to_have_count(0)


def _volunteer_accepts(phone, base) -> str:
    phone.goto(base + "/pairing/mine/")
    expect(phone.locator("h1")).to_have_text("我的帮扶儿童")
    mine = phone.get_by_role("main")
    expect(mine).not_to_contain_text(CHILD_NAME)  # the given name only
    expect(mine.get_by_role("heading", name="小花")).to_be_visible()
    mine.get_by_role("link", name="查看并答复").click()
    expect(phone).to_have_url(re.compile(r"/pairing/mine/\d+$"))
    pairing_url = phone.url
    expect(phone.get_by_role("heading", name="您愿意帮扶这个孩子吗？")).to_be_visible()
    expect(phone.get_by_role("main")).not_to_contain_text(GUARDIAN_PHONE)  # not before consent
    _no_accessibility_violations(phone)
    phone.get_by_role("button", name="我接受").click()
    expect(phone.locator(".flash").first).to_contain_text("感谢您接受！")
    expect(phone.get_by_role("button", name="我接受")).to_have_count(0)
    return pairing_url


def _staff_record_the_consent(page, base, code: str) -> None:
    from portal.timeutil import china_today

    page.goto(base + "/pairing/")
    consent = page.get_by_role("region", name=re.compile("待监护人同意"))
    consent.get_by_role("link", name=re.compile(code)).click()
    expect(page.locator("h1")).to_have_text(f"{CHILD_NAME} ↔ 王建国")
    expect(page.get_by_role("main")).to_contain_text("待监护人同意")
    _no_accessibility_violations(page)
    page.get_by_label("表示同意的监护人").fill("李奶奶")
    page.get_by_label("同意日期").fill(china_today().isoformat())
    page.get_by_label("方式", exact=True).select_option("in_person")
    page.get_by_role("button", name="登记同意").click()
    expect(page.locator(".flash")).to_contain_text("已登记监护人同意，结对已生效。")
    expect(page.get_by_role("heading", name="解除结对")).to_be_visible()


def _volunteer_logs_a_visit(phone, pairing_url: str) -> None:
    from portal.timeutil import china_today

    phone.goto(pairing_url)
    guardian = phone.get_by_role("main")
    expect(guardian).to_contain_text("李奶奶")
    expect(guardian.get_by_role("link", name=GUARDIAN_PHONE)).to_have_attribute(
        "href", f"tel:{GUARDIAN_PHONE}"
    )
    phone.get_by_role("main").get_by_role("link", name="记录一次帮扶").click()
    expect(phone.locator("h1")).to_have_text("记录一次帮扶 · 小花")
    expect(phone.get_by_label("帮扶日期")).to_have_value(china_today().isoformat())
    _no_accessibility_violations(phone)
    phone.get_by_label("入户走访").check()
    phone.get_by_label("时长（分钟）").fill("90")
    phone.get_by_label("学习（选填）").fill("数学作业按时完成，语文阅读需要加强。")
    phone.get_by_label("生活（选填）").fill("奶奶照顾得很好。")
    # The safety note stays empty and no safety problem is ticked.
    expect(phone.get_by_label("安全（选填）")).to_have_value("")
    expect(phone.get_by_label(re.compile("发现安全问题"))).not_to_be_checked()
    phone.get_by_role("group", name="帮扶内容（选填）").get_by_label("辅导").check()
    phone.get_by_role("button", name="提交帮扶记录").click()
    expect(phone).to_have_url(pairing_url)
    expect(phone.locator(".flash").first).to_contain_text("帮扶已记录，乡镇工作人员将进行确认。")
    visits = phone.get_by_role("region", name="我的帮扶记录")
    expect(visits).to_contain_text("90")
    expect(visits).to_contain_text("这些帮扶记入的服务时长：0 小时")


def _staff_confirm_the_visit(page, base, code: str) -> None:
    page.goto(base + "/pairing/visits/")
    row = page.locator("#results tbody tr").filter(has_text=code)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("王建国")
    expect(row).to_contain_text("90")
    row.get_by_role("link").first.click()
    expect(page.get_by_role("main")).to_contain_text("数学作业按时完成")
    page.get_by_role("button", name="确认这次帮扶").click()
    expect(page.locator(".flash")).to_contain_text("已为志愿者记入 1.5 小时服务时长")
    expect(page.get_by_role("button", name="确认这次帮扶")).to_have_count(0)


def test_a_child_is_paired_visited_and_the_hours_are_credited(live_server, browser, phone):
    base = live_server.url
    number, mobile = _active_volunteer(live_server)
    staff_user = live_server.user(role="township_staff", name="西屏督导", township_code=XIPING)
    staff = _desktop(browser, live_server, staff_user.phone)

    code = _register_the_child(staff, base)
    _suggest_and_accept(staff, base, code, number)

    _log_in(phone, base, mobile)
    pairing_url = _volunteer_accepts(phone, base)

    _staff_record_the_consent(staff, base, code)
    _volunteer_logs_a_visit(phone, pairing_url)
    _staff_confirm_the_visit(staff, base, code)
    staff.context.close()

    phone.goto(base + "/volunteers/me")
    hours = phone.get_by_role("region", name="服务时长")
    expect(hours.locator("p strong").first).to_have_text("1.5")
    record = hours.locator("tbody tr").filter(has_text="帮扶走访")
    expect(record).to_have_count(1)
    expect(record.locator("td").last).to_have_text("1.5")
    phone.goto(pairing_url)
    expect(phone.get_by_role("region", name="我的帮扶记录")).to_contain_text(
        "这些帮扶记入的服务时长：1.5 小时"
    )


def test_the_county_dashboard_draws_the_chart_and_has_the_table(live_server, browser):
    from sqlmodel import Session

    from tests.pairing.conftest import make_child

    with Session(live_server.app.extensions["portal_db"].engine) as session:
        make_child(session)
        make_child(session, township="331124101")
    county = live_server.user(role="county_staff", name="县妇联")
    page = _desktop(browser, live_server, county.phone)
    page.goto(live_server.url + "/pairing/dashboard")
    expect(page.locator("h1")).to_have_text("结对工作看板")
    expect(page.locator(".chart canvas")).to_have_count(1)
    table = page.get_by_role("table", name="各乡镇（街道）情况")
    expect(table).to_be_visible()
    xiping = table.locator("tbody tr").filter(has_text="西屏街道")
    expect(xiping.locator("td").first).to_have_text("1")
    expect(table.locator("tfoot tr")).to_contain_text("全部乡镇（街道）")
    expect(table.locator("tfoot td").first).to_have_text("2")
    _no_accessibility_violations(page)
    page.context.close()
