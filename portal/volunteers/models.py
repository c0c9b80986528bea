"""Volunteers and Party members (志愿者): records, vetting, service hours, certificates.

The family style of the portal: `VolunteerBase` holds what a person writes (with each limit
declared once), `Volunteer(table=True)` adds what the portal keeps, `VolunteerInput` is the
validated input of the sign-up, the profile form and the roster importer alike.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow


class Status(StrEnum):
    """Vetting (审核) of a volunteer."""

    APPLIED = "applied"  # 已报名: signed up, no certificate yet
    SUBMITTED = "submitted"  # 已提交材料: certificate uploaded, or profile changed
    VERIFIED = "verified"  # 已审核: criminal-record check verified, training not yet done
    ACTIVE = "active"  # 在岗: verified and trained; may be paired while the check is valid
    REJECTED = "rejected"  # 未通过 (with a reason)
    SUSPENDED = "suspended"  # 暂停 (with a reason)
    WITHDRAWN = "withdrawn"  # 已退出 (by the volunteer)


OPEN_STATUSES = frozenset({Status.APPLIED, Status.SUBMITTED, Status.VERIFIED, Status.ACTIVE})


class Category(StrEnum):
    """The policy's own list (三（九）) of who pairs with children."""

    CADRE = "cadre"  # 乡镇（街道）、村（社区）干部
    SUPERVISOR = "supervisor"  # 儿童福利督导员
    TEACHER = "teacher"  # 教师职工
    PARTY_MEMBER = "party_member"  # 共产党员
    SOCIAL = "social"  # 社会志愿者


POLITICAL_STATUSES: tuple[tuple[str, str], ...] = (
    ("01", "中共党员"),
    ("02", "中共预备党员"),
    ("03", "共青团员"),
    ("04", "民革会员"),
    ("05", "民盟盟员"),
    ("06", "民建会员"),
    ("07", "民进会员"),
    ("08", "农工党党员"),
    ("09", "致公党党员"),
    ("10", "九三学社社员"),
    ("11", "台盟盟员"),
    ("12", "无党派人士"),
    ("13", "群众"),
)
PARTY_CODES = frozenset({"01", "02"})

SKILLS = ("tutoring", "counselling", "law", "medical", "arts_sports", "care", "other")
AVAILABILITY = ("weekday_day", "weekday_evening", "weekend", "holidays")


class VolunteerBase(SQLModel):
    """What a volunteer (or the staff importing a roster) writes."""

    name: str = Field(min_length=2, max_length=20)
    id_type: str = Field(max_length=20)
    ethnicity: str | None = Field(default=None, max_length=10)
    political_status: str = Field(min_length=2, max_length=2)
    category: str = Field(max_length=20)
    township_code: str = Field(foreign_key="township.code", max_length=9, index=True)
    village: str = Field(min_length=1, max_length=30)
    employer: str | None = Field(default=None, max_length=60)
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    skills_note: str | None = Field(default=None, max_length=100)
    availability: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    preferred_township_code: str | None = Field(
        default=None, foreign_key="township.code", max_length=9
    )
    # 在职党员双报到: where a Party member reports in the place they live.
    party_organisation: str | None = Field(default=None, max_length=60)
    residence_village: str | None = Field(default=None, max_length=30)
    report_date: date | None = Field(default=None)
    party_post: str | None = Field(default=None, max_length=60)


class Volunteer(VolunteerBase, table=True):
    __tablename__ = "volunteer"
    __table_args__ = (Index("ix_volunteer_scope", "township_code", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    # 志愿者编号: the public identifier, SY + year + six digits.
    number: str = Field(max_length=12, unique=True)
    user_id: int = Field(foreign_key="user_account.id", unique=True)
    # Identity number, never shown: encrypted, a keyed hash for uniqueness, a masked copy.
    # Withdrawal erases the ciphertext and the hash (the masked copy stays on certificates).
    id_cipher: str | None = Field(default=None, max_length=400)
    id_hash: str | None = Field(default=None, max_length=64, unique=True)
    id_masked: str = Field(max_length=20)
    birth_date: date
    sex: str = Field(max_length=1)
    status: Status = Field(default=Status.APPLIED, sa_type=String(12), index=True)
    status_reason: str | None = Field(default=None, max_length=200)
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Consent (versions of the texts agreed to); empty for people imported from a roster
    # until they log in and agree.
    privacy_version: str | None = Field(default=None, max_length=20)
    agreement_version: str | None = Field(default=None, max_length=20)
    consented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Vetting: the outcome and date of the criminal-record check, never the record itself.
    # The uploaded certificate waits here until staff decide, then the file is deleted.
    certificate_sha256: str | None = Field(default=None, max_length=64)
    certificate_type: str | None = Field(default=None, max_length=40)
    certificate_uploaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    check_date: date | None = Field(default=None)
    check_expires: date | None = Field(default=None, index=True)
    checked_by: int | None = Field(default=None, foreign_key="user_account.id")
    training_date: date | None = Field(default=None)
    source: str = Field(default="signup", max_length=10)  # signup | import
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VolunteerInput(VolunteerBase):
    """Validated input (sign-up, profile, roster row) before the services apply the rules."""

    id_number: str = Field(min_length=1, max_length=30)
    mobile: str = Field(min_length=11, max_length=11)
    birth_date: date | None = None
    sex: str | None = Field(default=None, max_length=1)


class ServiceRecord(SQLModel, table=True):
    """Service hours (服务时长): from a confirmed visit or an activity entered by staff.

    Minutes, never fractions. A visit credits hours once (`source_key` is unique); an entry
    made by mistake is voided, never deleted, so a certificate's hours can be traced.
    """

    __tablename__ = "volunteer_service"

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    kind: str = Field(max_length=10)  # visit | activity
    source_key: str | None = Field(default=None, max_length=40, unique=True)
    served_on: date = Field(index=True)
    minutes: int = Field(ge=1, le=24 * 60)
    content: str = Field(min_length=1, max_length=200)
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_by: int | None = Field(default=None, foreign_key="user_account.id")
    void_reason: str | None = Field(default=None, max_length=200)


class Certificate(SQLModel, table=True):
    """A service record certificate (志愿服务记录证明), checkable by its number."""

    __tablename__ = "volunteer_certificate"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=16, unique=True)  # ZM + year + six digits
    volunteer_id: int = Field(foreign_key="volunteer.id", index=True)
    # What the certificate states, fixed when it is issued.
    name: str = Field(max_length=20)
    id_type: str = Field(max_length=20)
    id_masked: str = Field(max_length=20)
    volunteer_number: str = Field(max_length=12)
    minutes: int
    period_start: date
    period_end: date
    content: str = Field(max_length=200)
    issuer: str = Field(max_length=60)
    issued_on: date
    issued_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, max_length=200)


class RosterImport(SQLModel, table=True):
    """An uploaded roster checked row by row; imported only when confirmed with no errors."""

    __tablename__ = "volunteer_import"

    id: int | None = Field(default=None, primary_key=True)
    uploaded_by: int = Field(foreign_key="user_account.id")
    filename: str = Field(max_length=120)
    sha256: str = Field(max_length=64)
    rows: int = 0
    error_count: int = 0
    errors: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    imported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    imported_count: int = 0
