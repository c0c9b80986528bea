"""A fund after it is created: its details changed, closed with a reason, opened again."""

from __future__ import annotations

import pytest

from portal.charity import ledger, requests
from portal.charity.ledger import LedgerError
from portal.charity.models import Fund, RequestStatus
from tests.charity.test_staff import audits, client_for, make_fund, proposed
from tests.charity.test_staff import people as people  # noqa: F401 - the fixture
from tests.conftest import page_text, post


def _fund_url(fund, tail: str = "") -> str:
    return f"/charity/staff/funds/{fund.id}{tail}"


# Changing the details -------------------------------------------------------------------------


def test_staff_change_the_purpose_earmark_and_donor_consent(app, session, people):
    fund = make_fund(app, session, people["staff"], donor="松阳某公司")
    staff = client_for(app, people["staff"])
    form = page_text(staff.get(_fund_url(fund, "/edit")))
    assert "修改基金信息" in form and fund.name in form
    response = post(
        staff,
        _fund_url(fund, "/edit"),
        {"purpose": "重病留守儿童救助", "earmark": "西屏街道", "donor_public": "y"},
    )
    assert response.status_code == 303
    session.refresh(fund)
    assert (fund.purpose, fund.earmark, fund.donor_public) == ("重病留守儿童救助", "西屏街道", True)
    assert fund.donor == "松阳某公司" and fund.kind == "special"  # as created
    assert audits(session, "fund.changed", fund.id) == 1
    assert "基金信息已保存" in page_text(staff.get(_fund_url(fund)))


def test_saving_the_same_details_writes_nothing(app, session, people):
    fund = make_fund(app, session, people["staff"])
    staff = client_for(app, people["staff"])
    response = post(staff, _fund_url(fund, "/edit"), {"purpose": fund.purpose, "earmark": ""})
    assert response.status_code == 303
    assert audits(session, "fund.changed", fund.id) == 0
    assert "没有修改任何内容" in page_text(staff.get(_fund_url(fund)))


def test_a_bad_purpose_is_a_field_error_and_keeps_the_input(app, session, people):
    fund = make_fund(app, session, people["staff"])
    staff = client_for(app, people["staff"])
    response = post(staff, _fund_url(fund, "/edit"), {"purpose": "", "earmark": "西屏街道"})
    assert response.status_code == 422
    text = page_text(response)
    assert "请说明基金用途" in text and 'value="西屏街道"' in response.get_data(as_text=True)
    too_long = post(staff, _fund_url(fund, "/edit"), {"purpose": "用" * 201})
    assert too_long.status_code == 422
    session.refresh(fund)
    assert fund.purpose == "留守儿童应急救助"


def test_only_fund_writers_change_close_or_reopen_a_fund(app, session, people):
    fund = make_fund(app, session, people["staff"])
    approver = client_for(app, people["a1"])
    assert "修改基金信息" not in page_text(approver.get(_fund_url(fund)))
    assert approver.get(_fund_url(fund, "/edit")).status_code == 403
    assert post(approver, _fund_url(fund, "/close"), {"reason": "协议到期"}).status_code == 403
    assert post(approver, _fund_url(fund, "/reopen")).status_code == 403
    session.refresh(fund)
    assert fund.active


# Closing and opening again ----------------------------------------------------------------------


def test_closing_needs_a_reason_and_stops_money_moving(app, session, people):
    fund = make_fund(app, session, people["staff"])
    staff = client_for(app, people["staff"])
    page = page_text(staff.get(_fund_url(fund, "/close")))
    assert "账目保留，并继续公开" in page
    refused = post(staff, _fund_url(fund, "/close"), {"reason": ""})
    assert refused.status_code == 422 and "请说明关闭基金的原因" in page_text(refused)
    assert (
        post(staff, _fund_url(fund, "/close"), {"reason": "与捐赠人的协议到期"}).status_code == 303
    )
    session.refresh(fund)
    assert not fund.active
    assert audits(session, "fund.closed", fund.id) == 1
    text = page_text(staff.get(_fund_url(fund)))
    assert "基金已关闭" in text and "登记捐赠" not in text and "重新开放基金" in text
    with app.test_request_context(), pytest.raises(LedgerError, match="This fund is closed"):
        ledger.record_donation(session, fund, actor=people["staff"], amount_fen=100)
    # Its ledger is still published.
    assert fund.name in page_text(app.test_client().get("/charity/disclosure"))


def test_a_closed_fund_cannot_be_proposed_for_a_request(app, session, people):
    fund = make_fund(app, session, people["staff"])
    other = make_fund(app, session, people["staff"])
    with app.test_request_context():
        from portal.charity.funds import close_fund

        close_fund(session, fund, reason="协议到期", actor=people["staff"])
    session.commit()
    with pytest.raises(requests.AidError, match="This fund is closed"):
        proposed(app, session, people, fund)
    session.rollback()
    assert proposed(app, session, people, other).status == RequestStatus.APPROVING


def test_a_fund_with_a_request_waiting_to_be_paid_is_not_closed(app, session, people):
    fund = make_fund(app, session, people["staff"])
    proposed(app, session, people, fund)
    staff = client_for(app, people["staff"])
    assert "还有1件已提议使用或已批准从本基金支出的救助等待拨付" in page_text(
        staff.get(_fund_url(fund, "/close"))
    )
    refused = post(staff, _fund_url(fund, "/close"), {"reason": "协议到期"})
    assert refused.status_code == 422
    assert "请先拨付，或改为从其他基金提议" in page_text(refused)
    session.refresh(fund)
    assert fund.active and audits(session, "fund.closed", fund.id) == 0


def test_a_closed_fund_opens_again(app, session, people):
    fund = make_fund(app, session, people["staff"])
    staff = client_for(app, people["staff"])
    post(staff, _fund_url(fund, "/close"), {"reason": "协议到期"})
    assert post(staff, _fund_url(fund, "/reopen")).status_code == 303
    session.refresh(fund)
    assert fund.active and audits(session, "fund.reopened", fund.id) == 1
    assert "基金已重新开放" in page_text(staff.get(_fund_url(fund)))
    # Opening an open fund again is refused in words, not done twice.
    post(staff, _fund_url(fund, "/reopen"))
    assert "本基金正在使用中" in page_text(staff.get(_fund_url(fund)))
    assert audits(session, "fund.reopened", fund.id) == 1


def test_closing_a_closed_fund_again_says_it_is_closed(app, session, people):
    fund = make_fund(app, session, people["staff"])
    staff = client_for(app, people["staff"])
    post(staff, _fund_url(fund, "/close"), {"reason": "协议到期"})
    page = page_text(staff.get(_fund_url(fund, "/close")))
    assert "该基金已关闭" in page and "关闭基金的原因" not in page
    again = post(staff, _fund_url(fund, "/close"), {"reason": "再关一次"})
    assert again.status_code == 422
    assert audits(session, "fund.closed", fund.id) == 1


def test_unknown_fund_is_404(app, session, people):
    staff = client_for(app, people["staff"])
    assert staff.get("/charity/staff/funds/999999/edit").status_code == 404
    assert staff.get("/charity/staff/funds/999999/close").status_code == 404
    assert post(staff, "/charity/staff/funds/999999/reopen").status_code == 404


def test_a_fund_s_fields_are_unchanged_by_an_edit(app, session, people):
    fund = make_fund(app, session, people["staff"], keep_principal=True)
    staff = client_for(app, people["staff"])
    post(staff, _fund_url(fund, "/edit"), {"purpose": "新的用途", "name": "改名", "kind": "named"})
    found = session.get(Fund, fund.id)
    session.refresh(found)
    assert found.name == fund.name and found.kind == "special" and found.keep_principal


def test_the_fund_pages_in_english(app, session, people):
    fund = make_fund(app, session, people["staff"])
    proposed(app, session, people, fund)
    staff = client_for(app, people["staff"])
    english = {"Accept-Language": "en"}
    page = page_text(staff.get(_fund_url(fund), headers=english))
    assert "Change the fund's details" in page and "Close the fund" in page
    close = page_text(staff.get(_fund_url(fund, "/close"), headers=english))
    assert "Its ledger is kept and still published" in close
    assert "wait to be paid (1)" in close
    refused = post(staff, _fund_url(fund, "/close"), {"reason": ""}, headers=english)
    assert refused.status_code == 422
    assert "Say why the fund is closed (2 to 200 characters)." in page_text(refused)
    edit = page_text(staff.get(_fund_url(fund, "/edit"), headers=english))
    assert "stay as the fund was created" in edit
