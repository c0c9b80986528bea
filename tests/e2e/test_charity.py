"""In real Chromium, in Chinese: a guardian applies for emergency aid on a phone without an
account (a wrong amount first, then a photo of the application form); the township of the child
checks the request, the charity federation proposes an amount from a fund, an approver
approves it and another member of staff pays it during the notice (an emergency); the guardian
follows it to 已拨付, and the disclosure page shows the fund's spending and the notice with the
family name only. axe scans of the apply and track pages on the way, and of the disclosure page
(an expected failure until its scrolling tables can be reached with the keyboard)."""

from __future__ import annotations

import io
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlmodel import Session, select

from portal.auth.models import Role
from portal.charity.models import AidRequest, EntryKind, LedgerEntry, RequestStatus
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

XIPING = "331124001"
GUSHI = "331124101"
FUND = "留守儿童应急救助专项基金"
CHILD = "张小明"
APPLICANT = "李秀英"
MOBILE = "13957800031"
ACCOUNT = "6217000012345678"
NUMBER_RE = re.compile(r"^YJ\d{10}$")


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
    # Leave the page first: a request still in flight could set the cookie again.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(base + "/auth/login")
    page.get_by_label("手机号码或电子邮箱").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash")).to_contain_text("欢迎您")


def _confirm_password_if_asked(page) -> bool:
    """Approving and paying ask for the password again when it was given 15+ minutes ago:
    answer that page and send the form again from the request. True when it was asked."""
    heading = page.locator("h1")
    expect(heading).not_to_have_text("")
    if heading.inner_text().strip() != "确认身份":
        return False
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="继续").click()
    return True


def _fund_with_a_donation(live_server, staff) -> int:
    """A special fund with ¥50,000 donated (committed, through the ledger); its id."""
    from portal.charity import ledger
    from portal.charity.models import Fund, FundKind
    from portal.extensions import db

    with live_server.app.test_request_context(), db.transaction() as s:
        fund = Fund(
            name=FUND,
            kind=FundKind.SPECIAL,
            purpose="留守儿童遇到急难情况或突发意外时的应急救助",
            created_by=staff.id,
        )
        s.add(fund)
        s.flush()
        ledger.record_donation(
            s, fund, actor=staff, amount_fen=5_000_000, reference="JZ0001", note="爱心企业捐赠"
        )
        return fund.id


def _fill_application(page, *, amount: str) -> None:
    main = page.get_by_role("main")
    main.get_by_label("您的姓名").fill(APPLICANT)
    main.get_by_label("您的手机号码").fill(MOBILE)
    main.get_by_label("监护人", exact=True).check()
    main.get_by_label("儿童姓名").fill(CHILD)
    main.get_by_label("男", exact=True).check()
    main.get_by_label("儿童年龄").fill("9")
    main.get_by_label("儿童所在乡镇（街道）").select_option(XIPING)
    main.get_by_label("村（社区）", exact=True).fill("城北社区")
    main.get_by_label("意外伤害", exact=True).check()
    main.get_by_label("情况紧急：儿童急需救助（材料可以后补）").check()
    main.get_by_label("申请金额（元）").fill(amount)
    main.get_by_label("困难情况及救助金用途").fill(
        "孩子放学路上被电动车撞伤，腿部骨折住院，需要手术费用，父母在外务工一时凑不齐。"
    )
    main.get_by_label("户名", exact=True).fill(APPLICANT)
    main.get_by_label("开户银行及网点").fill("松阳县农商银行西屏支行")
    main.get_by_label("银行账号或卡号").fill(ACCOUNT)
    main.get_by_label(re.compile("本人同意慈善总会")).check()


def test_an_emergency_is_applied_for_checked_approved_paid_and_disclosed(live_server, phone):
    page = phone
    base = live_server.url
    township = live_server.user(
        role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏督导员", phone="13957800041"
    )
    other_township = live_server.user(
        role=Role.TOWNSHIP_STAFF, township_code=GUSHI, name="古市督导员", phone="13957800042"
    )
    reviewer = live_server.user(role=Role.CHARITY_STAFF, name="慈善经办", phone="13957800043")
    approver = live_server.user(role=Role.CHARITY_APPROVER, name="慈善审批", phone="13957800044")
    payer = live_server.user(role=Role.CHARITY_STAFF, name="慈善出纳", phone="13957800045")
    fund_id = _fund_with_a_donation(live_server, reviewer)

    # The guardian, on a phone, without an account.
    page.goto(base + "/charity/")
    page.get_by_role("main").get_by_role("link", name="申请应急救助").first.click()
    expect(page).to_have_url(base + "/charity/apply")
    expect(page.locator("h1")).to_have_text("申请应急救助")
    _no_accessibility_violations(page)

    _fill_application(page, amount="1.234")  # three decimals: not an amount in yuan
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("#amount-error")).to_have_text(
        "请以元为单位填写金额，最多两位小数，例如 3000 或 3000.50。"
    )
    expect(page.locator(".error-summary")).to_contain_text("您填写的内容已保留")
    main = page.get_by_role("main")
    expect(main.get_by_label("申请金额（元）")).to_have_value("1.234")
    expect(main.get_by_label("儿童姓名")).to_have_value(CHILD)
    expect(main.get_by_label("您的手机号码")).to_have_value(MOBILE)
    expect(main.get_by_label("儿童所在乡镇（街道）")).to_have_value(XIPING)
    expect(main.get_by_label("意外伤害", exact=True)).to_be_checked()
    expect(main.get_by_label("银行账号或卡号")).to_have_value(ACCOUNT)
    _no_accessibility_violations(page)

    main.get_by_label("申请金额（元）").fill("3000")
    expect(main.get_by_label("材料1：类别")).to_have_value("application")
    main.get_by_label("材料1：文件").set_input_files(
        {"name": "申请表.png", "mimeType": "image/png", "buffer": _png()}
    )
    page.get_by_role("button", name="提交申请").click()
    expect(page).to_have_url(base + "/charity/apply/done")
    expect(page.locator("h1")).to_have_text("申请已受理")
    number = page.locator(".booking-code .code").inner_text().strip()
    assert NUMBER_RE.match(number), number
    _no_accessibility_violations(page)

    with Session(live_server.app.extensions["portal_db"].engine) as s:
        aid = s.exec(select(AidRequest).where(AidRequest.number == number)).one()
        assert aid.status == RequestStatus.SUBMITTED and aid.emergency
        assert aid.requested_fen == 300_000 and aid.account_masked.endswith("5678")
        request_id = aid.id
    detail = f"{base}/charity/staff/requests/{request_id}"

    # Another township's staff cannot see it; the child's township checks it.
    _log_in(page, base, other_township.phone)
    response = page.goto(detail)
    assert response.status == 404
    _log_in(page, base, township.phone)
    page.goto(detail)
    expect(page.locator("h1")).to_contain_text(number)
    page.get_by_label("核实情况说明（选填）").fill("已与村儿童主任核实，情况属实。")
    page.get_by_role("button", name="已核实，转慈善总会").click()
    expect(page.locator(".flash")).to_contain_text("已核实，申请转慈善总会审核。")

    # The charity federation proposes ¥3,000 from the fund (one approver is enough).
    _log_in(page, base, reviewer.phone)
    page.goto(detail)
    page.get_by_label("基金").select_option(str(fund_id))
    expect(page.get_by_label("金额（元）")).to_have_value("3000")
    page.get_by_role("button", name="提交审批").click()
    expect(page.locator(".flash")).to_contain_text("已提交审批，等待审批人批准。")

    # An approver approves (the password may be asked again first).
    _log_in(page, base, approver.phone)
    page.goto(detail)
    page.get_by_role("button", name="批准", exact=True).click()
    if _confirm_password_if_asked(page):
        expect(page).to_have_url(detail)
        page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("已批准。公示至")

    # Another member of staff pays it with the bank's reference: an emergency, during the notice.
    _log_in(page, base, payer.phone)
    page.goto(detail)
    page.get_by_label("银行付款流水号").fill("NS20260001")
    page.get_by_role("button", name="已付款，登记拨付").click()
    if _confirm_password_if_asked(page):
        expect(page).to_have_url(detail)
        page.get_by_label("银行付款流水号").fill("NS20260001")
        page.get_by_role("button", name="已付款，登记拨付").click()
    expect(page.locator(".flash")).to_contain_text("拨付已登记。")
    expect(page.get_by_role("main")).to_contain_text("NS20260001")

    with Session(live_server.app.extensions["portal_db"].engine) as s:
        aid = s.get(AidRequest, request_id)
        assert aid.status == RequestStatus.PAID and aid.paid_by == payer.id
        assert aid.notice_until is not None
        grants = s.exec(
            select(LedgerEntry).where(
                LedgerEntry.request_id == request_id, LedgerEntry.kind == EntryKind.GRANT
            )
        ).all()
        assert [g.amount_fen for g in grants] == [-300_000]

    # The guardian, on another day: the number and the mobile find the request.
    # Leave the page first: a request still in flight could set the cookie again.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto(base + "/charity/track")
    expect(page.locator("h1")).to_have_text("查询我的申请")
    _no_accessibility_violations(page)
    page.get_by_label("查询编号").fill(number.lower())
    page.get_by_label("手机号码").fill("13957800032")  # not the mobile it was made with
    page.get_by_role("button", name="查询", exact=True).click()
    expect(page.locator(".error-summary")).to_be_visible()
    page.wait_for_load_state("networkidle")  # htmx has settled the answer before we type again
    page.get_by_label("手机号码").fill(MOBILE)
    page.get_by_role("button", name="查询", exact=True).click()
    expect(page).to_have_url(base + "/charity/track/request")
    main = page.get_by_role("main")
    expect(main).to_contain_text(number)
    expect(main).to_contain_text("已拨付")
    expect(main).to_contain_text("救助金已拨付到您提供的账户。")
    _no_accessibility_violations(page)

    # The public disclosure: the fund's spending and the notice, with no identity.
    page.goto(base + "/charity/disclosure")
    expect(page.locator("h1")).to_have_text("应急救助信息公开")
    main = page.get_by_role("main")
    fund = main.locator("section.fund").filter(has_text=FUND)
    expect(fund.locator("tfoot")).to_contain_text("50,000.00")  # money in over 12 months
    expect(fund.locator("tfoot")).to_contain_text("3,000.00")  # aid paid
    expect(fund.locator("tfoot")).to_contain_text("47,000.00")  # balance
    notice = main.locator("#notices ~ .table-wrap table").first
    row = notice.locator("tbody tr").filter(has_text="张**")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("西屏街道")
    expect(row).to_contain_text("3,000.00")
    expect(row).to_contain_text(FUND)
    text = main.inner_text()
    for identity in (CHILD, APPLICANT, MOBILE, MOBILE[-4:], ACCOUNT, "城北社区"):
        assert identity not in text, identity
    # The page's accessibility is scanned in the test below.


def _paid_emergency(live_server) -> None:
    """A fund with a donation and an emergency paid from it through the rules (committed)."""
    from portal.charity import requests
    from portal.charity.models import Fund
    from portal.extensions import db

    township = live_server.user(role=Role.TOWNSHIP_STAFF, township_code=XIPING)
    reviewer = live_server.user(role=Role.CHARITY_STAFF)
    approver = live_server.user(role=Role.CHARITY_APPROVER)
    payer = live_server.user(role=Role.CHARITY_STAFF)
    fund_id = _fund_with_a_donation(live_server, reviewer)
    data = {
        "applicant_name": APPLICANT,
        "applicant_mobile": MOBILE,
        "applicant_relation": "guardian",
        "child_name": CHILD,
        "child_sex": "M",
        "child_age": "9",
        "township_code": XIPING,
        "village": "城北社区",
        "kind": "accident",
        "emergency": True,
        "amount": "3000",
        "story": "孩子放学路上被电动车撞伤，腿部骨折住院。",
        "account_holder": APPLICANT,
        "account_bank": "松阳县农商银行西屏支行",
        "account_number": ACCOUNT,
        "consent": True,
    }
    with live_server.app.test_request_context(), db.transaction() as s:
        aid, _ = requests.submit(s, data, documents=[], idempotency_key="e2e-disclosure-0001")
        requests.township_check(s, aid, actor=township)
        fund = s.get(Fund, fund_id)
        requests.propose(s, aid, actor=reviewer, fund=fund, amount_fen=300_000)
        requests.approve(s, aid, actor=approver)
        requests.pay(s, aid, actor=payer, reference="NS20260001")


def test_the_disclosure_page_has_no_accessibility_violations_on_a_phone(live_server, phone):
    _paid_emergency(live_server)
    phone.goto(live_server.url + "/charity/disclosure")
    expect(phone.locator("#notices ~ .table-wrap tbody tr")).to_contain_text("张**")
    _no_accessibility_violations(phone)
