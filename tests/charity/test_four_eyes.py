"""Four eyes on aid money: who may approve and pay, and how many approvers an amount needs.

Nobody approves a request they entered, checked or proposed; each approver approves once; above
¥5,000 (`PORTAL_AID_TWO_APPROVERS_ABOVE_FEN`) two different approvers are needed; the payer is
never one of the approvers; an approval cannot exceed what the fund has available.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.charity import ledger, requests
from portal.charity.models import Approval, LedgerEntry, RequestStatus
from tests.charity.test_staff import client_for, make_fund, make_request, proposed
from tests.charity.test_staff import people as people  # noqa: F401 - the fixture
from tests.conftest import make_user, page_text, post

BELOW, AT, ABOVE = 499_999, 500_000, 500_001


def _approvals(session, aid) -> list[Approval]:
    return list(session.exec(select(Approval).where(Approval.request_id == aid.id)))


@pytest.mark.parametrize(
    ("amount_fen", "needed"), [(BELOW, 1), (AT, 1), (ABOVE, 2)], ids=["below", "at", "above"]
)
@pytest.mark.parametrize(
    "conflict", [None, "entered_by", "checked_by", "reviewed_by"], ids=lambda c: c or "none"
)
def test_approvers_by_amount_and_by_what_they_did(
    app, session, people, amount_fen, needed, conflict
):
    fund = make_fund(app, session, people["staff"], amount_fen=1_000_000)
    aid = proposed(app, session, people, fund, amount_fen=amount_fen)
    first, second = people["a1"], people["a2"]
    third = make_user(session, role=Role.CHARITY_APPROVER)
    if conflict:
        # The approver entered, checked or proposed it (their role has changed since).
        setattr(aid, conflict, first.id)
        session.add(aid)
        session.commit()
    with app.test_request_context():
        assert requests.approvers_needed(aid) == needed
        if conflict:
            assert requests.approval_refusal(session, aid, first) is not None
            with pytest.raises(requests.AidError):
                requests.approve(session, aid, actor=first)
            assert _approvals(session, aid) == []
        assert requests.approve(session, aid, actor=second) is (needed == 1)
        with pytest.raises(requests.AidError):  # once per approver
            requests.approve(session, aid, actor=second)
        if needed == 2:
            assert aid.status == RequestStatus.APPROVING
            other = third if conflict else first
            assert requests.approve(session, aid, actor=other) is True
        assert aid.status == RequestStatus.APPROVED
        assert len(_approvals(session, aid)) == needed
        assert len({a.approver_id for a in _approvals(session, aid)}) == needed
        # An approver moved to the staff later still cannot pay what they approved.
        second.role = Role.CHARITY_STAFF
        session.add(second)
        session.flush()
        assert requests.pay_refusal(session, aid, second) is not None
        with pytest.raises(requests.AidError):
            requests.pay(session, aid, actor=second, reference="NS00000001")
        # The proposer is not an approver: they may pay (an emergency, so at once).
        requests.pay(session, aid, actor=people["staff"], reference="NS00000002")
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.request_id == aid.id)).all()
    assert [e.amount_fen for e in entries] == [-amount_fen]


@pytest.mark.parametrize(
    "role",
    [Role.CHARITY_STAFF, Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN, Role.VOLUNTEER],
)
def test_only_approvers_approve(app, session, people, role):
    fund = make_fund(app, session, people["staff"])
    aid = proposed(app, session, people, fund)
    user = make_user(session, role=role)
    with app.test_request_context():
        assert requests.approval_refusal(session, aid, user) is not None
        with pytest.raises(requests.AidError):
            requests.approve(session, aid, actor=user)
    response = post(client_for(app, user), f"/charity/staff/requests/{aid.id}/approve")
    assert response.status_code == 403
    session.refresh(aid)
    assert aid.status == RequestStatus.APPROVING and _approvals(session, aid) == []


@pytest.mark.parametrize(
    "role",
    [Role.CHARITY_APPROVER, Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN, Role.VOLUNTEER],
)
def test_only_charity_staff_pay(app, session, people, role):
    fund = make_fund(app, session, people["staff"])
    aid = proposed(app, session, people, fund)
    with app.test_request_context():
        requests.approve(session, aid, actor=people["a1"])
    session.commit()
    user = make_user(session, role=role)
    with app.test_request_context():
        assert requests.pay_refusal(session, aid, user) is not None
    response = post(
        client_for(app, user), f"/charity/staff/requests/{aid.id}/pay", {"reference": "NS0001"}
    )
    assert response.status_code == 403
    assert session.exec(select(LedgerEntry).where(LedgerEntry.request_id == aid.id)).all() == []


def test_the_approver_page_says_why_not(app, session, people):
    fund = make_fund(app, session, people["staff"])
    aid = proposed(app, session, people, fund, amount_fen=ABOVE)
    client = client_for(app, people["a1"])
    url = f"/charity/staff/requests/{aid.id}"
    assert f"{url}/approve" in client.get(url).get_data(as_text=True)
    first = post(client, f"{url}/approve")
    assert first.status_code == 303
    page = client.get(url)
    html, text = page.get_data(as_text=True), page_text(page)
    assert f"{url}/approve" not in html and "另一位审批人" in text
    again = post(client, f"{url}/approve")  # the button is gone; a crafted POST is refused
    assert again.status_code == 422 and len(_approvals(session, aid)) == 1
    assert post(client_for(app, people["a2"]), f"{url}/approve").status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.APPROVED
    payer_page = page_text(client_for(app, people["payer"]).get(url))
    assert "登记拨付" in payer_page
    approver_as_staff = people["a2"]
    approver_as_staff.role = Role.CHARITY_STAFF
    session.add(approver_as_staff)
    session.commit()
    own = client_for(app, approver_as_staff)
    assert "须由其他工作人员拨付" in page_text(own.get(url))
    refused = post(own, f"{url}/pay", {"reference": "NS00000009"})
    assert refused.status_code == 422


def test_approval_above_the_available_balance_is_refused(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=1_000_000)  # ¥10,000
    one = proposed(app, session, people, fund, amount_fen=400_000, child_name="王小一")
    two = proposed(app, session, people, fund, amount_fen=400_000, child_name="王小二")
    three = proposed(app, session, people, fund, amount_fen=400_000, child_name="王小三")
    with app.test_request_context():
        assert requests.approve(session, one, actor=people["a1"]) is True
        assert requests.approve(session, two, actor=people["a1"]) is True
        assert ledger.balance(session, fund.id).available == 200_000
    session.commit()
    response = post(client_for(app, people["a2"]), f"/charity/staff/requests/{three.id}/approve")
    assert response.status_code == 422 and "2,000.00" in page_text(response)
    session.refresh(three)
    assert three.status == RequestStatus.APPROVING and _approvals(session, three) == []


def test_a_new_proposal_needs_new_approvals(app, session, people):
    fund = make_fund(app, session, people["staff"])
    aid = proposed(app, session, people, fund, amount_fen=ABOVE)
    with app.test_request_context():
        requests.approve(session, aid, actor=people["a1"])
        requests.propose(session, aid, actor=people["staff"], fund=fund, amount_fen=700_000)
        assert _approvals(session, aid) == []
        assert requests.approve(session, aid, actor=people["a1"]) is False
        assert requests.approve(session, aid, actor=people["a2"]) is True


def test_entered_by_an_approver_on_the_phone(app, session, people):
    """An approver who typed a request in for a caller does not approve it."""
    fund = make_fund(app, session, people["staff"])
    aid = make_request(app, session)
    aid.entered_by = people["a1"].id
    session.add(aid)
    session.commit()
    with app.test_request_context():
        requests.township_check(session, aid, actor=people["township"])
        requests.propose(session, aid, actor=people["staff"], fund=fund, amount_fen=100_000)
        assert "录入" in _zh(requests.approval_refusal(session, aid, people["a1"]))
        assert requests.approve(session, aid, actor=people["a2"]) is True


def _zh(message: str) -> str:
    from flask_babel import force_locale, gettext

    with force_locale("zh_CN"):
        return gettext(message)
