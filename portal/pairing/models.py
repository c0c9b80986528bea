"""One-on-one pairing (一对一帮扶): children, pairings and visits.

Children's records are minimal by design (no ID numbers) and seen by staff of their township
only. A pairing goes through these statuses:

    suggested ──accept──▶ proposed ──volunteer accepts──▶ awaiting_consent ──consent──▶ active
        │                    │                                  │                        │
        └─reject─▶ dropped   └─volunteer declines─▶ declined    └─withdrawn by staff     └─close─▶ closed

A child is in at most one *open* pairing (proposed, awaiting_consent, active): a partial unique
index enforces it, so two staff pairing the same child at once end with one pairing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, String, text
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow

NEEDS = ("study", "psych", "safety", "life", "health")  # 学习 心理 安全 生活 健康
GUARDIAN_RELATIONS = (
    "grandparent",
    "maternal_grandparent",
    "father",
    "mother",
    "relative",
    "entrusted",
)
CONSENT_METHODS = ("written", "in_person", "phone")
VISIT_MODES = ("home", "phone", "video", "school")  # 入户 电话 视频 学校
HELP_KINDS = ("goods", "tutoring", "counselling", "referral")  # 物资 辅导 心理疏导 转介
CONDITION_AREAS = ("study", "life", "safety", "psych")  # 学习 生活 安全 心理


class ChildStatus(StrEnum):
    IN_PROGRAMME = "in_programme"
    LEFT = "left"


class LeaveReason(StrEnum):
    TURNED_16 = "turned_16"
    PARENTS_RETURNED = "parents_returned"
    MOVED = "moved"
    OTHER = "other"


class ChildBase(SQLModel):
    """What staff write about a child: minimal, and never an ID number."""

    name: str = Field(min_length=2, max_length=20)
    sex: str = Field(max_length=1)
    birth_date: date
    township_code: str = Field(foreign_key="township.code", max_length=9, index=True)
    village: str = Field(min_length=1, max_length=30)
    school: str | None = Field(default=None, max_length=40)
    grade: str | None = Field(default=None, max_length=20)
    guardian_name: str = Field(min_length=2, max_length=20)
    guardian_relation: str = Field(max_length=20)
    guardian_phone: str = Field(min_length=7, max_length=13)
    parents_work_city: str | None = Field(default=None, max_length=40)
    needs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str | None = Field(default=None, max_length=500)
    preferred_volunteer_sex: str | None = Field(default=None, max_length=1)
    # The guardian's consent to the record and to pairing: who, when, how.
    consent_by: str = Field(min_length=2, max_length=20)
    consent_relation: str = Field(max_length=20)
    consent_on: date
    consent_method: str = Field(max_length=20)
    consent_to_pairing: bool = False


class Child(ChildBase, table=True):
    __tablename__ = "child"
    __table_args__ = (Index("ix_child_scope", "township_code", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)  # ET + year + six digits
    status: ChildStatus = Field(default=ChildStatus.IN_PROGRAMME, sa_type=String(16), index=True)
    left_on: date | None = None
    left_reason: str | None = Field(default=None, max_length=20)
    left_note: str | None = Field(default=None, max_length=500)
    # Not paired again before this day (the buffer after a pairing closes).
    available_from: date | None = None
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PairingStatus(StrEnum):
    SUGGESTED = "suggested"  # computed, waiting for staff review
    DROPPED = "dropped"  # a suggestion staff rejected or replaced
    PROPOSED = "proposed"  # staff accepted; waiting for the volunteer
    DECLINED = "declined"  # the volunteer declined
    AWAITING_CONSENT = "awaiting_consent"  # the volunteer accepted; the guardian's consent next
    ACTIVE = "active"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"  # staff withdrew a proposal before it became active


OPEN_STATUSES = (PairingStatus.PROPOSED, PairingStatus.AWAITING_CONSENT, PairingStatus.ACTIVE)


class CloseReason(StrEnum):
    TURNED_16 = "turned_16"
    PARENTS_RETURNED = "parents_returned"
    VOLUNTEER_LEFT = "volunteer_left"
    MISCONDUCT = "misconduct"
    OTHER = "other"


_OPEN_SQL = "status IN ('proposed', 'awaiting_consent', 'active')"


class Pairing(SQLModel, table=True):
    __tablename__ = "pairing"
    __table_args__ = (
        # No child in two open pairings, whoever tries at the same moment.
        Index(
            "uq_pairing_open_child",
            "child_id",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        Index("ix_pairing_scope", "township_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    township_code: str = Field(foreign_key="township.code", max_length=9)
    status: PairingStatus = Field(default=PairingStatus.SUGGESTED, sa_type=String(20))
    score: int = 0
    reasons: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    by_hand: bool = False
    override_reason: str | None = Field(default=None, max_length=200)
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_by: int | None = Field(default=None, foreign_key="user_account.id")
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    volunteer_answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decline_reason: str | None = Field(default=None, max_length=200)
    consent_by: str | None = Field(default=None, max_length=20)
    consent_on: date | None = None
    consent_method: str | None = Field(default=None, max_length=20)
    activated_on: date | None = None
    closed_on: date | None = None
    close_reason: str | None = Field(default=None, max_length=20)
    close_note: str | None = Field(default=None, max_length=500)
    closed_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VisitStatus(StrEnum):
    LOGGED = "logged"  # written by the volunteer, waiting for confirmation
    CONFIRMED = "confirmed"  # confirmed by township staff; hours credited
    RETURNED = "returned"  # sent back to the volunteer with a comment


class VisitBase(SQLModel):
    visited_on: date
    mode: str = Field(max_length=10)
    minutes: int = Field(ge=5, le=12 * 60)
    condition_study: str | None = Field(default=None, max_length=200)
    condition_life: str | None = Field(default=None, max_length=200)
    condition_safety: str | None = Field(default=None, max_length=200)
    condition_psych: str | None = Field(default=None, max_length=200)
    safety_concern: bool = False
    help_given: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    help_note: str | None = Field(default=None, max_length=300)
    problems: str | None = Field(default=None, max_length=500)
    follow_up: str | None = Field(default=None, max_length=300)


class Visit(VisitBase, table=True):
    """A contact with the child (帮扶记录), logged by the volunteer."""

    __tablename__ = "pairing_visit"

    id: int | None = Field(default=None, primary_key=True)
    pairing_id: int = Field(foreign_key="pairing.id", index=True)
    status: VisitStatus = Field(default=VisitStatus.LOGGED, sa_type=String(12), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_by: int | None = Field(default=None, foreign_key="user_account.id")
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    return_comment: str | None = Field(default=None, max_length=200)


class Capacity(SQLModel, table=True):
    """How many children a volunteer may be paired with, when staff raised it above one."""

    __tablename__ = "pairing_capacity"

    volunteer_id: int = Field(foreign_key="volunteer.id", primary_key=True)
    capacity: int = Field(ge=1, le=5)
    reason: str = Field(max_length=200)
    set_by: int = Field(foreign_key="user_account.id")
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
