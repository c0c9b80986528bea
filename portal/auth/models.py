"""Accounts (账号), login throttling and one-time password-reset links."""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow


class Role(StrEnum):
    """What an account may do. Staff roles are created by an admin."""

    ADMIN = "admin"
    COUNTY_STAFF = "county_staff"
    TOWNSHIP_STAFF = "township_staff"
    CHARITY_STAFF = "charity_staff"
    CHARITY_APPROVER = "charity_approver"
    LECTURE_ORGANISER = "lecture_organiser"
    EDITOR = "editor"
    REVIEWER = "reviewer"
    VOLUNTEER = "volunteer"


STAFF_ROLES = frozenset(Role) - {Role.VOLUNTEER}


class Office(StrEnum):
    """Offices that organise parents' school lectures (家长学校主办单位)."""

    EDUCATION = "education"  # 教育局
    CIVIL_AFFAIRS = "civil_affairs"  # 民政局
    YOUTH_LEAGUE = "youth_league"  # 团县委
    WOMENS_FEDERATION = "womens_federation"  # 妇联
    TOWNSHIP = "township"  # 乡镇（街道）


class UserBase(SQLModel):
    name: str = Field(min_length=1, max_length=40)
    phone: str | None = Field(default=None, max_length=11, unique=True, index=True)
    email: str | None = Field(default=None, max_length=254, unique=True, index=True)
    role: Role = Field(sa_type=String(20))
    township_code: str | None = Field(default=None, foreign_key="township.code", max_length=9)
    office: Office | None = Field(default=None, sa_type=String(20))


class User(UserBase, table=True):
    """A person who logs in: staff member or volunteer."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    is_demo: bool = Field(default=False)
    # Bumped on logout, password change and disable: every older session is then refused.
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Contact preferences: the in-app inbox always; e-mail and SMS when chosen.
    notify_by_email: bool = Field(default=True)
    notify_by_sms: bool = Field(default=False)
    language: str = Field(default="zh_CN", max_length=10)

    # Flask-Login protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """What the session and the remember-me cookie keep: id, session version, login time.

        Called at login; `portal.security.load_user` refuses the id once the session version has
        moved on or the login is older than PORTAL_REMEMBER_DAYS.
        """
        return f"{self.id}:{self.session_version}:{int(time.time())}"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def login_name(self) -> str:
        return self.phone or self.email or ""


class LoginThrottle(SQLModel, table=True):
    """Failed logins counted per login name in the database, seen by every worker."""

    __tablename__ = "login_throttle"

    login: str = Field(primary_key=True, max_length=254)
    window_start: datetime = Field(sa_type=UTCDateTime)
    failures: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasswordReset(SQLModel, table=True):
    """A one-time password-reset link issued by an admin; only its hash is kept."""

    __tablename__ = "password_reset"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    issued_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
