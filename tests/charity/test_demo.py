"""Emergency aid's demo set, loaded by `flask portal demo` with the demo accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlmodel import Session, SQLModel, func, select

from portal import create_app
from portal.auth.models import Role, User
from portal.charity import ledger
from portal.charity.models import (
    AidRequest,
    Approval,
    EntryKind,
    Fund,
    FundKind,
    LedgerEntry,
    RequestDocument,
    RequestStatus,
)
from tests.conftest import app_config, page_text


def _demo(app) -> str:
    result = app.test_cli_runner().invoke(args=["portal", "demo"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[tuple[Flask, str]]:
    """A fresh instance with `flask portal demo` run once (the tests only read it; loading
    again adds nothing, which the first test checks)."""
    tmp = tmp_path_factory.mktemp("charity-demo")
    app = create_app(
        app_config(
            f"sqlite:///{tmp / 'demo.db'}",
            PORTAL_UPLOAD_DIR=str(tmp / "uploads"),
            PORTAL_SEARCH_DIR=str(tmp / "search"),
            PORTAL_PAGE_CACHE_TTL=0,
        )
    )
    result = app.test_cli_runner().invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    # The area's tables, for as long as no migration creates them (none are added otherwise).
    SQLModel.metadata.create_all(app.extensions["portal_db"].engine)
    yield app, _demo(app)
    app.extensions["portal_db"].engine.dispose()


@pytest.fixture()
def demo_app(loaded) -> Flask:
    return loaded[0]


def _session(app) -> Session:
    return Session(app.extensions["portal_db"].engine)


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Fund, LedgerEntry, AidRequest, Approval, RequestDocument, User)
    }


def _phone(session: Session, phone: str) -> User:
    return session.exec(select(User).where(User.phone == phone)).one()


def test_the_demo_loads_twice_without_adding_anything_the_second_time(loaded):
    demo_app, first = loaded
    assert first.count("[charity] fund #") == 2
    assert first.count("[charity] request YJ") == 2
    assert "[charity] demo account 19900000490" in first
    assert "skipped" not in first
    with _session(demo_app) as s:
        before = _counts(s)
    second = _demo(demo_app)
    assert "[charity]" not in second
    with _session(demo_app) as s:
        assert _counts(s) == before
    assert before["Fund"] == 2 and before["AidRequest"] == 2 and before["Approval"] == 1
    assert before["LedgerEntry"] == 5  # four entries in and one grant


def test_the_funds_are_labelled_and_the_named_fund_keeps_its_principal(demo_app):
    with _session(demo_app) as s:
        staff = _phone(s, "19900000005")
        special = s.exec(select(Fund).where(Fund.kind == FundKind.SPECIAL)).one()
        named = s.exec(select(Fund).where(Fund.kind == FundKind.NAMED)).one()
        special_figures = ledger.balance(s, special.id)
        named_figures = ledger.balance(s, named.id)
        entries = s.exec(select(LedgerEntry)).all()
    for fund in (special, named):
        assert fund.name.startswith("演示·") and fund.created_by == staff.id
    assert named.keep_principal and named.donor == "演示·爱心企业" and named.donor_public
    assert named_figures.principal == 100_000_00 and named_figures.income == 2_400_00
    assert named_figures.available == 2_400_00  # only the income may be granted
    assert special_figures.donations == 70_000_00 and special_figures.grants == 3_000_00
    assert special_figures.available == 67_000_00
    assert {e.entered_by for e in entries if e.kind != EntryKind.GRANT} == {staff.id}


def test_the_emergency_went_through_every_step_with_the_demo_accounts(demo_app):
    with _session(demo_app) as s:
        township, staff = _phone(s, "19900000003"), _phone(s, "19900000005")
        approver, payer = _phone(s, "19900000006"), _phone(s, "19900000490")
        aid = s.exec(select(AidRequest).where(AidRequest.status == RequestStatus.PAID)).one()
        approvals = s.exec(select(Approval).where(Approval.request_id == aid.id)).all()
        (grant,) = s.exec(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.GRANT)).all()
        fund = s.get(Fund, aid.fund_id)
    assert payer.is_demo and payer.role == Role.CHARITY_STAFF and payer.name.startswith("演示·")
    assert aid.emergency and aid.township_code == "331124001"
    assert aid.child_name.startswith("演示·") and aid.applicant_name.startswith("演示·")
    assert aid.applicant_mobile.startswith("199000004")
    assert aid.checked_by == township.id and aid.reviewed_by == staff.id
    assert [a.approver_id for a in approvals] == [approver.id]
    assert aid.paid_by == payer.id and aid.payment_reference
    assert aid.approved_fen == 3_000_00 and fund.kind == FundKind.SPECIAL
    assert grant.request_id == aid.id and grant.amount_fen == -3_000_00
    assert aid.notice_until is not None and aid.account_masked.endswith("0401")


def test_the_other_request_waits_for_the_township_with_its_documents(demo_app):
    with _session(demo_app) as s:
        aid = s.exec(select(AidRequest).where(AidRequest.status == RequestStatus.SUBMITTED)).one()
        documents = s.exec(
            select(RequestDocument).where(RequestDocument.request_id == aid.id)
        ).all()
    assert not aid.emergency and aid.township_code == "331124001"
    assert aid.child_name.startswith("演示·") and aid.applicant_mobile.startswith("199000004")
    assert aid.checked_by is None and aid.fund_id is None
    assert sorted(d.kind for d in documents) == ["application", "household"]
    folder = demo_app.config["PORTAL_UPLOAD_DIR"]
    from pathlib import Path

    for document in documents:
        assert (Path(folder) / "charity" / document.sha256).is_file()


def test_the_disclosure_shows_the_demo_funds_and_the_notice_without_the_name(demo_app):
    text = page_text(demo_app.test_client().get("/charity/disclosure"))
    assert "演示·留守儿童应急救助专项基金" in text and "演示·爱心企业冠名基金" in text
    assert "演示·爱心企业" in text  # the donor agreed to be named
    assert "演****" in text  # 演示·小宇, masked to its first character
    assert "演示·小宇" not in text and "19900000401" not in text
