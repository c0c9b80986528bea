"""In real Chromium, in Chinese: a volunteer signs up on a phone and uploads the certificate;
township staff of 西屏街道 find and verify them; axe scans of the pages on the way."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal.volunteers.idnumber import make_resident_id
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

XIPING = "331124001"
GUSHI = "331124101"
ID_NUMBER = make_resident_id("331124", date(1985, 6, 15), 13)
CONSENT = "我已阅读并同意隐私告知书和志愿服务协议。"
PARTY_LEGEND = "党员到居住地社区报到（在职党员双报到）"


def _wrong_check_character(number: str) -> str:
    last = "0" if number[-1] != "0" else "1"
    return number[:-1] + last


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 250, 240)).save(out, format="PNG")
    return out.getvalue()


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


def _signed_up(live_server, n: int, *, name: str, township: str = XIPING, certificate=True):
    """A volunteer signed up through the rules (committed): their number and mobile."""
    from portal.extensions import db
    from portal.volunteers import services

    app = live_server.app
    with app.test_request_context(), db.transaction() as session:
        volunteer = services.sign_up(
            session,
            {
                "name": name,
                "id_type": "resident_id",
                "id_number": make_resident_id("331124", date(1980, 3, 1), 20 + 2 * n),
                "mobile": f"1370000{n:04d}",
                "township_code": township,
                "village": "城北社区",
                "political_status": "13",
                "category": "social",
                "skills": ["tutoring"],
                "availability": ["weekend"],
            },
            password=PASSWORD,
            consent=True,
        )
        if certificate:
            services.upload_certificate(session, volunteer, data=_png())
        return volunteer.number, f"1370000{n:04d}"


def _open_the_signup_page(page, base):
    page.goto(base + "/volunteers/")
    expect(page.locator("h1")).to_have_text("志愿服务")
    page.get_by_role("main").get_by_role("link", name="志愿者报名").click()
    expect(page).to_have_url(base + "/volunteers/signup")
    expect(page.locator("h1")).to_have_text("志愿者报名")


def _fill_every_field(page, id_number: str) -> None:
    """Every field a resident ID card holder fills (birth date and sex come from the number)."""
    page.get_by_label("姓名", exact=True).fill("李春梅")
    expect(page.get_by_label("身份证件", exact=True)).to_have_value("resident_id")
    page.locator("#id_number").fill(id_number)
    page.get_by_label("民族（选填）").fill("畲族")
    page.get_by_label("手机号码").fill("13957800001")
    page.get_by_label("居住地乡镇（街道）").select_option(XIPING)
    page.get_by_label("村（社区）", exact=True).fill("城东社区")
    page.get_by_label("政治面貌").select_option(label="群众")
    expect(page.get_by_text(PARTY_LEGEND)).to_have_count(0)  # htmx took the 双报到 fields away
    page.get_by_label("志愿者类别").select_option("teacher")
    page.get_by_label("工作单位或党组织（选填）").fill("松阳县西屏小学")
    page.get_by_label("辅导").check()
    page.get_by_label("其他特长（选填）").fill("书法")
    page.get_by_label("周末").check()
    page.get_by_label("意向服务乡镇（街道）（选填）").select_option(XIPING)
    page.get_by_label("设置密码").fill(PASSWORD)
    page.get_by_label(CONSENT).check()


def _choose_party_member_and_fill_the_report(page) -> None:
    """中共党员: the 双报到 fields appear (htmx) and go again when 群众 is chosen."""
    page.get_by_label("政治面貌").select_option(label="中共党员")
    expect(page.get_by_text(PARTY_LEGEND)).to_be_visible()
    expect(page.get_by_label("党组织", exact=True)).to_be_visible()
    page.get_by_label("政治面貌").select_option(label="群众")
    expect(page.get_by_text(PARTY_LEGEND)).to_have_count(0)
    expect(page.get_by_label("党组织", exact=True)).to_have_count(0)
    page.get_by_label("政治面貌").select_option(label="中共党员")
    expect(page.get_by_text(PARTY_LEGEND)).to_be_visible()
    page.get_by_label("党组织", exact=True).fill("西屏小学党支部")
    page.get_by_label("居住地报到的村（社区）").fill("城东社区")
    page.get_by_label("报到日期").fill("2024-03-01")
    page.get_by_label("认领的岗位或任务（选填）").fill("关爱帮扶岗")
    page.get_by_label("志愿者类别").select_option("party_member")


def _submit_and_land_on_the_volunteer_page(page, base) -> str:
    page.get_by_role("button", name="报名", exact=True).click()
    expect(page).to_have_url(base + "/volunteers/me")
    expect(page.locator(".flash")).to_contain_text("您的志愿者编号是 SY")
    number = re.search(r"SY\d{10}", page.locator(".flash").inner_text()).group(0)
    status = page.get_by_role("region", name="状态")
    expect(status).to_contain_text(number)
    expect(status).to_contain_text("已报名")
    expect(status).to_contain_text("尚未核验")
    next_step = page.get_by_role("region", name="下一步")
    expect(next_step).to_contain_text("到公安机关开具无犯罪记录证明并上传。")
    expect(next_step.get_by_role("link", name="立即办理")).to_have_attribute(
        "href", "/volunteers/me/certificate"
    )
    # The ID number is shown masked, never in full.
    expect(page.get_by_role("main")).not_to_contain_text(ID_NUMBER)
    return number


def test_a_volunteer_signs_up_on_a_phone_and_uploads_the_certificate(live_server, phone):
    page = phone
    base = live_server.url
    _open_the_signup_page(page, base)
    _no_accessibility_violations(page)
    _fill_every_field(page, ID_NUMBER)
    _choose_party_member_and_fill_the_report(page)
    _submit_and_land_on_the_volunteer_page(page, base)

    page.get_by_role("region", name="下一步").get_by_role("link", name="立即办理").click()
    expect(page).to_have_url(base + "/volunteers/me/certificate")
    expect(page.locator("h1")).to_have_text("上传无犯罪记录证明")
    page.get_by_label("无犯罪记录证明（PDF、JPEG 或 PNG 格式，不超过 8 MB）").set_input_files(
        {"name": "证明.png", "mimeType": "image/png", "buffer": _png()}
    )
    page.get_by_role("button", name="上传", exact=True).click()
    expect(page).to_have_url(base + "/volunteers/me")
    expect(page.locator(".flash")).to_contain_text("证明已上传，乡镇（街道）工作人员将进行审核。")
    expect(page.get_by_role("region", name="状态")).to_contain_text("待审核")
    expect(page.get_by_role("region", name="下一步")).to_contain_text(
        "您的证明正等待乡镇（街道）工作人员审核，目前无需操作。"
    )
    _no_accessibility_violations(page)


def test_a_wrong_id_number_is_shown_on_its_field_and_everything_else_is_kept(live_server, phone):
    page = phone
    base = live_server.url
    _open_the_signup_page(page, base)
    _fill_every_field(page, _wrong_check_character(ID_NUMBER))
    page.get_by_role("button", name="报名", exact=True).click()

    expect(page.locator("#id_number-error")).to_have_text(
        "该身份证号码无效：最后一位校验码不符，请逐位核对。"
    )
    expect(page.locator(".error-summary")).to_contain_text("您已填写的内容都会保留（密码除外）")
    expect(page.locator("#id_number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("姓名", exact=True)).to_have_value("李春梅")
    expect(page.get_by_label("民族（选填）")).to_have_value("畲族")
    expect(page.get_by_label("手机号码")).to_have_value("13957800001")
    expect(page.get_by_label("居住地乡镇（街道）")).to_have_value(XIPING)
    expect(page.get_by_label("村（社区）", exact=True)).to_have_value("城东社区")
    expect(page.get_by_label("政治面貌")).to_have_value("13")
    expect(page.get_by_text(PARTY_LEGEND)).to_have_count(0)
    expect(page.get_by_label("志愿者类别")).to_have_value("teacher")
    expect(page.get_by_label("工作单位或党组织（选填）")).to_have_value("松阳县西屏小学")
    expect(page.get_by_label("辅导")).to_be_checked()
    expect(page.get_by_label("其他特长（选填）")).to_have_value("书法")
    expect(page.get_by_label("周末")).to_be_checked()
    expect(page.get_by_label("意向服务乡镇（街道）（选填）")).to_have_value(XIPING)
    expect(page.get_by_label(CONSENT)).to_be_checked()
    expect(page.get_by_label("设置密码")).to_have_value("")  # never sent back
    _no_accessibility_violations(page)

    page.locator("#id_number").fill(ID_NUMBER)
    _choose_party_member_and_fill_the_report(page)
    page.get_by_label("设置密码").fill(PASSWORD)
    _submit_and_land_on_the_volunteer_page(page, base)


def _staff_page(browser, live_server):
    """A township staff member of 西屏街道, logged in on a desktop browser."""
    staff = live_server.user(role="township_staff", name="西屏干部", township_code=XIPING)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    _log_in(page, live_server.url, staff.phone)
    return page


def test_township_staff_filter_their_volunteers_and_the_results_update_in_place(
    live_server, browser
):
    number, _mobile = _signed_up(live_server, 1, name="王建国")
    _signed_up(live_server, 2, name="赵丽", certificate=False)
    elsewhere, _ = _signed_up(live_server, 3, name="王古市", township=GUSHI)
    page = _staff_page(browser, live_server)
    page.goto(live_server.url + "/volunteers/staff/")
    results = page.locator("#results")
    expect(results).to_contain_text(number)
    expect(results).to_contain_text("赵丽")
    expect(results).not_to_contain_text(elsewhere)  # another township's volunteer: never listed

    # The filter answers through htmx: the results change, the page is not reloaded.
    page.evaluate("window.__filterMarker = 1")
    page.get_by_label("核查", exact=True).select_option("pending")
    expect(results).not_to_contain_text("赵丽")
    expect(results).to_contain_text(number)
    search = page.get_by_label("姓名、编号、手机号码或村（社区）")
    search.fill("王建国")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"q=%E7%8E%8B%E5%BB%BA%E5%9B%BD"))
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("证明待审核")
    assert page.evaluate("window.__filterMarker") == 1
    results.get_by_role("link", name=number).click()
    expect(page.locator("h1")).to_contain_text("王建国")
    page.context.close()


def test_township_staff_verify_a_volunteer_who_then_sees_until_when_it_is_valid(
    live_server, browser, phone
):
    from portal.timeutil import china_today

    number, mobile = _signed_up(live_server, 1, name="王建国")
    _signed_up(live_server, 2, name="赵丽", certificate=False)
    page = _staff_page(browser, live_server)
    # The list as a filtered page (a link or a page without JavaScript): one volunteer waits.
    page.goto(live_server.url + "/volunteers/staff/?check=pending&q=%E7%8E%8B%E5%BB%BA%E5%9B%BD")
    results = page.locator("#results")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results).to_contain_text("证明待审核")
    results.get_by_role("link", name=number).click()
    expect(page.locator("h1")).to_contain_text("王建国")
    expect(page.get_by_role("heading", name="核验无犯罪记录证明")).to_be_visible()
    _no_accessibility_violations(page)

    checked = china_today() - timedelta(days=10)
    until = checked + timedelta(days=365)
    until_text = f"有效期至 {until.year}年{until.month}月{until.day}日"
    page.get_by_label("核查日期（以证明所载为准）").fill(checked.isoformat())
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator(".flash")).to_be_visible()
    main = page.get_by_role("main")
    expect(main).to_contain_text(until_text)
    expect(main).to_contain_text("已核验，待培训")
    expect(page.get_by_role("heading", name="核验无犯罪记录证明")).to_have_count(0)
    page.context.close()

    # The volunteer, on their phone, sees the check and until when it is valid.
    _log_in(phone, live_server.url, mobile)
    phone.goto(live_server.url + "/volunteers/me")
    status = phone.get_by_role("region", name="状态")
    expect(status).to_contain_text(until_text)
    expect(status).to_contain_text("已核验，待培训")
    expect(phone.get_by_role("region", name="下一步")).to_contain_text("培训")
