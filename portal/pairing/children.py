"""Children's records (staff only): registration, changes, leaving, the audited view, age-out.

- A record is minimal by design: no ID number, only what pairing and visits need, and the
  guardian's consent to the record and to pairing (who, relation, when, how).
- Township staff see and change their own township's children only (another township's child
  is "not found"); county staff and admins see all. Nobody else reaches a record.
- Every view of a record is audited (`child.viewed`), as are creation, changes and leaving.
- A child is registered under 16 and leaves the programme on the 16th birthday (China's date;
  born on 29 February: on 1 March in other years): `age_out`, run hourly, closes the active
  pairing and withdraws open proposals.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, or_
from sqlmodel import Session, select

from portal import audit, cache
from portal.auth.models import Role, User
from portal.auth.services import MOBILE_RE as accounts_mobile_re
from portal.core import numbering
from portal.core.domain import DomainError, InvalidInput, NotAllowed, NotFound
from portal.core.fields import validated
from portal.core.scoping import check_township, scope_query, township_scope
from portal.i18n import N_
from portal.pairing import services
from portal.pairing.models import (
    CONSENT_METHODS,
    GUARDIAN_RELATIONS,
    NEEDS,
    OPEN_STATUSES,
    Child,
    ChildBase,
    ChildStatus,
    CloseReason,
    LeaveReason,
    Pairing,
    PairingStatus,
)
from portal.places import Township
from portal.timeutil import china_today, utcnow
from portal.volunteers.idnumber import age_on
from portal.volunteers.models import Volunteer

log = logging.getLogger(__name__)

AREA = "pairing"
CODE_PREFIX = "ET"
PROGRAMME_AGE = services.PROGRAMME_AGE
STAFF_ROLES = frozenset({Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN})
_LETTER = "\u3400-\u9fff\U00020000-\U0003134fA-Za-z"  # Chinese (rare ones too, 𠮷) and letters
NAME_RE = re.compile(rf"^[{_LETTER}][{_LETTER}·• .]*[{_LETTER}]$")
MOBILE_RE = accounts_mobile_re
LANDLINE_RE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")
NOTE_MAX = 500
# The reasons staff give (turning 16 is the job's).
STAFF_LEAVE_REASONS = (LeaveReason.PARENTS_RETURNED, LeaveReason.MOVED, LeaveReason.OTHER)
# The field names shown in the audit entry of a change (the values are not logged).
FIELDS = tuple(ChildBase.model_fields)

SEX_LABELS = {"M": _l("Boy"), "F": _l("Girl")}
VOLUNTEER_SEX_LABELS = {"M": _l("Male"), "F": _l("Female")}
NEED_LABELS = {
    "study": _l("Study"),
    "psych": _l("Emotional wellbeing"),
    "safety": _l("Safety"),
    "life": _l("Daily life"),
    "health": _l("Health"),
}
RELATION_LABELS = {
    "grandparent": _l("Grandparent (father's side)"),
    "maternal_grandparent": _l("Grandparent (mother's side)"),
    "father": _l("Father"),
    "mother": _l("Mother"),
    "relative": _l("Other relative"),
    "entrusted": _l("Entrusted guardian"),
}
CONSENT_METHOD_LABELS = {
    "written": _l("In writing"),
    "in_person": _l("In person"),
    "phone": _l("By phone"),
}
STATUS_LABELS = {
    ChildStatus.IN_PROGRAMME: _l("In the programme"),
    ChildStatus.LEFT: _l("Left the programme"),
}
LEAVE_LABELS = {
    LeaveReason.TURNED_16: _l("Turned 16"),
    LeaveReason.PARENTS_RETURNED: _l("The parents returned"),
    LeaveReason.MOVED: _l("Moved away"),
    LeaveReason.OTHER: _l("Other"),
}
audit.register_actions(
    {
        "child.created": _l("Child's record created"),
        "child.viewed": _l("Child's record viewed"),
        "child.updated": _l("Child's record changed"),
        "child.left": _l("Child left the programme"),
    }
)
audit.register_target("child", audit.TargetType(_l("Child"), "pairing.child_detail", "child_id"))


class ChildError(DomainError):
    """A rule about a child's record was broken; the message is translatable."""


class InvalidChild(InvalidInput, ChildError):
    """Several fields are wrong at once: each problem names its field."""


# Access -----------------------------------------------------------------------------------


def is_staff(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES


def _require_staff(user: User) -> None:
    if not is_staff(user):
        raise NotAllowed(reason="role")


def get_for_staff(session: Session, user: User, child_id: int) -> Child:
    """One child for a staff member; another township's child is NotFound (404, audited)."""
    _require_staff(user)
    child = session.get(Child, child_id)
    if child is None:
        raise NotFound(reason="not_found")
    check_township(user, child.township_code)
    return child


def view(
    session: Session, user: User, child_id: int, *, ip: str | None = None, page: str = "detail"
) -> Child:
    """Read a child's record for a page that shows it: each such view is audited."""
    child = get_for_staff(session, user, child_id)
    audit.record(
        session,
        action="child.viewed",
        actor_id=user.id,
        target_type="child",
        target_id=child.id,
        ip=ip,
        township=child.township_code,
        page=page,
    )
    return child


@dataclass(frozen=True)
class Permissions:
    """What a user may do to one child's record (templates read these flags)."""

    can_edit: bool = False
    can_leave: bool = False


def permissions(user: User, child: Child) -> Permissions:
    if not is_staff(user) or not township_scope(user).allows(child.township_code):
        return Permissions()
    return Permissions(can_edit=True, can_leave=child.status == ChildStatus.IN_PROGRAMME)


def township_options(session: Session, user: User) -> list[tuple[str, str]]:
    """The townships this user may register children in (code, name)."""
    scope = township_scope(user)
    rows = session.exec(select(Township).order_by(Township.code))
    return [(t.code, t.name) for t in rows if scope.allows(t.code)]


# Input ------------------------------------------------------------------------------------


def normalise_phone(value: str | None) -> str:
    """A mobile as 11 digits, a landline as 0578-1234567 (spaces and dashes typed are dropped)."""
    plain = re.sub(r"[\s\-()（）]+", "", value or "")
    if MOBILE_RE.match(plain):
        return plain
    match = re.match(r"^(0(?:578|[1-9]\d{1,2}))(\d{7,8})$", plain)
    if match and LANDLINE_RE.match(f"{match[1]}-{match[2]}"):
        return f"{match[1]}-{match[2]}"
    return plain


def _phone_ok(value: str) -> bool:
    return bool(MOBILE_RE.match(value) or (LANDLINE_RE.match(value) and "-" in value))


def validate(
    session: Session,
    user: User,
    data: dict[str, Any],
    *,
    today: date | None = None,
    current: Child | None = None,
) -> ChildBase:
    """Every field checked at once: `InvalidChild` lists each problem on its field.

    `current` is the record being changed: its birth date is checked against the age limit
    only when it changes, and its township may change only to one the user may see.
    """
    today = today or china_today()
    problems: list[DomainError] = []

    def problem(message: str, field: str, **params: Any) -> None:
        if not any(p.field == field for p in problems):
            problems.append(ChildError(message, field, params=params or None))

    data = {name: data.get(name) for name in FIELDS}
    for name in (
        "name",
        "village",
        "school",
        "grade",
        "guardian_name",
        "parents_work_city",
        "notes",
        "consent_by",
    ):
        data[name] = (data.get(name) or "").strip() or None
    for name in ("sex", "guardian_relation", "consent_relation", "consent_method"):
        data[name] = (data.get(name) or "").strip()
    data["preferred_volunteer_sex"] = (data.get("preferred_volunteer_sex") or "").strip() or None
    data["needs"] = list(dict.fromkeys(data.get("needs") or []))
    data["consent_to_pairing"] = bool(data.get("consent_to_pairing"))

    def person(field: str, missing: str) -> None:
        value = data[field]
        if not value:
            problem(missing, field)
        elif not 2 <= len(value) <= 20:
            problem(N_("A name has 2 to 20 characters."), field)
        elif not NAME_RE.match(value):
            problem(
                N_("A name has Chinese characters or letters only (· between parts is allowed)."),
                field,
            )

    person("name", N_("Enter the child's name."))
    if data["sex"] not in SEX_LABELS:
        problem(N_("Choose the child's sex."), "sex")
    born = data.get("birth_date")
    if not isinstance(born, date):
        problem(N_("Enter the child's birth date."), "birth_date")
    elif born > today:
        problem(N_("The birth date cannot be in the future."), "birth_date")
    elif (current is None or current.birth_date != born) and age_on(born, today) >= PROGRAMME_AGE:
        problem(
            N_(
                "By this birth date the child is %(age)d: the programme is for children under "
                "16. Check the date on the household register."
            ),
            "birth_date",
            age=age_on(born, today),
        )
    township = data.get("township_code")
    if (
        not township
        or session.get(Township, township) is None
        or not township_scope(user).allows(township)
    ):
        problem(N_("Choose the township (one you work for)."), "township_code")
    if not data["village"]:
        problem(N_("Enter the village or community."), "village")
    person("guardian_name", N_("Enter the guardian's name."))
    if data["guardian_relation"] not in GUARDIAN_RELATIONS:
        problem(N_("Choose how the guardian is related to the child."), "guardian_relation")
    phone = normalise_phone(data.get("guardian_phone"))
    data["guardian_phone"] = phone
    if not phone:
        problem(N_("Enter the guardian's phone number."), "guardian_phone")
    elif not _phone_ok(phone):
        problem(
            N_(
                "Enter a mobile number (11 digits starting with 13-19) or a landline with its "
                "area code, such as 0578-8123456."
            ),
            "guardian_phone",
        )
    if not data["needs"]:
        problem(N_("Choose at least one need."), "needs")
    elif any(need not in NEEDS for need in data["needs"]):
        problem(N_("Choose needs from the list."), "needs")
    if data["preferred_volunteer_sex"] not in (None, *VOLUNTEER_SEX_LABELS):
        problem(N_("Choose a preference from the list."), "preferred_volunteer_sex")
    person("consent_by", N_("Enter the name of the guardian who consented."))
    if data["consent_relation"] not in GUARDIAN_RELATIONS:
        problem(
            N_("Choose how the person who consented is related to the child."),
            "consent_relation",
        )
    consent_on = data.get("consent_on")
    if not isinstance(consent_on, date):
        problem(N_("Enter the date of the consent."), "consent_on")
    elif consent_on > today:
        problem(N_("The date of the consent cannot be in the future."), "consent_on")
    elif isinstance(born, date) and consent_on < born:
        problem(N_("The consent cannot be older than the child."), "consent_on")
    if data["consent_method"] not in CONSENT_METHODS:
        problem(N_("Choose how the guardian consented."), "consent_method")
    if current is not None and services.child_has_open_pairing(session, current.id):
        if township and township != current.township_code:
            problem(
                N_(
                    "The child has an open pairing: close or withdraw it before moving the "
                    "record to another township."
                ),
                "township_code",
            )
        if current.consent_to_pairing and not data["consent_to_pairing"]:
            problem(
                N_(
                    "The child has an open pairing: close or withdraw it before recording that "
                    "the guardian does not consent to pairing."
                ),
                "consent_to_pairing",
            )
    if not problems:
        try:
            return validated(ChildBase, data)
        except DomainError as error:
            problems.append(ChildError(error.message, error.field, params=error.params))
    raise InvalidChild(problems)


# Writing ----------------------------------------------------------------------------------


def next_code(session: Session, year: int) -> str:
    """The next child code of the year: ET2026000001, ET2026000002, ..."""
    return numbering.next_in_year(session, Child.code, CODE_PREFIX, year)


def _insert_with_code(session: Session, child: Child, year: int) -> None:
    """Give the record the next free code; two registrations at once retry on the unique index."""
    numbering.insert_numbered(
        session,
        child,
        "code",
        lambda: next_code(session, year),
        busy=ChildError(N_("The portal is busy. Please submit again.")),
    )


def create(
    session: Session,
    data: dict[str, Any],
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> Child:
    """Register a child (the guardian's consent to the record is part of it)."""
    _require_staff(actor)
    today = today or china_today()
    checked = validate(session, actor, data, today=today)
    child = Child(**checked.model_dump(), code="", created_by=actor.id)
    _insert_with_code(session, child, today.year)
    audit.record(
        session,
        action="child.created",
        actor_id=actor.id,
        target_type="child",
        target_id=child.id,
        ip=ip,
        code=child.code,
        township=child.township_code,
        consent_method=child.consent_method,
        consent_to_pairing=child.consent_to_pairing,
    )
    cache.bump(session, AREA)
    return child


def update(
    session: Session,
    child: Child,
    data: dict[str, Any],
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> list[str]:
    """Change a record; return the names of the fields that changed (audited, not their values)."""
    _require_staff(actor)
    check_township(actor, child.township_code)
    checked = validate(session, actor, data, today=today, current=child)
    changed = [name for name in FIELDS if getattr(child, name) != getattr(checked, name)]
    if not changed:
        return []
    before = child.township_code
    for name in changed:
        setattr(child, name, getattr(checked, name))
    child.updated_at = utcnow()
    session.add(child)
    session.flush()
    audit.record(
        session,
        action="child.updated",
        actor_id=actor.id,
        target_type="child",
        target_id=child.id,
        ip=ip,
        township=child.township_code,
        fields=changed,
        **({"from_township": before} if before != child.township_code else {}),
    )
    cache.bump(session, AREA)
    return changed


def _end_pairings(
    session: Session,
    child: Child,
    *,
    actor: User | None,
    close_reason: str,
    note: str | None,
    ip: str | None,
    today: date,
) -> dict[str, int]:
    """Close the active pairing, withdraw open proposals, drop unreviewed suggestions."""
    counts = {"closed": 0, "withdrawn": 0, "dropped": 0}
    rows = session.exec(
        select(Pairing).where(
            Pairing.child_id == child.id,
            Pairing.status.in_([*OPEN_STATUSES, PairingStatus.SUGGESTED]),
        )
    ).all()
    for pairing in rows:
        if pairing.status == PairingStatus.ACTIVE:
            services.close(
                session,
                pairing,
                actor=actor,
                reason=close_reason,
                note=note,
                ip=ip,
                today=today,
            )
            counts["closed"] += 1
        elif pairing.status == PairingStatus.SUGGESTED:
            pairing.status = PairingStatus.DROPPED
            pairing.updated_at = utcnow()
            session.add(pairing)
            counts["dropped"] += 1
        elif actor is not None:
            services.withdraw(session, pairing, actor=actor, ip=ip)
            counts["withdrawn"] += 1
        else:  # the age-out job: nobody to act for, the same change and entry
            pairing.status = PairingStatus.WITHDRAWN
            pairing.updated_at = utcnow()
            session.add(pairing)
            session.flush()
            audit.record(
                session,
                action="pairing.withdrawn",
                target_type="pairing",
                target_id=pairing.id,
                township=pairing.township_code,
                child=pairing.child_id,
                volunteer=pairing.volunteer_id,
                reason=close_reason,
            )
            counts["withdrawn"] += 1
    session.flush()
    return counts


def _mark_left(
    session: Session,
    child: Child,
    *,
    reason: str,
    actor: User | None,
    note: str | None,
    ip: str | None,
    today: date,
    counts: dict[str, int],
) -> None:
    child.status = ChildStatus.LEFT
    child.left_reason = reason
    child.left_note = note
    child.left_on = today
    child.updated_at = utcnow()
    session.add(child)
    session.flush()
    audit.record(
        session,
        action="child.left",
        actor_id=actor.id if actor else None,
        target_type="child",
        target_id=child.id,
        ip=ip,
        township=child.township_code,
        reason=reason,
        note=note,
        **counts,
    )
    cache.bump(session, AREA)


def leave(
    session: Session,
    child: Child,
    *,
    actor: User,
    reason: str,
    note: str | None = None,
    ip: str | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """Staff record that a child leaves the programme (parents returned, moved, other).

    An active pairing closes (reason "parents returned", otherwise "other" with the note) and
    proposals not active yet are withdrawn. Returns how many pairings were closed, withdrawn
    and dropped.
    """
    _require_staff(actor)
    check_township(actor, child.township_code)
    today = today or china_today()
    if child.status != ChildStatus.IN_PROGRAMME:
        raise ChildError(N_("The child has already left the programme."))
    if reason not in {r.value for r in STAFF_LEAVE_REASONS}:
        raise ChildError(N_("Choose why the child leaves."), "reason")
    note = (note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        raise ChildError(N_("At most %(max)d characters."), "note", params={"max": NOTE_MAX})
    if reason != LeaveReason.PARENTS_RETURNED and not note:
        raise ChildError(N_("Say where the child moved or what happened."), "note")
    close_reason = (
        CloseReason.PARENTS_RETURNED
        if reason == LeaveReason.PARENTS_RETURNED
        else CloseReason.OTHER
    )
    with session.begin_nested():
        counts = _end_pairings(
            session,
            child,
            actor=actor,
            close_reason=close_reason.value,
            note=note,
            ip=ip,
            today=today,
        )
        _mark_left(
            session,
            child,
            reason=reason,
            actor=actor,
            note=note,
            ip=ip,
            today=today,
            counts=counts,
        )
    return counts


def age_out(session: Session, *, today: date | None = None) -> int:
    """Children whose 16th birthday is today or past leave the programme; return how many.

    Their active pairing closes ("the child turned 16") and open proposals are withdrawn.
    Running it again changes nothing: only children still in the programme are looked at.
    """
    today = today or china_today()
    # Everyone who may be 16 by now (born in that year or before); age_on decides the day.
    candidates = session.exec(
        select(Child)
        .where(
            Child.status == ChildStatus.IN_PROGRAMME,
            Child.birth_date <= date(today.year - PROGRAMME_AGE, 12, 31),
        )
        .order_by(Child.id)
    ).all()
    left = 0
    for child in candidates:
        if age_on(child.birth_date, today) < PROGRAMME_AGE:
            continue
        try:
            with session.begin_nested():
                counts = _end_pairings(
                    session,
                    child,
                    actor=None,
                    close_reason=CloseReason.TURNED_16.value,
                    note=None,
                    ip=None,
                    today=today,
                )
                _mark_left(
                    session,
                    child,
                    reason=LeaveReason.TURNED_16.value,
                    actor=None,
                    note=None,
                    ip=None,
                    today=today,
                    counts=counts,
                )
        except DomainError as error:  # one record's problem never blocks the others
            log.warning("age-out of child %s refused: %s", child.id, error)
            continue
        left += 1
    return left


# Lists ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    status: str = ""  # "" | in_programme | left
    township: str = ""
    need: str = ""


def list_statement(user: User, filters: ListFilters):
    """The staff list: scoped to the user's townships, filtered, newest first."""
    statement = scope_query(select(Child), Child.township_code, user)
    if filters.status in {s.value for s in ChildStatus}:
        statement = statement.where(Child.status == filters.status)
    if filters.township:
        statement = statement.where(Child.township_code == filters.township)
    if filters.need in NEEDS:
        # Needs are fixed codes stored as a JSON list: the quoted code matches one item only.
        statement = statement.where(cast(Child.needs, String).like(f'%"{filters.need}"%'))
    q = filters.q.strip()
    if q:
        if re.fullmatch(r"(?i)ET\d{4,10}", q):
            statement = statement.where(Child.code == q.upper())
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(
                    Child.name.like(like, escape="\\"),
                    Child.village.like(like, escape="\\"),
                    Child.code.like(like, escape="\\"),
                )
            )
    return statement.order_by(Child.id.desc())


@dataclass(frozen=True)
class ListRow:
    child: Child
    open_pairing: Pairing | None


def with_pairings(session: Session, children: list[Child]) -> list[ListRow]:
    """Each child of a page with its open pairing, if any (one query for the page)."""
    ids = [c.id for c in children]
    open_by_child = {}
    if ids:
        open_by_child = {
            p.child_id: p
            for p in session.exec(
                select(Pairing).where(
                    Pairing.child_id.in_(ids), Pairing.status.in_(list(OPEN_STATUSES))
                )
            )
        }
    return [ListRow(c, open_by_child.get(c.id)) for c in children]


def history(session: Session, child: Child) -> list[tuple[Pairing, Volunteer]]:
    """The child's pairings and proposals, newest first (rejected suggestions left out)."""
    statement = (
        select(Pairing, Volunteer)
        .join(Volunteer, Volunteer.id == Pairing.volunteer_id)
        .where(Pairing.child_id == child.id, Pairing.status != PairingStatus.DROPPED)
        .order_by(Pairing.id.desc())
    )
    return list(session.exec(statement))


def current_values(child: Child) -> dict[str, Any]:
    """The record as the edit form shows it."""
    return {name: getattr(child, name) for name in FIELDS}
