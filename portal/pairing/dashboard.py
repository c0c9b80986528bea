"""Dashboard figures: per township, children waiting, active pairings, overdue visits and
volunteers whose check expires soon. Grouped queries, one per figure, whatever the size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app, has_app_context
from sqlalchemy import func
from sqlmodel import Session, select

from portal.auth.models import User
from portal.core.scoping import scope_query
from portal.pairing.models import (
    OPEN_STATUSES,
    Child,
    ChildStatus,
    Pairing,
    PairingStatus,
    Visit,
    VisitStatus,
)
from portal.places import Township
from portal.timeutil import china_today
from portal.volunteers import services as volunteers
from portal.volunteers.models import Status as VolunteerStatus
from portal.volunteers.models import Volunteer


@dataclass
class Figures:
    township: str
    name: str
    waiting: int = 0
    active: int = 0
    overdue: int = 0
    expiring: int = 0


def reminder_days() -> int:
    if has_app_context():
        return int(current_app.config.get("PORTAL_VISIT_REMINDER_DAYS", 30))
    return 30


def _grouped(session: Session, statement) -> dict[str, int]:
    return {code: count for code, count in session.exec(statement)}


def figures(session: Session, user: User, *, today: date | None = None) -> list[Figures]:
    """One row per township the user may see, in code order."""
    today = today or china_today()
    townships = session.exec(
        scope_query(select(Township), Township.code, user).order_by(Township.code)
    ).all()
    open_children = select(Pairing.child_id).where(Pairing.status.in_(list(OPEN_STATUSES)))
    waiting = _grouped(
        session,
        select(Child.township_code, func.count())
        .where(Child.status == ChildStatus.IN_PROGRAMME, Child.id.not_in(open_children))
        .group_by(Child.township_code),
    )
    active = _grouped(
        session,
        select(Pairing.township_code, func.count())
        .where(Pairing.status == PairingStatus.ACTIVE)
        .group_by(Pairing.township_code),
    )
    last_visit = (
        select(Visit.pairing_id, func.max(Visit.visited_on).label("last"))
        .where(Visit.status != VisitStatus.RETURNED)
        .group_by(Visit.pairing_id)
        .subquery()
    )
    cutoff = today - timedelta(days=reminder_days())
    overdue = _grouped(
        session,
        select(Pairing.township_code, func.count())
        .select_from(Pairing)
        .join(last_visit, last_visit.c.pairing_id == Pairing.id, isouter=True)
        .where(
            Pairing.status == PairingStatus.ACTIVE,
            func.coalesce(last_visit.c.last, Pairing.activated_on) <= cutoff,
        )
        .group_by(Pairing.township_code),
    )
    horizon = today + timedelta(days=max(volunteers.reminder_days()))
    expiring = _grouped(
        session,
        select(Volunteer.township_code, func.count())
        .where(
            Volunteer.status.in_([VolunteerStatus.VERIFIED, VolunteerStatus.ACTIVE]),
            Volunteer.check_expires <= horizon,
        )
        .group_by(Volunteer.township_code),
    )
    return [
        Figures(
            township=t.code,
            name=t.name,
            waiting=waiting.get(t.code, 0),
            active=active.get(t.code, 0),
            overdue=overdue.get(t.code, 0),
            expiring=expiring.get(t.code, 0),
        )
        for t in townships
    ]
