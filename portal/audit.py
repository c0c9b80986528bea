"""Append-only audit log (审计日志): who did what, when, from where; and reading it back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import DDL, JSON, Column, event, or_
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, select

from portal.core.domain import DomainError
from portal.i18n import N_
from portal.pagination import Page, paginate
from portal.timeutil import SHANGHAI, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    """One audited event. Rows are never updated or deleted."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=60, index=True)
    target_type: str | None = Field(default=None, max_length=40)
    target_id: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=45)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


# The database refuses UPDATE and DELETE too, so no code path (not even raw SQL) edits history.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
]

for _statement in SQLITE_TRIGGERS:
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRES_TRIGGERS:
    event.listen(
        AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql")
    )


@event.listens_for(OrmSession, "before_flush")
def _refuse_audit_changes(session, _flush_context, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")


# Never store secrets or full identity numbers in the audit log.
_SECRET_KEYS = re.compile(r"pass|token|secret|csrf", re.IGNORECASE)
_ID_NUMBER = re.compile(r"\b(\d{4})\d{10}(\d{3}[\dXx])\b")
_MOBILE = re.compile(r"\b(1[3-9]\d)\d{4}(\d{4})\b")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _MOBILE.sub(r"\1****\2", _ID_NUMBER.sub(r"\1**********\2", value))
    if isinstance(value, dict):
        return {
            k: ("[removed]" if _SECRET_KEYS.search(str(k)) else _clean(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def record(
    session: Session,
    *,
    action: str,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    ip: str | None = None,
    **detail: Any,
) -> AuditEntry:
    """Append one audit entry inside the caller's transaction."""
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=ip,
        detail=_clean(detail),
    )
    session.add(entry)
    return entry


def record_request(action: str, **kwargs: Any) -> AuditEntry:
    """Audit an event of the current request: the actor and address come from it."""
    from flask import request
    from flask_login import current_user

    from portal.db import get_session

    actor_id = current_user.id if current_user.is_authenticated else None
    return record(get_session(), action=action, actor_id=actor_id, ip=request.remote_addr, **kwargs)


def record_denial(reason: str, **detail: Any) -> None:
    """Audit a refused request in its own short write transaction, after the request's own.

    The request's work is rolled back when it answers 403/404, and a reader's session must not
    be the one to write: the entry is committed on its own, whatever the request did.
    """
    from flask import request
    from flask_login import current_user

    from portal.db import write_separately

    actor_id = current_user.id if current_user.is_authenticated else None
    ip, endpoint = request.remote_addr, request.endpoint

    def write(session: Session) -> None:
        record(
            session,
            action="access.denied",
            actor_id=actor_id,
            ip=ip,
            endpoint=endpoint,
            reason=reason,
            **detail,
        )

    write_separately(write)


# Reading the log ------------------------------------------------------------------------------

# What a person reads for each action code. Every code passed to record(), record_request() or
# record_denial() has its label here (tests/test_audit.py checks the code for new ones); an area
# that lands later adds its codes with register_actions().
ACTION_LABELS: dict[str, Any] = {
    "login": _l("Logged in"),
    "login.failed": _l("Login failed"),
    "login.locked": _l("Account locked after repeated failed logins"),
    "logout": _l("Logged out"),
    "reauth.failed": _l("Wrong password when confirming a sensitive action"),
    "password.changed": _l("Changed their password"),
    "password.reset": _l("Set a new password with a reset link"),
    "password.reset_link_issued": _l("Issued a password reset link"),
    "user.created": _l("Created an account"),
    "user.enabled": _l("Enabled an account"),
    "user.disabled": _l("Disabled an account"),
    "access.denied": _l("Access refused"),
    "outbox.retried": _l("Queued a failed message again"),
    "outbox.cancelled": _l("Cancelled a message"),
    "content.created": _l("Created a content item"),
    "content.edited": _l("Edited a content item"),
    "content.submitted": _l("Submitted a content item for review"),
    "content.published": _l("Published a content item"),
    "content.returned": _l("Sent a content item back to its author"),
    "content.retracted": _l("Retracted a content item"),
    "content.restored": _l("Restored an earlier revision"),
    "content.attachment_added": _l("Attached a file to a content item"),
    "content.attachment_removed": _l("Removed a file from a content item"),
    "content.went_live": _l("Content went online at its scheduled time"),
    "content.expired": _l("Content went offline at its expiry time"),
    "content.loaded.created": _l("Shipped content loaded (new)"),
    "content.loaded.updated": _l("Shipped content loaded (updated)"),
}

# Why a request was refused (the `reason` of an access.denied entry).
REASON_LABELS: dict[str, Any] = {
    "role": _l("the account's role may not open this page"),
    "not_found": _l("the record does not exist or is out of the account's reach"),
    "not_allowed": _l("the account may not do this"),
    "township": _l("the record belongs to another township"),
}


@dataclass(frozen=True)
class TargetType:
    """What an entry's target is called, and the page that shows it (endpoint, id argument)."""

    label: Any
    endpoint: str | None = None
    argument: str | None = None


TARGET_TYPES: dict[str, TargetType] = {
    "user": TargetType(_l("Account"), "admin.user_detail", "user_id"),
    "item": TargetType(_l("Content item"), "publicity.item", "item_id"),
    "outbox_message": TargetType(_l("Message")),
}


def register_actions(labels: Mapping[str, Any]) -> None:
    """Add an area's action codes and their labels (lazy strings) to the log's vocabulary."""
    ACTION_LABELS.update(labels)


def register_target(name: str, target: TargetType) -> None:
    """Add an area's target type and the page that shows one."""
    TARGET_TYPES[name] = target


def action_label(code: str) -> str:
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


class AuditFilterError(DomainError):
    """A filter of the audit log page that cannot be applied."""


@dataclass(frozen=True)
class AuditQuery:
    """The audit log page's filters: action code, actor's name or login, township, dates."""

    action: str = ""
    actor: str = ""
    township: str = ""
    since: date | None = None
    until: date | None = None


ACTOR_MAX = 40
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _day(value: str, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise AuditFilterError(
            N_("Enter the date as year-month-day, for example 2026-11-29."), field=field
        ) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise AuditFilterError(
            N_("Enter a date between the years %(first)d and %(last)d."),
            field=field,
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return day


def parse_query(
    *,
    action: str = "",
    actor: str = "",
    township: str = "",
    since: str = "",
    until: str = "",
    townships: Mapping[str, Any] | None = None,
) -> AuditQuery:
    """Check the typed filters; AuditFilterError names the field of the first problem."""
    action, actor, township = (
        (action or "").strip(),
        (actor or "").strip(),
        (township or "").strip(),
    )
    if action and action not in ACTION_LABELS:
        raise AuditFilterError(N_("Choose an action from the list."), field="action")
    if len(actor) > ACTOR_MAX:
        raise AuditFilterError(
            N_("A name or login has at most %(max)d characters."),
            field="actor",
            params={"max": ACTOR_MAX},
        )
    if township and township not in (townships or {}):
        raise AuditFilterError(N_("Choose a township from the list."), field="township")
    first, last = _day(since, "since"), _day(until, "until")
    if first and last and last < first:
        raise AuditFilterError(N_("The end date is before the start date."), field="until")
    return AuditQuery(action=action, actor=actor, township=township, since=first, until=last)


def _china_midnight(day: date) -> datetime:
    """The start of a day in China time, as aware UTC."""
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class AuditRow:
    """One entry as a person reads it."""

    entry: AuditEntry
    action: str
    actor: str
    actor_id: int | None
    target: str
    target_endpoint: str | None
    target_args: dict[str, int]
    detail: str


def _actor_label(entry: AuditEntry, users: Mapping[int, Any]) -> str:
    if entry.actor_id is not None:
        user = users.get(entry.actor_id)
        return user.name if user is not None else str(_l("Account no. %(id)s", id=entry.actor_id))
    if entry.ip:
        return str(_l("Visitor (not logged in)"))
    return str(_l("The portal (scheduled job or command)"))


def _target(entry: AuditEntry, users: Mapping[int, Any]) -> tuple[str, str | None, dict[str, int]]:
    if not entry.target_type:
        return "", None, {}
    kind = TARGET_TYPES.get(entry.target_type)
    name = str(kind.label) if kind else entry.target_type
    target_id = entry.target_id or ""
    if not target_id.isdigit():
        return f"{name} {target_id}".strip(), None, {}
    number = int(target_id)
    label = f"{name} #{number}"
    if entry.target_type == "user" and number in users:
        label = f"{name} {users[number].name}"
    if kind is None or kind.endpoint is None or kind.argument is None:
        return label, None, {}
    return label, kind.endpoint, {kind.argument: number}


def _detail(entry: AuditEntry) -> str:
    detail = entry.detail or {}
    if entry.action == "access.denied":
        reason = detail.get("reason")
        return str(REASON_LABELS.get(reason, reason or ""))
    if entry.action in ("login.failed", "login.locked") and detail.get("login"):
        return str(_l("Login typed: %(login)s", login=detail["login"]))
    if detail.get("revision"):
        return str(_l("Revision %(num)s", num=detail["revision"]))
    return ""


def search(session: Session, query: AuditQuery, *, page: int, per_page: int) -> Page:
    """One page of entries matching the filters, newest first, as AuditRow items."""
    from portal.auth.models import User

    statement = select(AuditEntry).order_by(AuditEntry.id.desc())
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.actor or query.township:
        statement = statement.join(User, User.id == AuditEntry.actor_id)
    if query.actor:
        typed = query.actor
        statement = statement.where(
            or_(
                User.name.icontains(typed, autoescape=True),
                User.phone == typed,
                User.email == typed.lower(),
            )
        )
    if query.township:
        statement = statement.where(User.township_code == query.township)
    if query.since:
        statement = statement.where(AuditEntry.at >= _china_midnight(query.since))
    if query.until:
        statement = statement.where(
            AuditEntry.at < _china_midnight(query.until + timedelta(days=1))
        )
    found = paginate(session, statement, page=page, per_page=per_page)
    ids = {e.actor_id for e in found.items if e.actor_id is not None}
    ids |= {
        int(e.target_id)
        for e in found.items
        if e.target_type == "user" and (e.target_id or "").isdigit()
    }
    users = {u.id: u for u in session.exec(select(User).where(User.id.in_(ids)))} if ids else {}
    rows = []
    for entry in found.items:
        target, endpoint, args = _target(entry, users)
        rows.append(
            AuditRow(
                entry=entry,
                action=action_label(entry.action),
                actor=_actor_label(entry, users),
                actor_id=entry.actor_id if entry.actor_id in users else None,
                target=target,
                target_endpoint=endpoint,
                target_args=args,
                detail=_detail(entry),
            )
        )
    return found.with_items(rows)
