"""Ledger invariants under any sequence of operations, and no way to change a written entry.

Hypothesis draws lists of operations on two funds (one keeps its principal): donations, income,
reversals of any earlier entry, requests proposed with random amounts, approvals by either of
two approvers, payments. After every operation, for each fund:

- the balance is the sum of its entries, read back row by row;
- what is available (spendable minus approved and unpaid) is never negative;
- the principal is never spent: it is never negative and never more than the balance;
- an operation that is refused leaves nothing written (ledger, approvals, the request,
  audit entries, messages).

Then: the ORM refuses to change or delete an entry, and so does the database itself for raw
SQL (triggers), on SQLite and on PostgreSQL when TEST_DATABASE_URL points at it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from portal.audit import AuditEntry
from portal.auth.models import Role
from portal.charity import ledger, requests
from portal.charity.models import (
    AidRequest,
    Approval,
    EntryKind,
    Fund,
    FundKind,
    LedgerEntry,
    LedgerIsAppendOnly,
    RequestStatus,
)
from portal.core.domain import DomainError
from portal.notify.models import OutboxMessage
from tests.charity.test_workflow_core import XIPING, application
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[2]
DIGITS = "零一二三四五六七八九"

amounts = st.integers(min_value=1, max_value=1_200_000)  # up to ¥12,000: one or two approvers
fund_index = st.integers(min_value=0, max_value=1)
operation = st.one_of(
    st.tuples(st.just("donate"), fund_index, amounts),
    st.tuples(st.just("income"), fund_index, amounts),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50)),
    st.tuples(st.just("propose"), fund_index, st.integers(min_value=1, max_value=700_000)),
    st.tuples(st.just("approve"), st.integers(min_value=0, max_value=20), st.sampled_from("ab")),
    st.tuples(st.just("pay"), st.integers(min_value=0, max_value=20)),
)


@pytest.fixture()
def people(session):
    return {
        "township": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING),
        "staff": make_user(session, role=Role.CHARITY_STAFF),
        "payer": make_user(session, role=Role.CHARITY_STAFF),
        "a": make_user(session, role=Role.CHARITY_APPROVER),
        "b": make_user(session, role=Role.CHARITY_APPROVER),
    }


def child_name(n: int) -> str:
    return "童" + "".join(DIGITS[int(d)] for d in str(n))


def written(session) -> tuple:
    """Everything an operation may write, as counts and the requests' states."""
    counts = tuple(
        session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (LedgerEntry, Approval, AuditEntry, OutboxMessage)
    )
    states = tuple(
        tuple(row)
        for row in session.execute(
            select(AidRequest.id, AidRequest.status, AidRequest.approved_fen).order_by(
                AidRequest.id
            )
        )
    )
    return counts, states


def check_invariants(session, funds: list[Fund]) -> None:
    for fund in funds:
        figures = ledger.balance(session, fund.id)
        rows = session.execute(
            select(LedgerEntry.amount_fen, LedgerEntry.principal).where(
                LedgerEntry.fund_id == fund.id
            )
        ).all()
        assert figures.balance == sum(amount for amount, _ in rows)
        assert figures.principal == sum(amount for amount, principal in rows if principal)
        assert figures.available >= 0, figures
        assert 0 <= figures.principal <= figures.balance, figures
        if not fund.keep_principal:
            assert figures.principal == 0


class Run:
    """One drawn sequence of operations against fresh funds."""

    def __init__(self, session, people, serial: int) -> None:
        self.session, self.people, self.serial = session, people, serial
        self.funds = []
        for n, keep in enumerate((False, True)):
            fund = Fund(
                name=f"性质测试基金{serial}-{n}",
                kind=FundKind.NAMED if keep else FundKind.SPECIAL,
                purpose="应急救助",
                keep_principal=keep,
                created_by=people["staff"].id,
            )
            session.add(fund)
            self.funds.append(fund)
        session.flush()
        self.requests: list[AidRequest] = []
        self.entries: list[LedgerEntry] = []
        self.children = 0

    def prepare(self, op: tuple) -> None:
        """Before a proposal: a request submitted and checked by the township (set-up)."""
        if op[0] != "propose":
            return
        self.children += 1
        request, _ = requests.submit(
            self.session,
            application(
                child_name=child_name(self.serial * 1000 + self.children),
                amount=str(max(op[2] // 100, 1)),
            ),
            documents=[],
            idempotency_key=f"prop-{self.serial}-{self.children}".ljust(20, "x"),
        )
        requests.township_check(self.session, request, actor=self.people["township"])
        self.requests.append(request)

    def do(self, op: tuple) -> None:
        session, people = self.session, self.people
        name = op[0]
        if name in ("donate", "income"):
            record = ledger.record_donation if name == "donate" else ledger.record_income
            self.entries.append(
                record(session, self.funds[op[1]], actor=people["staff"], amount_fen=op[2])
            )
        elif name == "reverse":
            if not self.entries:
                return
            entry = self.entries[op[1] % len(self.entries)]
            self.entries.append(ledger.reverse(session, entry, actor=people["staff"], note="更正"))
        elif name == "propose":
            requests.propose(
                session,
                self.requests[-1],
                actor=people["staff"],
                fund=self.funds[op[1]],
                amount_fen=op[2],
            )
        elif name == "approve":
            if not self.requests:
                return
            request = self.requests[op[1] % len(self.requests)]
            requests.approve(session, request, actor=people[op[2]])
        elif name == "pay":
            if not self.requests:
                return
            request = self.requests[op[1] % len(self.requests)]
            requests.pay(session, request, actor=people["payer"], reference="BANK-REF-01")
            self.entries.append(
                session.execute(
                    select(LedgerEntry).where(
                        LedgerEntry.request_id == request.id, LedgerEntry.kind == EntryKind.GRANT
                    )
                ).scalar_one()
            )


SERIAL = iter(range(1, 10**6))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=14))
def test_any_sequence_of_operations_keeps_the_ledger_sound(app, session, people, operations):
    outer = session.begin_nested()  # each example starts from the same database
    try:
        with app.test_request_context():
            run = Run(session, people, next(SERIAL))
            for op in operations:
                run.prepare(op)
                before = written(session)
                try:
                    run.do(op)
                except DomainError:
                    event(f"{op[0]} refused")
                    assert written(session) == before, op
                else:
                    event(f"{op[0]} done")
                check_invariants(session, run.funds)
    finally:
        outer.rollback()


def test_a_proposal_above_what_is_available_writes_nothing(app, session, people):
    with app.test_request_context():
        run = Run(session, people, 0)
        run.do(("donate", 1, 100_000))  # principal: nothing may be granted from it
        run.prepare(("propose", 1, 1))
        before = written(session)
        with pytest.raises(DomainError):
            run.do(("propose", 1, 1))
        request = run.requests[-1]
        assert request.status == RequestStatus.CHECKED and request.approved_fen is None
        assert written(session) == before


# Nothing changes a written entry -----------------------------------------------------------


@pytest.fixture()
def entry(app, session, people):
    with app.test_request_context():
        fund = Fund(
            name="不可改基金",
            kind=FundKind.SPECIAL,
            purpose="测试",
            created_by=people["staff"].id,
        )
        session.add(fund)
        session.flush()
        return ledger.record_donation(session, fund, actor=people["staff"], amount_fen=12_345)


def test_the_orm_refuses_to_change_or_delete_an_entry(session, entry):
    with pytest.raises(LedgerIsAppendOnly), session.begin_nested():
        entry.amount_fen = 1
        session.flush()
    session.expire(entry)
    with pytest.raises(LedgerIsAppendOnly), session.begin_nested():
        session.delete(entry)
        session.flush()
    assert session.get(LedgerEntry, entry.id).amount_fen == 12_345


@pytest.mark.parametrize(
    "statement",
    [
        lambda e: update(LedgerEntry).where(LedgerEntry.id == e.id).values(amount_fen=1),
        lambda e: delete(LedgerEntry).where(LedgerEntry.id == e.id),
        lambda e: text("UPDATE charity_ledger SET note = 'x' WHERE id = :id").bindparams(id=e.id),
        lambda e: text("DELETE FROM charity_ledger WHERE id = :id").bindparams(id=e.id),
        lambda e: text("DELETE FROM charity_ledger"),
    ],
    ids=["orm-update", "orm-delete", "sql-update", "sql-delete", "sql-delete-all"],
)
def test_the_database_refuses_update_and_delete(session, entry, statement):
    """On the test database: SQLite, or PostgreSQL when TEST_DATABASE_URL is set."""
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(statement(entry))
    session.expire_all()
    assert session.get(LedgerEntry, entry.id).amount_fen == 12_345


def test_sqlite_triggers_refuse_raw_sql_whatever_the_test_database(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO charity_ledger (fund_id, kind, amount_fen, principal, booked_on,"
                " entered_by, created_at) VALUES (1, 'donation', 100, 0, '2026-11-30', 1,"
                " '2026-11-30 00:00:00')"
            )
        )
    for sql in (
        "UPDATE charity_ledger SET amount_fen = 1",
        "DELETE FROM charity_ledger",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with Session(engine) as s:
        assert s.execute(text("SELECT amount_fen FROM charity_ledger")).all() == [(100,)]
    engine.dispose()


def test_no_code_updates_or_deletes_ledger_rows():
    """Only the ledger's own module writes entries, and nothing in the portal alters them."""
    pattern = re.compile(
        r"update\(\s*LedgerEntry|delete\(\s*LedgerEntry|(UPDATE|DELETE\s+FROM)\s+charity_ledger",
        re.I,
    )
    offenders = []
    for path in (ROOT / "portal").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for match in pattern.finditer(source):
            line = source[: match.start()].count("\n") + 1
            context = source.splitlines()[line - 1]
            if "RAISE" in context or "TRIGGER" in context:
                continue  # the triggers that refuse it
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []
