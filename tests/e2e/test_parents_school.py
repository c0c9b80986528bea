"""In real Chromium, in Chinese: a guardian books two seats at a lecture on a phone without an
account, finds the booking again with its code and cancels it; an organiser checks a guardian
in by the booking code; axe scans of the pages on the way."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlmodel import Session

from portal.auth.models import Role
from portal.parents_school.models import Booking, Lecture
from portal.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

XIPING = "331124001"
CODE_RE = re.compile(r"^[ACEFHJKMNPRTWXY3479]{8}$")


def _no_accessibility_violations(page) -> None:
    """axe finds nothing on the page as it stands (every impact, not only serious ones)."""
    results = Axe().run(page)
    found = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
    ]
    assert found == [], found


def _lecture(live_server, *, starts_in: timedelta, title: str, capacity: int = 30) -> int:
    """A scheduled lecture of the Women's Federation in 西屏街道 (committed); its id."""
    organiser = live_server.user(
        role=Role.LECTURE_ORGANISER, office="womens_federation", name="妇联组织者"
    )
    starts = utcnow().replace(second=0, microsecond=0) + starts_in
    with Session(live_server.app.extensions["portal_db"].engine) as s:
        lecture = Lecture(
            title=title,
            topic="communication",
            speaker="王老师",
            speaker_bio="县妇联家庭教育讲师",
            township_code=XIPING,
            venue="城北社区文化礼堂",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=90),
            capacity=capacity,
            office="womens_federation",
            created_by=organiser.id,
        )
        s.add(lecture)
        s.commit()
        return lecture.id


def _booking(live_server, lecture_id: int) -> Booking:
    from portal.extensions import db
    from portal.parents_school import booking

    with live_server.app.test_request_context(), db.transaction() as s:
        made = booking.book(
            s,
            lecture_id,
            {
                "name": "李奶奶",
                "mobile": "13957800021",
                "relation": "grandparent",
                "township_code": XIPING,
                "village": "城北社区",
                "seats": 2,
            },
        ).booking
        s.expunge(made)
    return made


def test_a_guardian_books_two_seats_on_a_phone_and_cancels(live_server, phone):
    page = phone
    base = live_server.url
    lecture_id = _lecture(live_server, starts_in=timedelta(days=5), title="亲子沟通讲座")

    page.goto(base + "/lectures/")
    expect(page.locator("h1")).to_contain_text("讲座安排")
    _no_accessibility_violations(page)
    page.get_by_role("main").get_by_role("link", name="亲子沟通讲座").first.click()
    expect(page).to_have_url(f"{base}/lectures/{lecture_id}")
    expect(page.locator("h1")).to_have_text("亲子沟通讲座")
    expect(page.get_by_role("main")).to_contain_text("王老师")
    _no_accessibility_violations(page)

    page.get_by_role("main").get_by_role("link", name="预约座位").first.click()
    expect(page).to_have_url(f"{base}/lectures/{lecture_id}/book")
    expect(page.locator("h1")).to_have_text("预约座位")
    expect(page.get_by_role("main")).to_contain_text("无需注册账号")
    _no_accessibility_violations(page)
    page.get_by_label("监护人姓名").fill("张奶奶")
    page.get_by_label("手机号码").fill("1395780001")  # one digit short
    page.get_by_label("祖父母", exact=True).check()
    expect(page.get_by_label("居住地乡镇（街道）")).to_have_value(XIPING)
    page.get_by_label("村（社区）").fill("城北社区")
    page.get_by_label("座位数").select_option("2")
    page.get_by_role("button", name="预约", exact=True).click()

    expect(page.locator("#mobile-error")).to_have_text("手机号码为 11 位数字，以 13–19 开头。")
    expect(page.locator(".error-summary")).to_contain_text("您填写的内容都已保留")
    expect(page.get_by_label("监护人姓名")).to_have_value("张奶奶")
    expect(page.get_by_label("手机号码")).to_have_value("1395780001")
    expect(page.get_by_label("祖父母", exact=True)).to_be_checked()
    expect(page.get_by_label("村（社区）")).to_have_value("城北社区")
    expect(page.get_by_label("座位数")).to_have_value("2")
    _no_accessibility_violations(page)

    page.get_by_label("手机号码").fill("13957800011")
    page.get_by_role("button", name="预约", exact=True).click()
    expect(page).to_have_url(base + "/lectures/booking")
    expect(page.locator("h1")).to_have_text("预约成功：已为您留好座位")
    expect(page.get_by_role("main")).to_contain_text("您的 2 个座位已确认。")
    code = page.locator(".booking-code .code").inner_text().strip()
    assert CODE_RE.match(code), code
    qr = page.get_by_role("img", name=f"预约码 {code} 的二维码")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    _no_accessibility_violations(page)

    # Later, on another phone: the code and the mobile number find the booking.
    # Leave the page first: a request still in flight could set the cookie again.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(base + "/lectures/my-booking")
    expect(page.locator("h1")).to_have_text("查询或取消我的预约")
    _no_accessibility_violations(page)
    page.get_by_label("预约码").fill(code.lower())
    page.get_by_label("手机号码").fill("13957800012")  # not the number it was made with
    page.get_by_role("button", name="查看我的预约").click()
    expect(page.locator(".error-summary")).to_be_visible()
    page.wait_for_load_state("networkidle")  # htmx has settled the answer before we type again
    page.get_by_label("手机号码").fill("13957800011")
    page.get_by_role("button", name="查看我的预约").click()
    expect(page).to_have_url(base + "/lectures/booking")
    expect(page.locator("h1")).to_have_text("我的预约")
    expect(page.locator(".booking-code .code")).to_have_text(code)

    page.get_by_role("link", name="取消这个预约").click()
    expect(page.locator("h1")).to_have_text("确定取消这个预约吗？")
    page.get_by_role("button", name="是的，取消预约").click()
    expect(page).to_have_url(base + "/lectures/booking")
    expect(page.locator(".flash")).to_contain_text("您的预约已取消。")
    expect(page.get_by_role("main")).to_contain_text("这个预约已取消。")
    expect(page.get_by_role("link", name="取消这个预约")).to_have_count(0)

    with Session(live_server.app.extensions["portal_db"].engine) as s:
        assert s.get(Lecture, lecture_id).seats_taken == 0


def test_an_organiser_checks_a_guardian_in_by_the_booking_code(live_server, phone):
    page = phone
    base = live_server.url
    lecture_id = _lecture(live_server, starts_in=timedelta(hours=1), title="隔代教育讲座")
    booked = _booking(live_server, lecture_id)
    organiser = live_server.user(
        role=Role.LECTURE_ORGANISER, office="womens_federation", name="签到员", phone="13957800099"
    )

    page.goto(base + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(organiser.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")

    page.goto(f"{base}/parents-school/manage/{lecture_id}/checkin")
    expect(page.locator("h1")).to_contain_text("签到")
    page.get_by_label("预约码、手机号或姓名").fill(booked.code)
    page.get_by_role("button", name="查找", exact=True).click()
    card = page.locator("#panel .card").filter(has_text=booked.code)
    expect(card).to_contain_text("李奶奶")
    expect(card).to_contain_text("139****0021")
    expect(card.get_by_label("到场人数（0至2）")).to_have_value("2")
    card.get_by_role("button", name="签到").click()
    # htmx swaps the panel in place: the count of people here goes up by the two seats.
    expect(page.locator("#panel .counts")).to_contain_text("2 人到场")
    _no_accessibility_violations(page)

    with Session(live_server.app.extensions["portal_db"].engine) as s:
        assert s.get(Booking, booked.id).attended == 2
