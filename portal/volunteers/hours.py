"""Service hours (服务时长): credited from confirmed visits and from activities staff enter.

Kept in whole minutes. A visit credits its hours once (`credit_visit` is idempotent on the
visit), and an entry is voided (with a reason), never deleted. Star levels follow the common
scale of 100, 300, 600, 1000 and 1500 hours.

Certificates (志愿服务记录证明) state the non-voided hours of a period, fixed when issued; each
has a number (ZM + year + six digits) anyone can check on the public verification page, which
shows only the masked name, the volunteer number, the hours and the issue date. A certificate
is revoked (with a reason), never deleted.

Nothing here changes what the public pages of the area show (the active-volunteer figures;
the verification page is not cached), so these services do not bump the area's cache version.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit
from portal.auth.models import Role, User
from portal.core import numbering, protect
from portal.core.domain import NotAllowed, NotFound
from portal.core.scoping import check_township, scope_query, township_scope
from portal.i18n import N_
from portal.places import Township
from portal.timeutil import china_today, utcnow
from portal.volunteers.models import PARTY_CODES, Certificate, ServiceRecord, Status, Volunteer
from portal.volunteers.services import REASON_MAX, VolunteerError, is_staff

STAR_HOURS = (100, 300, 600, 1000, 1500)
MINUTES_MAX = 24 * 60
CONTENT_MAX = 200
ISSUER_MAX = 60
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
CERTIFICATE_PREFIX = "ZM"
CERTIFICATE_RE = re.compile(r"ZM\d{10}")
COUNTY_ISSUER = "松阳县民政局"
HOURS_RE = re.compile(r"\d{1,3}(?:\.\d)?|\.\d")
MINUTES_RE = re.compile(r"\d{1,5}")

audit.register_actions(
    {
        "volunteer.hours_added": _l("Volunteer service hours recorded"),
        "volunteer.visit_credited": _l("Visit hours credited to a volunteer"),
        "volunteer.hours_voided": _l("Volunteer service record voided"),
        "volunteer.service_certificate_issued": _l("Service record certificate issued"),
        "volunteer.service_certificate_revoked": _l("Service record certificate revoked"),
        "volunteer.party_record_exported": _l("Party members' quarterly service record exported"),
    }
)


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


# Reading -----------------------------------------------------------------------------------


def records_statement(volunteer_id: int):
    """Every service record of a volunteer, voided ones too, newest first (the staff page)."""
    return (
        select(ServiceRecord)
        .where(ServiceRecord.volunteer_id == volunteer_id)
        .order_by(ServiceRecord.served_on.desc(), ServiceRecord.id.desc())
    )


def first_service_day(session: Session, volunteer_id: int) -> date | None:
    return session.exec(counted(select(func.min(ServiceRecord.served_on)), volunteer_id)).one()


def record_of(session: Session, volunteer: Volunteer, record_id: int) -> ServiceRecord:
    """A record of this volunteer (the volunteer already checked for the user's townships)."""
    record = session.get(ServiceRecord, record_id)
    if record is None or record.volunteer_id != volunteer.id:
        raise NotFound(reason="not_found")
    return record


def certificate_for(session: Session, user: User, number: str) -> Certificate:
    """A certificate for its volunteer or for staff of its township; NotFound for anyone else."""
    certificate = certificate_by_number(session, number)
    if certificate is None:
        raise NotFound(reason="not_found")
    volunteer = session.get(Volunteer, certificate.volunteer_id)
    if user.is_authenticated and volunteer.user_id == user.id:
        return certificate
    if not is_staff(user):
        raise NotFound(reason="not_own")
    check_township(user, volunteer.township_code)
    return certificate


def normalise_number(text: str | None) -> str | None:
    """A typed certificate number in its stored form (ZM2026000001), or None if malformed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"[\s\-_]+", "", text).upper()
    return text if CERTIFICATE_RE.fullmatch(text) else None


def certificate_by_number(session: Session, number: str | None) -> Certificate | None:
    number = normalise_number(number)
    if number is None:
        return None
    return session.exec(select(Certificate).where(Certificate.number == number)).first()


@dataclass(frozen=True)
class Verification:
    """What the public verification page may show of a certificate, and nothing more."""

    number: str
    masked_name: str
    volunteer_number: str
    hours: str
    issued_on: date
    revoked: bool


def verify(session: Session, number: str | None) -> Verification:
    """The public answer for a typed number; a malformed or unknown number is a field error."""
    normalised = normalise_number(number)
    if normalised is None:
        raise VolunteerError(
            N_("A certificate number is ZM followed by 10 digits, such as ZM2026000001."),
            "number",
        )
    certificate = certificate_by_number(session, normalised)
    if certificate is None:
        raise VolunteerError(
            N_(
                "No certificate has the number %(number)s. Check the number on the certificate "
                "and try again."
            ),
            "number",
            params={"number": normalised},
        )
    return Verification(
        number=certificate.number,
        masked_name=protect.mask_name(certificate.name),
        volunteer_number=certificate.volunteer_number,
        hours=format_hours(certificate.minutes),
        issued_on=certificate.issued_on,
        revoked=certificate.revoked_at is not None,
    )


# Input -------------------------------------------------------------------------------------


def parse_duration(hours: str | None, minutes: str | None) -> int:
    """Whole minutes from hours with at most one decimal ("1.5") or from minutes ("90")."""
    hours = unicodedata.normalize("NFKC", hours or "").strip()
    minutes = unicodedata.normalize("NFKC", minutes or "").strip()
    if hours and minutes:
        raise VolunteerError(N_("Give the hours or the minutes, not both."), "minutes")
    if not hours and not minutes:
        raise VolunteerError(N_("Enter the hours (such as 1.5) or the minutes."), "hours")
    if hours:
        if not HOURS_RE.fullmatch(hours):
            raise VolunteerError(
                N_("Enter the hours as a number with at most one decimal, such as 1.5."), "hours"
            )
        value = int(Decimal(hours) * 60)
        name = "hours"
    else:
        if not MINUTES_RE.fullmatch(minutes):
            raise VolunteerError(N_("Enter the minutes as a whole number, such as 90."), "minutes")
        value = int(minutes)
        name = "minutes"
    check_minutes(value, name)
    return value


def check_minutes(minutes: Any, name: str = "minutes") -> None:
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not (1 <= minutes <= MINUTES_MAX)
    ):
        raise VolunteerError(N_("One day's service lasts from 1 minute to 24 hours."), name)


def _served_on(served_on: Any, today: date) -> date:
    if not isinstance(served_on, date):
        raise VolunteerError(N_("Enter the date of the service."), "served_on")
    if not FIRST_DAY <= served_on <= LAST_DAY:
        raise VolunteerError(N_("Enter a date between the years 2000 and 2100."), "served_on")
    if served_on > today:
        raise VolunteerError(N_("The date of the service cannot be in the future."), "served_on")
    return served_on


def _text(value: str | None, name: str, limit: int, empty: str) -> str:
    value = (value or "").strip()
    if not value:
        raise VolunteerError(empty, name)
    if len(value) > limit:
        raise VolunteerError(N_("At most %(max)d characters."), name, params={"max": limit})
    return value


def _reason(reason: str | None) -> str:
    return _text(reason, "reason", REASON_MAX, N_("Give the reason."))


def _staff_in_scope(user: User, volunteer: Volunteer) -> None:
    if not is_staff(user):
        raise NotAllowed(reason="role")
    check_township(user, volunteer.township_code)


def _open(volunteer: Volunteer) -> None:
    if volunteer.status == Status.WITHDRAWN:
        raise VolunteerError(N_("This volunteer has withdrawn: no hours or certificates now."))


def _audit(
    session: Session,
    action: str,
    volunteer: Volunteer,
    actor_id: int | None,
    ip: str | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        actor_id=actor_id,
        target_type="volunteer",
        target_id=volunteer.id,
        ip=ip,
        township=volunteer.township_code,
        **detail,
    )


# Hours -------------------------------------------------------------------------------------


def add_activity(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    served_on: date,
    minutes: int,
    content: str,
    ip: str | None = None,
    today: date | None = None,
) -> ServiceRecord:
    """An activity (not a visit) entered by staff of the volunteer's township."""
    _staff_in_scope(actor, volunteer)
    _open(volunteer)
    today = today or china_today()
    served_on = _served_on(served_on, today)
    check_minutes(minutes)
    content = _text(content, "content", CONTENT_MAX, N_("Describe the service."))
    record = ServiceRecord(
        volunteer_id=volunteer.id,
        kind="activity",
        served_on=served_on,
        minutes=minutes,
        content=content,
        entered_by=actor.id,
    )
    session.add(record)
    session.flush()
    _audit(
        session,
        "volunteer.hours_added",
        volunteer,
        actor.id,
        ip,
        record=record.id,
        served_on=served_on.isoformat(),
        minutes=minutes,
    )
    return record


def credit_visit(
    session: Session,
    *,
    volunteer_id: int,
    visit_id: int,
    served_on: date,
    minutes: int,
    content: str,
    actor_id: int | None = None,
    ip: str | None = None,
    today: date | None = None,
) -> ServiceRecord:
    """Credit a confirmed visit's time to its volunteer, once: a second call returns the first.

    A record of the visit that was voided stays voided (the visit is not credited again).
    """
    key = f"visit:{visit_id}"
    existing = session.exec(select(ServiceRecord).where(ServiceRecord.source_key == key)).first()
    if existing is not None:
        return existing
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound(reason="not_found")
    today = today or china_today()
    served_on = _served_on(served_on, today)
    check_minutes(minutes)
    content = _text(content, "content", CONTENT_MAX, N_("Describe the service."))
    record = ServiceRecord(
        volunteer_id=volunteer_id,
        kind="visit",
        source_key=key,
        served_on=served_on,
        minutes=minutes,
        content=content,
        entered_by=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # Credited by another request meanwhile: the savepoint undid this insert.
        return session.exec(select(ServiceRecord).where(ServiceRecord.source_key == key)).one()
    _audit(
        session,
        "volunteer.visit_credited",
        volunteer,
        actor_id,
        ip,
        record=record.id,
        visit=visit_id,
        served_on=served_on.isoformat(),
        minutes=minutes,
    )
    return record


def void_record(
    session: Session,
    record: ServiceRecord,
    *,
    actor: User,
    reason: str,
    ip: str | None = None,
) -> None:
    """Take a record out of the hours (entered by mistake); it stays, marked and explained."""
    volunteer = session.get(Volunteer, record.volunteer_id)
    _staff_in_scope(actor, volunteer)
    reason = _reason(reason)
    if record.voided_at is not None:
        raise VolunteerError(N_("This record is already voided."))
    record.voided_at = utcnow()
    record.voided_by = actor.id
    record.void_reason = reason
    session.add(record)
    session.flush()
    _audit(
        session,
        "volunteer.hours_voided",
        volunteer,
        actor.id,
        ip,
        record=record.id,
        minutes=record.minutes,
        reason=reason,
    )


def certificates_covering(session: Session, record: ServiceRecord) -> list[Certificate]:
    """Valid certificates whose period holds this record (voiding it does not change them)."""
    return list(
        session.exec(
            select(Certificate).where(
                Certificate.volunteer_id == record.volunteer_id,
                Certificate.revoked_at.is_(None),
                Certificate.period_start <= record.served_on,
                Certificate.period_end >= record.served_on,
            )
        )
    )


# Certificates ------------------------------------------------------------------------------


def default_issuer(session: Session, user: User) -> str:
    """Township staff issue in their township government's name, the county in 民政局's."""
    if user.role == Role.TOWNSHIP_STAFF and user.township_code:
        township = session.get(Township, user.township_code)
        if township is not None:
            return f"{township.name}人民政府"
    return COUNTY_ISSUER


def default_content(session: Session, volunteer: Volunteer, start: date, end: date) -> str:
    """What the certificate says was done, from the counted records of the period."""
    records = session.exec(
        counted(select(ServiceRecord), volunteer.id)
        .where(ServiceRecord.served_on >= start, ServiceRecord.served_on <= end)
        .order_by(ServiceRecord.served_on, ServiceRecord.id)
    ).all()
    visits = sum(1 for r in records if r.kind == "visit")
    activities: list[str] = []
    for r in records:
        if r.kind != "visit" and r.content not in activities:
            activities.append(r.content)
    parts = []
    if visits:
        parts.append(f"关爱留守儿童一对一结对帮扶走访{visits}次")
    if activities:
        parts.append("参加志愿服务活动：" + "；".join(activities))
    text = "，".join(parts) or "关爱留守儿童志愿服务"
    return text if len(text) <= CONTENT_MAX else text[: CONTENT_MAX - 1] + "…"


def next_certificate_number(session: Session, year: int) -> str:
    return numbering.next_in_year(session, Certificate.number, CERTIFICATE_PREFIX, year)


def _insert_with_number(session: Session, certificate: Certificate, year: int) -> None:
    """The next free number; two certificates issued at once retry on the unique index."""
    numbering.insert_numbered(
        session,
        certificate,
        "number",
        lambda: next_certificate_number(session, year),
        busy=VolunteerError(N_("The portal is busy. Please submit again.")),
    )


def check_period(period_start: Any, period_end: Any, today: date | None = None) -> None:
    """A certificate's period: two dates, in order, not ending in the future."""
    today = today or china_today()
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, date):
            raise VolunteerError(N_("Enter the date."), name)
        if not FIRST_DAY <= value <= LAST_DAY:
            raise VolunteerError(N_("Enter a date between the years 2000 and 2100."), name)
    if period_end > today:
        raise VolunteerError(N_("The period cannot end in the future."), "period_end")
    if period_start > period_end:
        raise VolunteerError(
            N_("The period must start on or before the day it ends."), "period_start"
        )


def issue_certificate(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    period_start: date,
    period_end: date,
    content: str,
    issuer: str,
    ip: str | None = None,
    today: date | None = None,
) -> Certificate:
    """A certificate of the counted hours between two dates (inclusive), numbered ZM…."""
    _staff_in_scope(actor, volunteer)
    _open(volunteer)
    today = today or china_today()
    check_period(period_start, period_end, today)
    content = _text(content, "content", CONTENT_MAX, N_("Describe the service."))
    issuer = _text(issuer, "issuer", ISSUER_MAX, N_("Enter the issuing organisation."))
    minutes = total_minutes(session, volunteer.id, start=period_start, end=period_end)
    if minutes == 0:
        raise VolunteerError(
            N_(
                "No service hours are recorded between these dates, so there is nothing to "
                "certify. Choose a period with recorded service."
            ),
            "period_start",
        )
    certificate = Certificate(
        number="",
        volunteer_id=volunteer.id,
        name=volunteer.name,
        id_type=volunteer.id_type,
        id_masked=volunteer.id_masked,
        volunteer_number=volunteer.number,
        minutes=minutes,
        period_start=period_start,
        period_end=period_end,
        content=content,
        issuer=issuer,
        issued_on=today,
        issued_by=actor.id,
    )
    _insert_with_number(session, certificate, today.year)
    _audit(
        session,
        "volunteer.service_certificate_issued",
        volunteer,
        actor.id,
        ip,
        number=certificate.number,
        minutes=minutes,
        period=f"{period_start.isoformat()}/{period_end.isoformat()}",
    )
    return certificate


def revoke_certificate(
    session: Session,
    certificate: Certificate,
    *,
    actor: User,
    reason: str,
    ip: str | None = None,
) -> None:
    """The certificate no longer holds: verification says it is revoked."""
    volunteer = session.get(Volunteer, certificate.volunteer_id)
    _staff_in_scope(actor, volunteer)
    reason = _reason(reason)
    if certificate.revoked_at is not None:
        raise VolunteerError(N_("This certificate is already revoked."))
    certificate.revoked_at = utcnow()
    certificate.revoke_reason = reason
    session.add(certificate)
    session.flush()
    _audit(
        session,
        "volunteer.service_certificate_revoked",
        volunteer,
        actor.id,
        ip,
        number=certificate.number,
        reason=reason,
    )


# Party members' quarterly record (在职党员双报到) --------------------------------------------


@dataclass(frozen=True)
class PartyMember:
    """One Party member's service in a quarter, for the employer."""

    volunteer: Volunteer
    records: list[ServiceRecord]

    @property
    def minutes(self) -> int:
        return sum(r.minutes for r in self.records)


def quarter_days(year: int, quarter: int) -> tuple[date, date]:
    first = date(year, 3 * quarter - 2, 1)
    last = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, date.fromordinal(last.toordinal() - 1)


def check_quarter(year: Any, quarter: Any) -> tuple[int, int]:
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise VolunteerError(N_("Enter a year between 2000 and 2100."), "year")
    if not isinstance(quarter, int) or not 1 <= quarter <= 4:
        raise VolunteerError(N_("Choose a quarter."), "quarter")
    return year, quarter


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def party_quarter_rows(
    session: Session, user: User, year: int, quarter: int, employer: str | None = None
) -> list[PartyMember]:
    """Party members (01, 02) of the user's townships with counted service in the quarter.

    `employer` keeps those whose employer contains the text. Each member's records are in
    date order; members are ordered by employer, then name.
    """
    if not is_staff(user):
        raise NotAllowed(reason="role")
    year, quarter = check_quarter(year, quarter)
    first, last = quarter_days(year, quarter)
    statement = (
        select(Volunteer, ServiceRecord)
        .join(ServiceRecord, ServiceRecord.volunteer_id == Volunteer.id)
        .where(
            Volunteer.political_status.in_(sorted(PARTY_CODES)),
            ServiceRecord.voided_at.is_(None),
            ServiceRecord.served_on >= first,
            ServiceRecord.served_on <= last,
        )
    )
    statement = scope_query(statement, Volunteer.township_code, user)
    employer = (employer or "").strip()
    if employer:
        statement = statement.where(Volunteer.employer.like(_like(employer), escape="\\"))
    statement = statement.order_by(
        Volunteer.employer, Volunteer.name, Volunteer.id, ServiceRecord.served_on, ServiceRecord.id
    )
    members: dict[int, PartyMember] = {}
    for volunteer, record in session.exec(statement):
        member = members.get(volunteer.id)
        if member is None:
            member = members[volunteer.id] = PartyMember(volunteer, [])
        member.records.append(record)
    return list(members.values())


def record_party_export(
    session: Session,
    user: User,
    *,
    year: int,
    quarter: int,
    employer: str | None,
    members: int,
    ip: str | None = None,
) -> None:
    scope = township_scope(user)
    audit.record(
        session,
        action="volunteer.party_record_exported",
        actor_id=user.id,
        ip=ip,
        year=year,
        quarter=quarter,
        employer=employer or None,
        members=members,
        township=None if scope.everywhere else scope.township,
    )
