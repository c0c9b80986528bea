"""Visits (帮扶记录): the volunteer logs each contact, township staff confirm or return it.

- Only the paired volunteer of an *active* pairing logs a visit, dated between the day the
  pairing became active and today. A returned visit is corrected and sent again by the
  volunteer; a confirmed one is final.
- Confirming a visit credits its minutes to the volunteer's service hours, once
  (`hours.credit_visit` is idempotent on the visit).
- A visit reporting a safety problem alerts the township's staff at once.
- A gap without a visit (counted from the last visit that was not returned, or from the day
  the pairing became active) reminds the volunteer after PORTAL_VISIT_REMINDER_DAYS (30) and
  alerts township staff after PORTAL_VISIT_ESCALATION_DAYS (45). The messages' keys hold the
  day the gap started, so each is sent once per gap and a new visit starts a new gap.
- A volunteer sees only what the visits need of their child (security.md 10): the first name,
  age, village and needs, and the guardian's contact while the pairing is active
  (`child_for_volunteer`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlmodel import Session, select

from portal import audit, notify
from portal.auth.models import Role, User
from portal.core.domain import DomainError, NotFound
from portal.core.fields import max_length
from portal.core.scoping import check_township, scope_query
from portal.i18n import N_
from portal.pairing import services
from portal.pairing.children import NEED_LABELS, RELATION_LABELS  # noqa: F401 - the pages' labels
from portal.pairing.models import (
    CONDITION_AREAS,
    HELP_KINDS,
    VISIT_MODES,
    Child,
    Pairing,
    PairingStatus,
    Visit,
    VisitBase,
    VisitStatus,
)
from portal.timeutil import china_today, utcnow
from portal.volunteers import hours
from portal.volunteers import services as volunteers
from portal.volunteers.idnumber import age_on
from portal.volunteers.models import ServiceRecord, Volunteer

MINUTES_MIN, MINUTES_MAX = 5, 12 * 60
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
COMMENT_MAX = 200
CREDIT_CONTENT = "帮扶走访"  # the service record's content (data, kept in Chinese)
TEXT_FIELDS = (
    "condition_study",
    "condition_life",
    "condition_safety",
    "condition_psych",
    "help_note",
    "problems",
    "follow_up",
)
FIELDS = ("visited_on", "mode", "minutes", *TEXT_FIELDS, "safety_concern", "help_given")

MODE_LABELS = {
    "home": _l("Home visit"),
    "phone": _l("Phone call"),
    "video": _l("Video call"),
    "school": _l("At school"),
}
HELP_LABELS = {
    "goods": _l("Goods"),
    "tutoring": _l("Tutoring"),
    "counselling": _l("Counselling"),
    "referral": _l("Referral"),
}
CONDITION_LABELS = {
    "study": _l("Study"),
    "life": _l("Daily life"),
    "safety": _l("Safety"),
    "psych": _l("Feelings"),
}
VISIT_STATUS_LABELS = {
    VisitStatus.LOGGED: _l("Waiting for confirmation"),
    VisitStatus.CONFIRMED: _l("Confirmed"),
    VisitStatus.RETURNED: _l("Returned for correction"),
}
assert set(MODE_LABELS) == set(VISIT_MODES) and set(HELP_LABELS) == set(HELP_KINDS)
assert set(CONDITION_LABELS) == set(CONDITION_AREAS)

notify.register_template(
    "pairing.visit_safety",
    subject=N_("Safety problem reported for child {child_code}"),
    body=N_(
        "Volunteer {number} reported a safety problem after contact with child {child_code} "
        "in {village} on {day}: {detail} Please act now."
    ),
    sms=N_(
        "Songyang care portal: a safety problem was reported for child {child_code} on {day}. "
        "Please check the visit record now."
    ),
)
notify.register_template(
    "pairing.visit_returned",
    subject=N_("Your visit record was returned"),
    body=N_(
        "Township staff returned your record of the visit with {first_name} on {day}: "
        "{comment} Please correct it and send it again."
    ),
)
notify.register_template(
    "pairing.visit_gap",
    subject=N_("No visit logged for {days} days"),
    body=N_(
        "You have logged no visit with {first_name} since {since}. Please visit or call, "
        "then log the visit on your volunteer page."
    ),
)
notify.register_template(
    "pairing.visit_gap_staff",
    subject=N_("No visit for {days} days ({child_code})"),
    body=N_(
        "Volunteer {number} has logged no visit with child {child_code} since {since}. "
        "Please follow up with the volunteer."
    ),
)

audit.register_actions(
    {
        "visit.logged": _l("Visit logged"),
        "visit.resubmitted": _l("Returned visit corrected and sent again"),
        "visit.confirmed": _l("Visit confirmed"),
        "visit.returned": _l("Visit returned to the volunteer"),
    }
)
audit.register_target(
    "pairing_visit", audit.TargetType(_l("Visit record"), "pairing.visit_detail", "visit_id")
)


class VisitError(DomainError):
    """A visit rule was broken; the message is translatable."""


# Settings -------------------------------------------------------------------------------------


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default) if has_app_context() else default)


def reminder_days() -> int:
    return _setting("PORTAL_VISIT_REMINDER_DAYS", 30)


def escalation_days() -> int:
    return _setting("PORTAL_VISIT_ESCALATION_DAYS", 45)


# Checking what the volunteer wrote ------------------------------------------------------------


@dataclass(frozen=True)
class VisitInput:
    """A visit as checked by `check_input`: what is written on the row."""

    visited_on: date
    mode: str
    minutes: int
    safety_concern: bool
    help_given: list[str]
    texts: dict[str, str | None] = field(default_factory=dict)


def parse_minutes(typed: Any) -> int:
    """The duration typed in whole minutes (full-width digits too), or a field error."""
    if isinstance(typed, int) and not isinstance(typed, bool):
        value = typed
    else:
        text = unicodedata.normalize("NFKC", str(typed or "")).strip()
        if not text:
            raise VisitError(N_("Enter how many minutes the visit lasted."), "minutes")
        if not text.isdigit() or len(text) > 5:
            raise VisitError(N_("Enter whole minutes, for example 45."), "minutes")
        value = int(text)
    if not MINUTES_MIN <= value <= MINUTES_MAX:
        raise VisitError(
            N_("A visit lasts from %(min)d to %(max)d minutes."),
            "minutes",
            params={"min": MINUTES_MIN, "max": MINUTES_MAX},
        )
    return value


def check_input(values: dict[str, Any], pairing: Pairing, today: date) -> VisitInput:
    """The first problem of a visit as a field error; nothing is written."""
    day = values.get("visited_on")
    if not isinstance(day, date):
        raise VisitError(N_("Enter the date of the visit."), "visited_on")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise VisitError(N_("Enter a date between the years 2000 and 2100."), "visited_on")
    if day > today:
        raise VisitError(N_("The date of the visit cannot be in the future."), "visited_on")
    if pairing.activated_on is not None and day < pairing.activated_on:
        raise VisitError(
            N_("The visit cannot be before the pairing became active (%(day)s)."),
            "visited_on",
            params={"day": pairing.activated_on.isoformat()},
        )
    mode = values.get("mode") or ""
    if mode not in VISIT_MODES:
        raise VisitError(N_("Choose how you were in contact."), "mode")
    minutes = parse_minutes(values.get("minutes"))
    texts: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        text = (values.get(name) or "").strip() or None
        limit = max_length(VisitBase, name)
        if text and len(text) > limit:
            raise VisitError(N_("At most %(max)d characters."), name, params={"max": limit})
        texts[name] = text
    help_given = list(dict.fromkeys(values.get("help_given") or []))
    if any(kind not in HELP_KINDS for kind in help_given):
        raise VisitError(N_("Choose the help from the list."), "help_given")
    safety = bool(values.get("safety_concern"))
    if safety and not texts["condition_safety"]:
        raise VisitError(
            N_("Describe the safety problem here, so that township staff can act."),
            "condition_safety",
        )
    return VisitInput(day, mode, minutes, safety, help_given, texts)


def _write(visit: Visit, data: VisitInput) -> None:
    visit.visited_on = data.visited_on
    visit.mode = data.mode
    visit.minutes = data.minutes
    visit.safety_concern = data.safety_concern
    visit.help_given = list(data.help_given)
    for name, text in data.texts.items():
        setattr(visit, name, text)


def form_values(visit: Visit) -> dict[str, Any]:
    """A visit's fields as a form shows them (to correct a returned visit)."""
    values = {name: getattr(visit, name) for name in FIELDS}
    values["minutes"] = str(visit.minutes)
    return values


# The volunteer ----------------------------------------------------------------------------------


def _own_pairing(session: Session, user: User, pairing: Pairing) -> Volunteer:
    volunteer = volunteers.for_user(session, user)
    if volunteer is None or pairing.volunteer_id != volunteer.id:
        raise NotFound(reason="not_found")
    return volunteer


def can_log(pairing: Pairing) -> bool:
    return pairing.status == PairingStatus.ACTIVE


def log(
    session: Session,
    pairing: Pairing,
    *,
    user: User,
    values: dict[str, Any],
    ip: str | None = None,
    today: date | None = None,
) -> Visit:
    """The paired volunteer records a contact with the child (active pairings only)."""
    volunteer = _own_pairing(session, user, pairing)
    if not can_log(pairing):
        raise VisitError(N_("Visits are logged for an active pairing only."))
    data = check_input(values, pairing, today or china_today())
    visit = Visit(pairing_id=pairing.id, visited_on=data.visited_on, mode=data.mode, minutes=1)
    _write(visit, data)
    session.add(visit)
    session.flush()
    _audit(session, "visit.logged", visit, pairing, user, ip, safety=data.safety_concern)
    if data.safety_concern:
        _alert_safety(session, visit, pairing, volunteer)
    return visit


def get_visit_for_volunteer(session: Session, user: User, visit_id: int) -> tuple[Visit, Pairing]:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(reason="not_found")
    pairing = services.get_pairing_for_volunteer(session, user, visit.pairing_id)
    return visit, pairing


def resubmit(
    session: Session,
    visit: Visit,
    *,
    user: User,
    values: dict[str, Any],
    ip: str | None = None,
    today: date | None = None,
) -> None:
    """The volunteer corrects a returned visit; it waits for confirmation again."""
    pairing = session.get(Pairing, visit.pairing_id)
    volunteer = _own_pairing(session, user, pairing)
    if visit.status != VisitStatus.RETURNED:
        raise VisitError(N_("Only a visit returned by township staff can be corrected."))
    data = check_input(values, pairing, today or china_today())
    _write(visit, data)
    visit.status = VisitStatus.LOGGED
    session.add(visit)
    session.flush()
    _audit(session, "visit.resubmitted", visit, pairing, user, ip, safety=data.safety_concern)
    if data.safety_concern:
        _alert_safety(session, visit, pairing, volunteer)


# Township staff -------------------------------------------------------------------------------


def get_visit_for_staff(session: Session, user: User, visit_id: int) -> tuple[Visit, Pairing]:
    """A visit of the staff member's township (another township's is not found)."""
    services.require_staff(user)
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(reason="not_found")
    pairing = session.get(Pairing, visit.pairing_id)
    check_township(user, pairing.township_code)
    return visit, pairing


def confirm(
    session: Session,
    visit: Visit,
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> ServiceRecord:
    """Staff sign the visit off; its minutes are credited to the volunteer once."""
    pairing = session.get(Pairing, visit.pairing_id)
    services.require_staff(actor, pairing.township_code)
    if visit.status == VisitStatus.CONFIRMED:
        raise VisitError(N_("This visit is already confirmed."))
    if visit.status != VisitStatus.LOGGED:
        raise VisitError(N_("This visit was returned; it is confirmed once corrected."))
    with session.begin_nested():  # a refused credit leaves the visit waiting
        visit.status = VisitStatus.CONFIRMED
        visit.confirmed_by = actor.id
        visit.confirmed_at = utcnow()
        visit.return_comment = None
        session.add(visit)
        session.flush()
        record = hours.credit_visit(
            session,
            volunteer_id=pairing.volunteer_id,
            visit_id=visit.id,
            served_on=visit.visited_on,
            minutes=visit.minutes,
            content=CREDIT_CONTENT,
            actor_id=actor.id,
            ip=ip,
            today=today,
        )
    _audit(session, "visit.confirmed", visit, pairing, actor, ip, minutes=visit.minutes)
    return record


def return_visit(
    session: Session,
    visit: Visit,
    *,
    actor: User,
    comment: str,
    ip: str | None = None,
) -> None:
    """Staff send the visit back to the volunteer with what to correct."""
    pairing = session.get(Pairing, visit.pairing_id)
    services.require_staff(actor, pairing.township_code)
    if visit.status != VisitStatus.LOGGED:
        raise VisitError(N_("Only a visit waiting for confirmation can be returned."))
    comment = (comment or "").strip()
    if not comment:
        raise VisitError(N_("Say what the volunteer should correct."), "comment")
    if len(comment) > COMMENT_MAX:
        raise VisitError(N_("At most %(max)d characters."), "comment", params={"max": COMMENT_MAX})
    visit.status = VisitStatus.RETURNED
    visit.return_comment = comment
    session.add(visit)
    session.flush()
    _audit(session, "visit.returned", visit, pairing, actor, ip)
    child, volunteer = (
        session.get(Child, pairing.child_id),
        session.get(Volunteer, pairing.volunteer_id),
    )
    user = session.get(User, volunteer.user_id)
    if user is not None and user.is_active:
        returns = session.exec(
            select(func.count()).where(
                notify.OutboxMessage.key.startswith(f"pairing-visit:{visit.id}:returned:"),
                notify.OutboxMessage.channel == notify.Channel.INAPP,
            )
        ).one()
        notify.enqueue(
            session,
            key=f"pairing-visit:{visit.id}:returned:{returns + 1}",
            to=notify.Recipient.for_user(user),
            template="pairing.visit_returned",
            context={
                "first_name": services.first_name(child),
                "day": visit.visited_on.isoformat(),
                "comment": comment,
            },
            link=f"/pairing/mine/{pairing.id}",
        )


@dataclass(frozen=True)
class StaffRow:
    visit: Visit
    pairing: Pairing
    child: Child
    volunteer: Volunteer


def staff_statement(user: User, *, status: str = VisitStatus.LOGGED):
    """The visits a staff member may see (their township's), newest first; "" for all."""
    services.require_staff(user)
    statement = select(Visit).join(Pairing, Pairing.id == Visit.pairing_id)
    if status:
        statement = statement.where(Visit.status == status)
    statement = scope_query(statement, Pairing.township_code, user)
    return statement.order_by(Visit.visited_on.desc(), Visit.id.desc())


def staff_rows(session: Session, visits: list[Visit]) -> list[StaffRow]:
    """The pairing, child and volunteer of each visit of a list page (three queries)."""
    pairings = _by_id(session, Pairing, {v.pairing_id for v in visits})
    children = _by_id(session, Child, {p.child_id for p in pairings.values()})
    people = _by_id(session, Volunteer, {p.volunteer_id for p in pairings.values()})
    rows = []
    for visit in visits:
        pairing = pairings[visit.pairing_id]
        rows.append(
            StaffRow(visit, pairing, children[pairing.child_id], people[pairing.volunteer_id])
        )
    return rows


def _by_id(session: Session, model, ids: set[int]) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in session.exec(select(model).where(model.id.in_(list(ids))))}


def to_confirm_count(session: Session, user: User) -> int:
    """Visits waiting for confirmation in the user's townships (a workspace queue)."""
    if not services.is_staff(user):
        return 0
    statement = scope_query(
        select(func.count())
        .select_from(Visit)
        .join(Pairing, Pairing.id == Visit.pairing_id)
        .where(Visit.status == VisitStatus.LOGGED),
        Pairing.township_code,
        user,
    )
    return session.exec(statement).one()


# Messages ---------------------------------------------------------------------------------------


def _alert_recipients(session: Session, township_code: str) -> list[User]:
    """The township's active staff; county staff when the township has none."""
    staff = volunteers.township_staff(session, township_code)
    if staff:
        return staff
    return list(
        session.exec(select(User).where(User.role == Role.COUNTY_STAFF, User.is_active.is_(True)))
    )


def _alert_safety(session: Session, visit: Visit, pairing: Pairing, volunteer: Volunteer) -> None:
    """Each staff member of the township is told at once, once per visit."""
    child = session.get(Child, pairing.child_id)
    for staff in _alert_recipients(session, pairing.township_code):
        notify.enqueue(
            session,
            key=f"pairing-visit:{visit.id}:safety:{staff.id}",
            to=notify.Recipient.for_user(staff),
            template="pairing.visit_safety",
            context={
                "number": volunteer.number,
                "child_code": child.code,
                "village": child.village,
                "day": visit.visited_on.isoformat(),
                "detail": visit.condition_safety or "",
            },
            link=f"/pairing/visits/{visit.id}",
        )


def last_visit_day(session: Session, pairing_id: int) -> date | None:
    """The day of the latest visit that counts (logged or confirmed, not returned)."""
    return session.exec(
        select(func.max(Visit.visited_on)).where(
            Visit.pairing_id == pairing_id,
            Visit.status.in_([VisitStatus.LOGGED, VisitStatus.CONFIRMED]),
        )
    ).one()


def gap_start(session: Session, pairing: Pairing) -> date | None:
    """The day the current gap without a visit began."""
    last = last_visit_day(session, pairing.id)
    days = [d for d in (last, pairing.activated_on) if d is not None]
    return max(days) if days else None


def gap_reminders(session: Session, *, today: date | None = None) -> dict[str, int]:
    """Remind the volunteer after the reminder days and alert staff after the escalation days
    without a visit; each once per gap (the keys hold the day the gap started)."""
    today = today or china_today()
    remind, escalate = reminder_days(), escalation_days()
    counted = (
        select(Visit.pairing_id, func.max(Visit.visited_on).label("last_day"))
        .where(Visit.status.in_([VisitStatus.LOGGED, VisitStatus.CONFIRMED]))
        .group_by(Visit.pairing_id)
        .subquery()
    )
    rows = session.exec(
        select(Pairing, counted.c.last_day)
        .outerjoin(counted, counted.c.pairing_id == Pairing.id)
        .where(Pairing.status == PairingStatus.ACTIVE)
        .order_by(Pairing.id)
    ).all()
    sent = {"reminded": 0, "escalated": 0}
    for pairing, last_day in rows:
        if isinstance(last_day, str):  # a bare aggregate may come back as text on SQLite
            last_day = date.fromisoformat(last_day)
        days = [d for d in (last_day, pairing.activated_on) if d is not None]
        if not days:
            continue
        start = max(days)
        gap = (today - start).days
        if gap < remind:
            continue
        child = session.get(Child, pairing.child_id)
        volunteer = session.get(Volunteer, pairing.volunteer_id)
        key = f"pairing:{pairing.id}:visit-gap:{start.isoformat()}"
        if not notify.is_queued(session, f"{key}:remind"):
            user = session.get(User, volunteer.user_id)
            if user is not None and user.is_active:
                notify.enqueue(
                    session,
                    key=f"{key}:remind",
                    to=notify.Recipient.for_user(user),
                    template="pairing.visit_gap",
                    context={
                        "days": gap,
                        "first_name": services.first_name(child),
                        "since": start.isoformat(),
                    },
                    link=f"/pairing/mine/{pairing.id}",
                )
                sent["reminded"] += 1
        if gap < escalate:
            continue
        new = 0
        for staff in _alert_recipients(session, pairing.township_code):
            staff_key = f"{key}:escalate:{staff.id}"
            if notify.is_queued(session, staff_key):
                continue
            notify.enqueue(
                session,
                key=staff_key,
                to=notify.Recipient.for_user(staff),
                template="pairing.visit_gap_staff",
                context={
                    "days": gap,
                    "number": volunteer.number,
                    "child_code": child.code,
                    "since": start.isoformat(),
                },
                link=f"/pairing/{pairing.id}",
            )
            new += 1
        sent["escalated"] += 1 if new else 0
    return sent


def _audit(
    session: Session,
    action: str,
    visit: Visit,
    pairing: Pairing,
    actor: User | None,
    ip: str | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        actor_id=actor.id if actor else None,
        target_type="pairing_visit",
        target_id=visit.id,
        ip=ip,
        township=pairing.township_code,
        pairing=pairing.id,
        visited_on=visit.visited_on.isoformat(),
        **detail,
    )


# What the volunteer sees ---------------------------------------------------------------------


@dataclass(frozen=True)
class Guardian:
    name: str
    relation: str
    phone: str


@dataclass(frozen=True)
class ChildForVolunteer:
    """The only facts about a child a volunteer is shown (security.md 10)."""

    first_name: str
    age: int
    village: str
    needs: tuple[str, ...]
    guardian: Guardian | None  # only while the pairing is active


def child_for_volunteer(
    child: Child, pairing: Pairing, today: date | None = None
) -> ChildForVolunteer:
    today = today or china_today()
    guardian = None
    if pairing.status == PairingStatus.ACTIVE:
        guardian = Guardian(child.guardian_name, child.guardian_relation, child.guardian_phone)
    return ChildForVolunteer(
        first_name=services.first_name(child),
        age=age_on(child.birth_date, today),
        village=child.village,
        needs=tuple(child.needs or ()),
        guardian=guardian,
    )


@dataclass(frozen=True)
class MineRow:
    pairing: Pairing
    child: ChildForVolunteer


def mine(session: Session, user: User, today: date | None = None) -> list[MineRow]:
    """The volunteer's proposals and pairings, each with what they may see of the child."""
    return [
        MineRow(pairing, child_for_volunteer(child, pairing, today))
        for pairing, child in services.volunteer_pairings(session, user)
    ]


@dataclass(frozen=True)
class MineDetail:
    pairing: Pairing
    child: ChildForVolunteer
    visits: list[Visit]
    credited: dict[int, int]  # visit id → minutes credited (not voided)
    credited_minutes: int
    gap_start: date | None


def mine_detail(
    session: Session, user: User, pairing_id: int, today: date | None = None
) -> MineDetail:
    """One of the volunteer's pairings (another's, or a suggestion, is not found)."""
    pairing = services.get_pairing_for_volunteer(session, user, pairing_id)
    child = session.get(Child, pairing.child_id)
    visits = list(
        session.exec(
            select(Visit)
            .where(Visit.pairing_id == pairing.id)
            .order_by(Visit.visited_on.desc(), Visit.id.desc())
        )
    )
    keys = {f"visit:{v.id}": v.id for v in visits}
    credited: dict[int, int] = {}
    if keys:
        for record in session.exec(
            select(ServiceRecord).where(
                ServiceRecord.source_key.in_(list(keys)), ServiceRecord.voided_at.is_(None)
            )
        ):
            credited[keys[record.source_key]] = record.minutes
    return MineDetail(
        pairing=pairing,
        child=child_for_volunteer(child, pairing, today),
        visits=visits,
        credited=credited,
        credited_minutes=sum(credited.values()),
        gap_start=gap_start(session, pairing) if pairing.status == PairingStatus.ACTIVE else None,
    )


def in_days(day: date, days: int) -> date:
    return day + timedelta(days=days)
