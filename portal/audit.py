"""Append-only audit log (审计日志): who did what, when, from where."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, Column, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel

from portal.timeutil import UTCDateTime, utcnow


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
