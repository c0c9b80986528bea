"""Concurrent payments of one request, and the deadlines' reminders and escalations.

- Several members of staff pay the same approved request at the same moment, each in a real
  committed transaction on a scratch database (SQLite, or PostgreSQL when TEST_DATABASE_URL is
  set): exactly one ledger entry is written, one payer succeeds and the others are told it was
  already paid.
- An emergency is due 24 hours after submission: the township is reminded 6 hours before, the
  charity's approvers are told once it is overdue. A normal request has 3 working days (a
  Friday's request is due the next Wednesday), reminded 24 hours before. Each message once,
  however often the scheduler runs; the scheduler's job `charity.deadlines` does it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from portal.auth.models import Role, User
from portal.charity import jobs, ledger, requests
from portal.charity.models import AidRequest, EntryKind, Fund, FundKind, LedgerEntry
from portal.charity.models import RequestStatus as Status
from portal.notify.models import Channel, OutboxMessage
from portal.scheduler import REGISTRY
from portal.timeutil import SHANGHAI
from tests.charity.test_workflow_core import XIPING, application
from tests.conftest import make_user, reset_schema

GUSHI = "331124101"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# Races -------------------------------------------------------------------------------------


@pytest.fixture()
def real_app(scratch_database, new_app):
    reset_schema(scratch_database)
    return new_app(scratch_database)


def approved_request(app, session: Session, payers: int) -> tuple[int, list[int]]:
    """A committed, approved emergency request (payable now) and the ids of its payers."""
    staff = make_user(session, role=Role.CHARITY_STAFF)
    township = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING)
    approver = make_user(session, role=Role.CHARITY_APPROVER)
    payer_ids = [make_user(session, role=Role.CHARITY_STAFF).id for _ in range(payers)]
    with app.test_request_context():
        fund = Fund(
            name="应急救助专项基金", kind=FundKind.SPECIAL, purpose="应急", created_by=staff.id
        )
        session.add(fund)
        session.flush()
        ledger.record_donation(session, fund, actor=staff, amount_fen=1_000_000)
        request, _ = requests.submit(
            session, application(amount="3000"), documents=[], idempotency_key="r" * 20
        )
        requests.township_check(session, request, actor=township)
        requests.propose(session, request, actor=staff, fund=fund, amount_fen=300_000)
        assert requests.approve(session, request, actor=approver) is True
        session.commit()
    return request.id, payer_ids


def test_concurrent_payments_of_one_request_write_one_entry(real_app):
    from portal.extensions import db as portal_db

    engine = real_app.extensions["portal_db"].engine
    with Session(engine, expire_on_commit=False) as s:
        request_id, payer_ids = approved_request(real_app, s, payers=6)

    barrier = threading.Barrier(len(payer_ids), timeout=20)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def pay(payer_id: int, n: int) -> None:
        try:
            barrier.wait()
            with real_app.test_request_context(), portal_db.new_session() as s:
                actor = s.get(User, payer_id)
                request = s.get(AidRequest, request_id)
                try:
                    requests.pay(s, request, actor=actor, reference=f"BANK-{n:04d}")
                    s.commit()
                    outcomes.append("paid")
                except requests.AidError as error:
                    s.rollback()
                    outcomes.append(error.message)
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=pay, args=(p, n)) for n, p in enumerate(payer_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outcomes.count("paid") == 1
    assert set(outcomes) - {"paid"} == {"This request has already been paid."}
    with Session(engine) as s:
        grants = s.exec(
            select(LedgerEntry).where(
                LedgerEntry.request_id == request_id, LedgerEntry.kind == EntryKind.GRANT
            )
        ).all()
        request = s.get(AidRequest, request_id)
        figures = ledger.balance(s, request.fund_id)
    assert len(grants) == 1 and grants[0].amount_fen == -300_000
    assert request.status == Status.PAID and request.payment_reference == grants[0].reference
    assert (figures.balance, figures.available) == (700_000, 700_000)


# Deadlines ---------------------------------------------------------------------------------


@pytest.fixture()
def staff(session):
    return {
        "xiping": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING),
        "gushi": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI),
        "charity": make_user(session, role=Role.CHARITY_STAFF),
        "a1": make_user(session, role=Role.CHARITY_APPROVER),
        "a2": make_user(session, role=Role.CHARITY_APPROVER),
    }


def china(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def messages(session, request_id: int) -> list[tuple[str, int]]:
    """(template, user) of the staff's in-portal messages about a request, in order."""
    rows = session.exec(
        select(OutboxMessage.template, OutboxMessage.user_id)
        .where(
            OutboxMessage.key.like(f"aid:{request_id}:%"),
            OutboxMessage.channel == Channel.INAPP,
        )
        .order_by(OutboxMessage.id)
    ).all()
    return [(template, user_id) for template, user_id in rows]


def submit(app, session, *, emergency: bool, at: datetime, key: str = "d") -> AidRequest:
    with app.test_request_context():
        documents = (
            []
            if emergency
            else [
                requests.Upload("application", "申请表.pdf", PDF),
                requests.Upload("household", "户口簿.pdf", PDF),
            ]
        )
        request, _ = requests.submit(
            session,
            application(emergency="y" if emergency else "", kind="hardship"),
            documents=documents,
            idempotency_key=key * 20,
            now=at,
        )
    return request


def run_deadlines(app, session, at: datetime) -> dict[str, int]:
    with app.test_request_context():
        return requests.deadline_messages(session, now=at)


def test_an_emergency_is_reminded_six_hours_before_and_escalated_after_24(app, session, staff):
    submitted = china(2026, 12, 1, 9, 30)
    request = submit(app, session, emergency=True, at=submitted)
    assert request.due_at == submitted + timedelta(hours=24)
    xiping, a1, a2 = staff["xiping"].id, staff["a1"].id, staff["a2"].id

    assert run_deadlines(app, session, submitted + timedelta(hours=17, minutes=59)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert messages(session, request.id) == []

    for hours in (18, 19, 23):  # reminded once, to the township's own staff only
        run_deadlines(app, session, submitted + timedelta(hours=hours))
    assert messages(session, request.id) == [("aid.staff_reminder", xiping)]

    counts = run_deadlines(app, session, submitted + timedelta(hours=24))
    assert counts == {"reminded": 0, "escalated": 2}
    for hours in (25, 48):
        assert run_deadlines(app, session, submitted + timedelta(hours=hours))["escalated"] == 0
    assert messages(session, request.id) == [
        ("aid.staff_reminder", xiping),
        ("aid.staff_escalation", a1),
        ("aid.staff_escalation", a2),
    ]


def test_a_friday_request_is_due_on_wednesday_and_told_once_each(app, session, staff):
    friday = china(2026, 12, 4, 16, 0)
    request = submit(app, session, emergency=False, at=friday)
    due = china(2026, 12, 9, 16, 0)
    assert request.due_at == due
    xiping, a1, a2 = staff["xiping"].id, staff["a1"].id, staff["a2"].id

    for moment in (china(2026, 12, 5, 10), china(2026, 12, 7, 10), due - timedelta(hours=25)):
        assert run_deadlines(app, session, moment) == {"reminded": 0, "escalated": 0}
    assert run_deadlines(app, session, due - timedelta(hours=24))["reminded"] == 1
    assert run_deadlines(app, session, due - timedelta(hours=1))["reminded"] == 0
    assert run_deadlines(app, session, due)["escalated"] == 2
    assert run_deadlines(app, session, due + timedelta(days=3))["escalated"] == 0
    assert messages(session, request.id) == [
        ("aid.staff_reminder", xiping),
        ("aid.staff_escalation", a1),
        ("aid.staff_escalation", a2),
    ]


def test_each_step_has_its_own_deadline_and_its_own_messages(app, session, staff):
    submitted = china(2026, 12, 1, 9, 0)
    request = submit(app, session, emergency=True, at=submitted)
    run_deadlines(app, session, submitted + timedelta(hours=20))  # the township reminded
    checked = submitted + timedelta(hours=21)
    with app.test_request_context():
        requests.township_check(session, request, actor=staff["xiping"], now=checked)
    assert request.due_at == checked + timedelta(hours=24)
    # The charity's staff are reminded of the review, once; nobody is escalated in time.
    assert run_deadlines(app, session, checked + timedelta(hours=19)) == {
        "reminded": 1,
        "escalated": 0,
    }
    assert run_deadlines(app, session, checked + timedelta(hours=20))["reminded"] == 0
    assert messages(session, request.id) == [
        ("aid.staff_reminder", staff["xiping"].id),
        ("aid.staff_reminder", staff["charity"].id),
    ]


def test_a_handled_request_is_no_longer_chased(app, session, staff):
    submitted = china(2026, 12, 1, 9, 0)
    request = submit(app, session, emergency=True, at=submitted)
    with app.test_request_context():
        requests.reject(session, request, actor=staff["xiping"], reason="不属于救助范围")
    assert run_deadlines(app, session, submitted + timedelta(days=3)) == {
        "reminded": 0,
        "escalated": 0,
    }


def test_the_scheduler_job_sends_them_on_time(app, session, staff, time_machine):
    submitted = china(2026, 12, 1, 9, 0)
    time_machine.move_to(submitted, tick=False)
    request = submit(app, session, emergency=True, at=submitted)
    assert REGISTRY["charity.deadlines"].func is jobs.deadlines

    time_machine.move_to(submitted + timedelta(hours=18, minutes=15), tick=False)
    with app.app_context():
        assert jobs.deadlines() == {"reminded": 1, "escalated": 0}
        assert jobs.deadlines() == {"reminded": 0, "escalated": 0}  # 15 minutes later: nothing
    time_machine.move_to(submitted + timedelta(hours=24, minutes=15), tick=False)
    with app.app_context():
        assert jobs.deadlines() == {"reminded": 0, "escalated": 2}
        assert jobs.deadlines() == {"reminded": 0, "escalated": 0}
    total = session.exec(
        select(func.count()).where(
            OutboxMessage.key.like(f"aid:{request.id}:%"), OutboxMessage.channel == Channel.INAPP
        )
    ).one()
    assert total == 3
