"""Service hours (服务时长): credited from confirmed visits and from activities staff enter.

Kept in whole minutes. A visit credits its hours once (`credit_visit` is idempotent on the
visit), and an entry is voided (with a reason), never deleted. Star levels follow the common
scale of 100, 300, 600, 1000 and 1500 hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, select

from portal.volunteers.models import Certificate, ServiceRecord, Volunteer

STAR_HOURS = (100, 300, 600, 1000, 1500)


def star_level(minutes: int) -> int:
    """0 to 5 stars: how many of the thresholds the hours have reached."""
    return sum(1 for hours in STAR_HOURS if minutes >= hours * 60)


def next_star_hours(minutes: int) -> int | None:
    """The hours of the next star, or None at five stars."""
    for hours in STAR_HOURS:
        if minutes < hours * 60:
            return hours
    return None


def format_hours(minutes: int) -> str:
    """Minutes as hours with at most one decimal: 90 → "1.5"."""
    hours = minutes / 60
    return f"{hours:.1f}".rstrip("0").rstrip(".") if hours % 1 else f"{int(hours)}"


def counted(statement, volunteer_id: int):
    return statement.where(
        ServiceRecord.volunteer_id == volunteer_id, ServiceRecord.voided_at.is_(None)
    )


def total_minutes(
    session: Session, volunteer_id: int, *, start: date | None = None, end: date | None = None
) -> int:
    statement = counted(select(func.coalesce(func.sum(ServiceRecord.minutes), 0)), volunteer_id)
    if start is not None:
        statement = statement.where(ServiceRecord.served_on >= start)
    if end is not None:
        statement = statement.where(ServiceRecord.served_on <= end)
    return int(session.exec(statement).one())


@dataclass(frozen=True)
class Summary:
    minutes: int
    stars: int
    next_star: int | None
    records: list[ServiceRecord] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def hours(self) -> str:
        return format_hours(self.minutes)

    @property
    def progress(self) -> int:
        """Percent of the way from the last star to the next one."""
        if self.next_star is None:
            return 100
        previous = ([0, *STAR_HOURS])[self.stars] * 60
        span = self.next_star * 60 - previous
        return int(100 * (self.minutes - previous) / span)


def summary(session: Session, volunteer: Volunteer, *, recent: int = 10) -> Summary:
    minutes = total_minutes(session, volunteer.id)
    records = session.exec(
        select(ServiceRecord)
        .where(ServiceRecord.volunteer_id == volunteer.id)
        .order_by(ServiceRecord.served_on.desc(), ServiceRecord.id.desc())
        .limit(recent)
    ).all()
    certificates = session.exec(
        select(Certificate)
        .where(Certificate.volunteer_id == volunteer.id)
        .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
    ).all()
    return Summary(
        minutes=minutes,
        stars=star_level(minutes),
        next_star=next_star_hours(minutes),
        records=list(records),
        certificates=list(certificates),
    )
