"""Emergency aid (应急救助): funds, their append-only ledger, requests, approvals, documents.

Money is integer fen everywhere. A fund's balance is never stored: it is the sum of its ledger
entries. The ledger is append-only, refused by the ORM and by database triggers alike; a
correction is a reversing entry. A request's grant is written once: a unique index on the
grant's request makes a second payment of the same request impossible.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import DDL, BigInteger, Column, Index, String, event, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow


class FundKind(StrEnum):
    SPECIAL = "special"  # 专项基金
    NAMED = "named"  # 冠名基金


class Fund(SQLModel, table=True):
    __tablename__ = "charity_fund"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(min_length=2, max_length=60, unique=True)
    kind: FundKind = Field(sa_type=String(10))
    donor: str | None = Field(default=None, max_length=60)
    donor_public: bool = False  # the donor agreed to be named in public
    purpose: str = Field(min_length=2, max_length=200)
    earmark: str | None = Field(default=None, max_length=100)
    # Principal kept (留本冠名基金): only income may be granted.
    keep_principal: bool = False
    active: bool = True
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EntryKind(StrEnum):
    DONATION = "donation"  # 捐赠收入 (+)
    INCOME = "income"  # 投资/利息收入 (+)
    GRANT = "grant"  # 救助支出 (-)
    REVERSAL = "reversal"  # 冲正 (the opposite of the entry it reverses)


class LedgerEntry(SQLModel, table=True):
    """One movement of money in a fund: never changed, never deleted."""

    __tablename__ = "charity_ledger"
    __table_args__ = (
        # Covering indexes: a fund's sums and its monthly figures read the index alone.
        Index("ix_ledger_fund_kind_amount", "fund_id", "kind", "principal", "amount_fen"),
        Index("ix_ledger_fund_day_amount", "fund_id", "booked_on", "kind", "amount_fen"),
        # A request is paid once, however often "pay" is clicked or by how many people.
        Index(
            "uq_ledger_grant_request",
            "request_id",
            unique=True,
            sqlite_where=text("kind = 'grant'"),
            postgresql_where=text("kind = 'grant'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    fund_id: int = Field(foreign_key="charity_fund.id", index=True)
    kind: EntryKind = Field(sa_type=String(10))
    # Signed fen: money in is positive, money out negative.
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Counted in the principal (donations to a fund that keeps it) or in what may be spent.
    principal: bool = False
    reverses_id: int | None = Field(default=None, foreign_key="charity_ledger.id", unique=True)
    request_id: int | None = Field(default=None, foreign_key="charity_request.id")
    reference: str | None = Field(default=None, max_length=60)  # receipt or payment reference
    note: str | None = Field(default=None, max_length=200)
    booked_on: date
    entered_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerIsAppendOnly(RuntimeError):
    """Raised when code tries to change or remove a ledger entry."""


@event.listens_for(OrmSession, "before_flush")
def _refuse_ledger_changes(session, _flush_context, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, LedgerEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise LedgerIsAppendOnly("ledger entries cannot be changed or deleted")


LEDGER_SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS charity_ledger_no_update BEFORE UPDATE ON charity_ledger "
    "BEGIN SELECT RAISE(ABORT, 'charity_ledger is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS charity_ledger_no_delete BEFORE DELETE ON charity_ledger "
    "BEGIN SELECT RAISE(ABORT, 'charity_ledger is append-only'); END",
]
LEDGER_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION charity_ledger_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'charity_ledger is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER charity_ledger_no_change BEFORE UPDATE OR DELETE ON charity_ledger "
    "FOR EACH ROW EXECUTE FUNCTION charity_ledger_append_only()",
]
for _statement in LEDGER_SQLITE_TRIGGERS:
    event.listen(
        LedgerEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite")
    )
for _statement in LEDGER_POSTGRES_TRIGGERS:
    event.listen(
        LedgerEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql")
    )


class AidKind(StrEnum):
    ILLNESS = "illness"  # 疾病
    ACCIDENT = "accident"  # 意外伤害
    DISASTER = "disaster"  # 灾害
    HARDSHIP = "hardship"  # 突发困难
    OTHER = "other"  # 其他


class RequestStatus(StrEnum):
    SUBMITTED = "submitted"  # waiting for the township's check
    INFO_NEEDED = "info_needed"  # the applicant is asked for more (documents, facts)
    CHECKED = "checked"  # checked by the township: waiting for the charity's review
    APPROVING = "approving"  # proposed (amount, fund): waiting for the approvers
    APPROVED = "approved"  # approved: the public notice runs
    REJECTED = "rejected"
    PAID = "paid"
    CLOSED = "closed"


class AidRequest(SQLModel, table=True):
    """A request for emergency aid for a child (应急救助申请)."""

    __tablename__ = "charity_request"
    __table_args__ = (Index("ix_request_queue", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=12, unique=True)  # YJ + year + six digits
    idempotency_key: str = Field(max_length=64, unique=True)
    status: RequestStatus = Field(default=RequestStatus.SUBMITTED, sa_type=String(12), index=True)
    # Applicant: a guardian, a child director or a volunteer.
    applicant_name: str = Field(max_length=20)
    applicant_mobile: str = Field(max_length=11, index=True)
    applicant_relation: str = Field(max_length=20)
    # The child.
    child_name: str = Field(max_length=20)
    child_sex: str = Field(max_length=1)
    child_age: int = Field(ge=0, le=17)
    township_code: str = Field(foreign_key="township.code", max_length=9, index=True)
    village: str = Field(max_length=30)
    # Keyed hash of the child's name, sex, township and village: finds earlier aid to the child
    # across requests and funds without comparing names in the clear.
    child_key: str = Field(max_length=64, index=True)
    kind: AidKind = Field(sa_type=String(10))
    emergency: bool = False
    requested_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    story: str = Field(max_length=2000)
    account_holder: str = Field(max_length=20)
    account_bank: str = Field(max_length=40)
    account_cipher: str = Field(max_length=400)
    account_masked: str = Field(max_length=40)
    consented_at: datetime = Field(sa_type=UTCDateTime)
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # First response deadline (24 hours for emergencies, 3 working days otherwise), then each
    # step's own; reminders and escalations run against it.
    due_at: datetime = Field(sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Township check.
    checked_by: int | None = Field(default=None, foreign_key="user_account.id")
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    check_note: str | None = Field(default=None, max_length=500)
    info_request: str | None = Field(default=None, max_length=500)
    # Review and approval.
    reviewed_by: int | None = Field(default=None, foreign_key="user_account.id")
    fund_id: int | None = Field(default=None, foreign_key="charity_fund.id", index=True)
    approved_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    cap_override_reason: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reject_reason: str | None = Field(default=None, max_length=500)
    notice_until: date | None = None
    # Payment.
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paid_by: int | None = Field(default=None, foreign_key="user_account.id")
    payment_reference: str | None = Field(default=None, max_length=60)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    """One approver's yes to a request's amount and fund (two above the threshold)."""

    __tablename__ = "charity_approval"
    __table_args__ = (Index("uq_approval_once", "request_id", "approver_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="charity_request.id", index=True)
    approver_id: int = Field(foreign_key="user_account.id")
    fund_id: int = Field(foreign_key="charity_fund.id")
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DocumentKind(StrEnum):
    APPLICATION = "application"  # 申请表
    HOUSEHOLD = "household"  # 户口簿
    IDENTITY = "identity"  # 身份证
    MEDICAL = "medical"  # 病历或费用清单
    VILLAGE = "village"  # 村（社区）证明
    LOW_INCOME = "low_income"  # 低保/特困证明
    OTHER = "other"


class RequestDocument(SQLModel, table=True):
    __tablename__ = "charity_document"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="charity_request.id", index=True)
    kind: DocumentKind = Field(sa_type=String(12))
    filename: str = Field(max_length=100)
    content_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    uploaded_by: int | None = Field(default=None, foreign_key="user_account.id")  # None: applicant
