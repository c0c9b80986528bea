"""The aid workflow end to end at the service level: submission to payment, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.charity import ledger, requests
from portal.charity.models import (
    Fund,
    FundKind,
    LedgerEntry,
    LedgerIsAppendOnly,
    RequestStatus,
)
from portal.timeutil import utcnow
from tests.conftest import make_user

XIPING = "331124001"


def application(**overrides) -> dict:
    data = {
        "applicant_name": "王奶奶",
        "applicant_mobile": "13600000001",
        "applicant_relation": "guardian",
        "child_name": "王小宝",
        "child_sex": "M",
        "child_age": "8",
        "township_code": XIPING,
        "village": "城北社区",
        "kind": "accident",
        "emergency": "y",
        "amount": "6,000",
        "story": "孩子放学路上被电动车撞伤，腿部骨折住院。",
        "account_holder": "王奶奶",
        "account_bank": "松阳县农商银行",
        "account_number": "6217000012345678",
        "consent": "y",
    }
    data.update(overrides)
    return data


@pytest.fixture()
def people(session):
    return {
        "township": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING),
        "staff": make_user(session, role=Role.CHARITY_STAFF),
        "payer": make_user(session, role=Role.CHARITY_STAFF),
        "a1": make_user(session, role=Role.CHARITY_APPROVER),
        "a2": make_user(session, role=Role.CHARITY_APPROVER),
    }


def test_from_submission_to_one_payment(app, session, people):
    with app.test_request_context():
        fund = Fund(
            name="留守儿童应急救助专项基金",
            kind=FundKind.SPECIAL,
            purpose="留守儿童应急救助",
            created_by=people["staff"].id,
        )
        session.add(fund)
        session.flush()
        ledger.record_donation(
            session, fund, actor=people["staff"], amount_fen=ledger.parse_yuan("50000")
        )
        request, created = requests.submit(
            session, application(), documents=[], idempotency_key="k" * 20
        )
        again, created_again = requests.submit(
            session, application(), documents=[], idempotency_key="k" * 20
        )
        assert created and not created_again and again.id == request.id
        assert request.number.startswith("YJ") and request.account_masked.endswith("5678")
        assert "6217000012345678" not in request.account_cipher
        requests.township_check(session, request, actor=people["township"])
        requests.propose(session, request, actor=people["staff"], fund=fund, amount_fen=600_000)
        assert requests.approve(session, request, actor=people["a1"]) is False  # above ¥5,000
        with pytest.raises(requests.AidError):
            requests.approve(session, request, actor=people["a1"])
        assert requests.approve(session, request, actor=people["a2"]) is True
        assert request.status == RequestStatus.APPROVED
        assert ledger.balance(session, fund.id).available == 5_000_000 - 600_000
        with pytest.raises(requests.AidError):
            requests.pay(session, request, actor=people["a1"], reference="BANK0001")
        requests.pay(
            session, request, actor=people["payer"], reference="BANK0001"
        )  # emergency: now
        with pytest.raises(requests.AidError):
            requests.pay(session, request, actor=people["payer"], reference="BANK0002")
        figures = ledger.balance(session, fund.id)
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.fund_id == fund.id)).all()
    assert len(entries) == 2 and figures.balance == sum(e.amount_fen for e in entries) == 4_400_000
    assert figures.available == 4_400_000


def test_the_ledger_refuses_changes(app, session, people):
    with app.test_request_context():
        fund = Fund(
            name="测试基金",
            kind=FundKind.NAMED,
            purpose="测试",
            keep_principal=True,
            created_by=people["staff"].id,
        )
        session.add(fund)
        session.flush()
        entry = ledger.record_donation(session, fund, actor=people["staff"], amount_fen=100_000)
        assert ledger.balance(session, fund.id).available == 0  # principal kept
        entry.amount_fen = 1
        with pytest.raises(LedgerIsAppendOnly):
            session.flush()
        session.rollback()


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "abc", "", "99999999999"])
def test_bad_amounts(amount):
    with pytest.raises(ledger.LedgerError):
        ledger.parse_yuan(amount)


def test_working_days():
    from datetime import datetime

    from portal.timeutil import SHANGHAI

    friday = datetime(2026, 12, 4, 10, tzinfo=SHANGHAI)
    assert requests.add_working_days(friday, 3).date().isoformat() == "2026-12-09"
    assert utcnow() - timedelta(seconds=1) < utcnow()
