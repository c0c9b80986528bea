"""Pairing rules: suggestions, staff review, the volunteer's answer, consent, closure.

- Suggestions are never automatic pairings: staff accept, swap or reject each one.
- Every path to a pairing (accepting a suggestion, swapping, pairing by hand) checks the hard
  limits again with `matching.explain` at that moment. By hand, staff may override the
  township and gender limits and the re-pairing buffer with a reason (audited); the vetting,
  the volunteer's capacity and "one open pairing per child" are never overridden.
- A child is in at most one open pairing: the partial unique index decides races, and the
  loser gets a clear refusal.
- Township staff act on their township's children only; county staff and admins everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit, cache, notify
from portal.auth.models import Role, User
from portal.core.domain import DomainError, NotAllowed, NotFound
from portal.core.scoping import check_township, scope_query
from portal.i18n import N_, translated_for
from portal.pairing import matching
from portal.pairing.models import (
    OPEN_STATUSES,
    Capacity,
    Child,
    ChildStatus,
    CloseReason,
    Pairing,
    PairingStatus,
)
from portal.timeutil import china_today, utcnow
from portal.volunteers import services as volunteers
from portal.volunteers.idnumber import age_on
from portal.volunteers.models import Status as VolunteerStatus
from portal.volunteers.models import Volunteer

AREA = "pairing"
STAFF_ROLES = frozenset({Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN})
PROGRAMME_AGE = 16
OVERRIDABLE = frozenset({"township", "gender", "buffer"})
REASON_MAX = 200

STATUS_LABELS = {
    PairingStatus.SUGGESTED: _l("Suggested"),
    PairingStatus.DROPPED: _l("Not taken"),
    PairingStatus.PROPOSED: _l("Waiting for the volunteer"),
    PairingStatus.DECLINED: _l("Declined by the volunteer"),
    PairingStatus.AWAITING_CONSENT: _l("Waiting for the guardian's consent"),
    PairingStatus.ACTIVE: _l("Active"),
    PairingStatus.CLOSED: _l("Closed"),
    PairingStatus.WITHDRAWN: _l("Withdrawn by staff"),
}
CLOSE_LABELS = {
    CloseReason.TURNED_16: _l("The child turned 16"),
    CloseReason.PARENTS_RETURNED: _l("The parents returned"),
    CloseReason.VOLUNTEER_LEFT: _l("The volunteer left"),
    CloseReason.MISCONDUCT: _l("Misconduct"),
    CloseReason.OTHER: _l("Other"),
}
REFUSALS = {
    "township": N_("The volunteer lives in another township that is not an allowed neighbour."),
    "not_eligible": N_("The volunteer cannot be paired: %(why)s"),
    "capacity": N_("The volunteer already has as many children as allowed."),
    "gender": N_("The gender policy does not allow this pairing."),
    "not_available": N_("The child cannot be paired now."),
    "buffer": N_("The child's last pairing closed recently: not before %(day)s."),
    "child_paired": N_("The child already has an open pairing."),
    "child_left": N_("The child has left the programme."),
    "no_consent": N_(
        "The guardian has not consented to pairing; record the consent on the child's record first."
    ),
}

notify.register_template(
    "pairing.proposed",
    subject=N_("A child to support: please answer"),
    body=N_(
        "Township staff propose that you support a child in {village} one-on-one. Please read "
        "the details and accept or decline on your volunteer page."
    ),
)
notify.register_template(
    "pairing.answered",
    subject=N_("Volunteer {number} {answer} the pairing"),
    body=N_("Volunteer {number} {answer} the pairing with child {child_code}. {next_step}"),
)
notify.register_template(
    "pairing.active",
    subject=N_("Your pairing is active"),
    body=N_(
        "The guardian has consented. Your pairing with {first_name} is active; the guardian's "
        "contact is on your volunteer page. Please log each visit."
    ),
)
notify.register_template(
    "pairing.closed",
    subject=N_("Your pairing has closed"),
    body=N_("Your pairing with {first_name} has closed: {reason}. Thank you for your support."),
)
notify.register_template(
    "pairing.volunteer_check_expired",
    subject=N_("Active pairing: the volunteer's check expired ({child_code})"),
    body=N_(
        "The no-criminal-record check of volunteer {number}, paired with child {child_code}, "
        "expired on {expires}. Review the pairing."
    ),
)

audit.register_actions(
    {
        "pairing.suggested": _l("Pairing suggestions computed"),
        "pairing.accepted": _l("Pairing suggestion accepted"),
        "pairing.dropped": _l("Pairing suggestion rejected"),
        "pairing.swapped": _l("Pairing suggestion swapped"),
        "pairing.by_hand": _l("Pairing made by hand"),
        "pairing.volunteer_accepted": _l("Volunteer accepted a pairing"),
        "pairing.volunteer_declined": _l("Volunteer declined a pairing"),
        "pairing.consent": _l("Guardian's consent to a pairing recorded"),
        "pairing.withdrawn": _l("Pairing proposal withdrawn"),
        "pairing.closed": _l("Pairing closed"),
        "pairing.capacity": _l("Volunteer's pairing capacity changed"),
    }
)
audit.register_target("pairing", audit.TargetType(_l("Pairing"), "pairing.detail", "pairing_id"))


class PairingError(DomainError):
    """A pairing rule was broken; the message is translatable."""


# Settings ---------------------------------------------------------------------------------


def _config(name: str, default: Any) -> Any:
    return current_app.config.get(name, default) if has_app_context() else default


def buffer_days() -> int:
    return int(_config("PORTAL_PAIRING_BUFFER_DAYS", 14))


def match_settings() -> matching.Settings:
    defaults = matching.Settings()
    neighbours = _config("PORTAL_MATCH_NEIGHBOURS", None)
    return matching.Settings(
        weights={**defaults.weights, **_config("PORTAL_MATCH_WEIGHTS", {})},
        neighbours={k: frozenset(v) for k, v in (neighbours or {}).items()} or defaults.neighbours,
        gender_policy=_config("PORTAL_MATCH_GENDER_POLICY", defaults.gender_policy),
    )


# Access -----------------------------------------------------------------------------------


def is_staff(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES


def require_staff(user: User, township_code: str | None = None) -> None:
    if not is_staff(user):
        raise NotAllowed(reason="role")
    if township_code is not None:
        check_township(user, township_code)


def get_pairing_for_staff(session: Session, user: User, pairing_id: int) -> Pairing:
    require_staff(user)
    pairing = session.get(Pairing, pairing_id)
    if pairing is None:
        raise NotFound(reason="not_found")
    check_township(user, pairing.township_code)
    return pairing


def get_pairing_for_volunteer(session: Session, user: User, pairing_id: int) -> Pairing:
    """A volunteer sees only their own pairings (others are not found)."""
    volunteer = volunteers.for_user(session, user)
    pairing = session.get(Pairing, pairing_id)
    if volunteer is None or pairing is None or pairing.volunteer_id != volunteer.id:
        raise NotFound(reason="not_found")
    if pairing.status in (PairingStatus.SUGGESTED, PairingStatus.DROPPED):
        raise NotFound(reason="not_found")  # staff's working notes, never shown to volunteers
    return pairing


# Building the engine's inputs ---------------------------------------------------------------


def open_count(session: Session, volunteer_id: int) -> int:
    return session.exec(
        select(func.count()).where(
            Pairing.volunteer_id == volunteer_id, Pairing.status.in_(list(OPEN_STATUSES))
        )
    ).one()


def capacity_of(session: Session, volunteer_id: int) -> int:
    row = session.get(Capacity, volunteer_id)
    return row.capacity if row else 1


def child_has_open_pairing(session: Session, child_id: int) -> bool:
    return (
        session.exec(
            select(Pairing.id).where(
                Pairing.child_id == child_id, Pairing.status.in_(list(OPEN_STATUSES))
            )
        ).first()
        is not None
    )


def as_case(session: Session, child: Child, today: date) -> matching.ChildCase:
    available = (
        child.status == ChildStatus.IN_PROGRAMME
        and child.consent_to_pairing
        and age_on(child.birth_date, today) < PROGRAMME_AGE
        and (child.available_from is None or child.available_from <= today)
        and not child_has_open_pairing(session, child.id)
    )
    return matching.ChildCase(
        id=child.id,
        township=child.township_code,
        village=child.village,
        sex=child.sex,
        needs=frozenset(child.needs),
        preferred_volunteer_sex=child.preferred_volunteer_sex,
        available=available,
    )


def as_candidate(session: Session, volunteer: Volunteer, today: date) -> matching.Candidate:
    free = capacity_of(session, volunteer.id) - open_count(session, volunteer.id)
    return matching.Candidate(
        id=volunteer.id,
        township=volunteer.township_code,
        village=volunteer.village,
        sex=volunteer.sex,
        skills=frozenset(volunteer.skills),
        capacity=max(free, 0),
        eligible=volunteers.pairing_refusal(volunteer, today) is None,
        preferred_township=volunteer.preferred_township_code,
    )


def _block_townships(township: str, settings: matching.Settings) -> set[str]:
    """The township and every township reachable through allowed neighbours."""
    seen, todo = {township}, [township]
    while todo:
        for other in settings.neighbours.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


# Suggestions ---------------------------------------------------------------------------------


def suggest(
    session: Session,
    *,
    actor: User,
    township: str,
    ip: str | None = None,
    today: date | None = None,
) -> list[Pairing]:
    """Compute the optimal suggestions for a township; earlier unreviewed ones are replaced."""
    require_staff(actor, township)
    today = today or china_today()
    settings = match_settings()
    townships = _block_townships(township, settings)
    children = session.exec(
        select(Child).where(
            Child.township_code == township, Child.status == ChildStatus.IN_PROGRAMME
        )
    ).all()
    candidates = session.exec(
        select(Volunteer).where(
            Volunteer.township_code.in_(townships), Volunteer.status == VolunteerStatus.ACTIVE
        )
    ).all()
    cases = [as_case(session, c, today) for c in children]
    result = matching.suggest(
        [c for c in cases if c.available],
        [as_candidate(session, v, today) for v in candidates],
        settings,
    )
    for old in session.exec(
        select(Pairing).where(
            Pairing.township_code == township, Pairing.status == PairingStatus.SUGGESTED
        )
    ):
        old.status = PairingStatus.DROPPED
        old.updated_at = utcnow()
        session.add(old)
    rows = []
    for s in result.suggestions:
        row = Pairing(
            child_id=s.child_id,
            volunteer_id=s.candidate_id,
            township_code=township,
            score=s.score,
            reasons=[{"code": r.code, "points": r.points, "detail": r.detail} for r in s.reasons],
            created_by=actor.id,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    audit.record(
        session,
        action="pairing.suggested",
        actor_id=actor.id,
        ip=ip,
        township=township,
        suggestions=len(rows),
        unmatched=len(result.unmatched_children),
    )
    return rows


def _check_limits(
    session: Session,
    child: Child,
    volunteer: Volunteer,
    *,
    today: date,
    override_reason: str | None = None,
) -> str | None:
    """Refuse a pairing that breaks a hard limit; return the limits overridden (by hand only)."""
    if child.status != ChildStatus.IN_PROGRAMME or age_on(child.birth_date, today) >= PROGRAMME_AGE:
        raise PairingError(REFUSALS["child_left"])
    if not child.consent_to_pairing:
        raise PairingError(REFUSALS["no_consent"])
    if child_has_open_pairing(session, child.id):
        raise PairingError(REFUSALS["child_paired"])
    refusal = volunteers.pairing_refusal(volunteer, today)
    if refusal is not None:
        raise PairingError(
            REFUSALS["not_eligible"],
            params={"why": refusal.translated() if has_app_context() else str(refusal)},
        )
    candidate = as_candidate(session, volunteer, today)
    if candidate.capacity <= 0:
        raise PairingError(REFUSALS["capacity"])
    overridden = []
    if child.available_from is not None and child.available_from > today:
        overridden.append("buffer")
    case = as_case(session, child, today)
    case = matching.ChildCase(**{**case.__dict__, "available": True})
    feasible, code, _score, _reasons = matching.explain(case, candidate, match_settings())
    if not feasible:
        overridden.append(code)
    if not overridden:
        return None
    hard = [code for code in overridden if code not in OVERRIDABLE]
    if hard:
        raise PairingError(REFUSALS.get(hard[0], REFUSALS["not_available"]))
    if not (override_reason or "").strip():
        first = overridden[0]
        params = {"day": child.available_from.isoformat()} if first == "buffer" else None
        raise PairingError(
            N_("%(limit)s To pair anyway, give the reason for the exception."),
            "override_reason",
            params={"limit": _translate(REFUSALS[first], params)},
        )
    if len(override_reason.strip()) > REASON_MAX:
        raise PairingError(
            N_("At most %(max)d characters."), "override_reason", params={"max": REASON_MAX}
        )
    return ",".join(overridden)


def _translate(message: str, params: dict | None) -> str:
    if has_app_context():
        from flask_babel import gettext

        return gettext(message, **(params or {}))
    return message % params if params else message


def _load(session: Session, pairing: Pairing) -> tuple[Child, Volunteer]:
    return session.get(Child, pairing.child_id), session.get(Volunteer, pairing.volunteer_id)


def _propose(session: Session, pairing: Pairing, actor: User) -> None:
    """Staff's decision made: the volunteer is asked. The unique index settles races."""
    pairing.status = PairingStatus.PROPOSED
    pairing.accepted_by = actor.id
    pairing.accepted_at = pairing.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.add(pairing)
    except IntegrityError:
        raise PairingError(REFUSALS["child_paired"]) from None
    child, volunteer = _load(session, pairing)
    user = session.get(User, volunteer.user_id)
    if user is not None and user.is_active:
        notify.enqueue(
            session,
            key=f"pairing:{pairing.id}:proposed",
            to=notify.Recipient.for_user(user),
            template="pairing.proposed",
            context={"village": child.village},
            link=f"/pairing/mine/{pairing.id}",
        )
    # Other suggestions for this child, or for a volunteer now full, are no longer valid.
    others = session.exec(
        select(Pairing).where(
            Pairing.status == PairingStatus.SUGGESTED,
            Pairing.id != pairing.id,
            (Pairing.child_id == child.id) | (Pairing.volunteer_id == volunteer.id),
        )
    ).all()
    for other in others:
        if (
            other.child_id == child.id
            or as_candidate(session, volunteer, china_today()).capacity <= 0
        ):
            other.status = PairingStatus.DROPPED
            session.add(other)
    session.flush()


def accept(
    session: Session,
    pairing: Pairing,
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> None:
    require_staff(actor, pairing.township_code)
    if pairing.status != PairingStatus.SUGGESTED:
        raise PairingError(N_("Only a suggestion waiting for review can be accepted."))
    child, volunteer = _load(session, pairing)
    _check_limits(session, child, volunteer, today=today or china_today())
    _propose(session, pairing, actor)
    _audit(session, "pairing.accepted", pairing, actor, ip, score=pairing.score)


def reject(session: Session, pairing: Pairing, *, actor: User, ip: str | None = None) -> None:
    require_staff(actor, pairing.township_code)
    if pairing.status != PairingStatus.SUGGESTED:
        raise PairingError(N_("Only a suggestion waiting for review can be rejected."))
    pairing.status = PairingStatus.DROPPED
    pairing.updated_at = utcnow()
    session.add(pairing)
    session.flush()
    _audit(session, "pairing.dropped", pairing, actor, ip)


def swap(
    session: Session,
    pairing: Pairing,
    *,
    actor: User,
    volunteer_id: int,
    ip: str | None = None,
    today: date | None = None,
) -> Pairing:
    """Propose another volunteer for a suggested child (the limits checked again)."""
    require_staff(actor, pairing.township_code)
    if pairing.status != PairingStatus.SUGGESTED:
        raise PairingError(N_("Only a suggestion waiting for review can be swapped."))
    today = today or china_today()
    child = session.get(Child, pairing.child_id)
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None or volunteer.township_code not in _block_townships(
        child.township_code, match_settings()
    ):
        raise PairingError(N_("Choose a volunteer from the list."), "volunteer_id")
    _check_limits(session, child, volunteer, today=today)
    feasible, _code, score, reasons = matching.explain(
        as_case(session, child, today), as_candidate(session, volunteer, today), match_settings()
    )
    pairing.status = PairingStatus.DROPPED
    session.add(pairing)
    row = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=child.township_code,
        score=score,
        reasons=[{"code": r.code, "points": r.points, "detail": r.detail} for r in reasons],
        created_by=actor.id,
    )
    session.add(row)
    session.flush()
    _propose(session, row, actor)
    _audit(session, "pairing.swapped", row, actor, ip, replaced=pairing.id, score=score)
    return row


def pair_by_hand(
    session: Session,
    *,
    actor: User,
    child: Child,
    volunteer: Volunteer,
    override_reason: str | None = None,
    ip: str | None = None,
    today: date | None = None,
) -> Pairing:
    require_staff(actor, child.township_code)
    today = today or china_today()
    overridden = _check_limits(
        session, child, volunteer, today=today, override_reason=override_reason
    )
    case = matching.ChildCase(**{**as_case(session, child, today).__dict__, "available": True})
    _feasible, _code, score, reasons = matching.explain(
        case, as_candidate(session, volunteer, today), match_settings()
    )
    row = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=child.township_code,
        score=score,
        reasons=[{"code": r.code, "points": r.points, "detail": r.detail} for r in reasons],
        by_hand=True,
        override_reason=(override_reason or "").strip() or None if overridden else None,
        created_by=actor.id,
    )
    session.add(row)
    session.flush()
    _propose(session, row, actor)
    _audit(
        session,
        "pairing.by_hand",
        row,
        actor,
        ip,
        overridden=overridden,
        reason=row.override_reason,
    )
    return row


# The volunteer's answer, the guardian's consent, closure -----------------------------------------


def answer(
    session: Session,
    pairing: Pairing,
    *,
    user: User,
    accept: bool,
    reason: str | None = None,
    ip: str | None = None,
) -> None:
    """The volunteer accepts or declines a proposal; township staff are told."""
    volunteer = volunteers.for_user(session, user)
    if volunteer is None or pairing.volunteer_id != volunteer.id:
        raise NotFound(reason="not_found")
    if pairing.status != PairingStatus.PROPOSED:
        raise PairingError(N_("This proposal has already been answered or withdrawn."))
    reason = (reason or "").strip() or None
    if reason and len(reason) > REASON_MAX:
        raise PairingError(N_("At most %(max)d characters."), "reason", params={"max": REASON_MAX})
    pairing.status = PairingStatus.AWAITING_CONSENT if accept else PairingStatus.DECLINED
    pairing.decline_reason = None if accept else reason
    pairing.volunteer_answered_at = pairing.updated_at = utcnow()
    session.add(pairing)
    session.flush()
    _audit(
        session,
        "pairing.volunteer_accepted" if accept else "pairing.volunteer_declined",
        pairing,
        user,
        ip,
        reason=reason,
    )
    child = session.get(Child, pairing.child_id)
    for staff in volunteers.township_staff(session, pairing.township_code):
        notify.enqueue(
            session,
            key=f"pairing:{pairing.id}:answered:{staff.id}",
            to=notify.Recipient.for_user(staff),
            template="pairing.answered",
            context={
                "number": volunteer.number,
                "answer": translated_for(staff, N_("accepted") if accept else N_("declined")),
                "child_code": child.code,
                "next_step": translated_for(
                    staff,
                    N_("Record the guardian's consent to make it active.")
                    if accept
                    else N_("The child can be suggested again."),
                ),
            },
            link=f"/pairing/{pairing.id}",
        )


def first_name(child: Child) -> str:
    """What a volunteer calls the child: the given name, without the family name.

    A name written with a middle dot (many ethnic-minority and transliterated names) keeps its
    last part; a Han name drops its first character (compound family names such as 欧阳 keep
    their second character: staff may write the name the child is called in the notes).
    """
    name = child.name.strip()
    if "·" in name:
        return name.rsplit("·", 1)[1] or name
    return name[1:] if len(name) >= 2 else name


def record_consent(
    session: Session,
    pairing: Pairing,
    *,
    actor: User,
    consent_by: str,
    consent_on: date,
    method: str,
    ip: str | None = None,
    today: date | None = None,
) -> None:
    """The guardian agreed to this volunteer: the pairing becomes active."""
    from portal.pairing.models import CONSENT_METHODS

    require_staff(actor, pairing.township_code)
    today = today or china_today()
    if pairing.status != PairingStatus.AWAITING_CONSENT:
        raise PairingError(N_("Consent is recorded after the volunteer has accepted."))
    consent_by = (consent_by or "").strip()
    if not 2 <= len(consent_by) <= 20:
        raise PairingError(
            N_("Enter the name of the guardian who consented (2 to 20 characters)."), "consent_by"
        )
    if consent_on is None or consent_on > today:
        raise PairingError(N_("The date of the consent cannot be in the future."), "consent_on")
    if method not in CONSENT_METHODS:
        raise PairingError(N_("Choose how the guardian consented."), "consent_method")
    child, volunteer = _load(session, pairing)
    if volunteers.pairing_refusal(volunteer, today) is not None:
        raise PairingError(
            REFUSALS["not_eligible"],
            params={"why": volunteers.pairing_refusal(volunteer, today).translated()},
        )
    pairing.consent_by, pairing.consent_on, pairing.consent_method = consent_by, consent_on, method
    pairing.status = PairingStatus.ACTIVE
    pairing.activated_on = today
    pairing.updated_at = utcnow()
    session.add(pairing)
    session.flush()
    _audit(session, "pairing.consent", pairing, actor, ip, method=method)
    user = session.get(User, volunteer.user_id)
    if user is not None and user.is_active:
        notify.enqueue(
            session,
            key=f"pairing:{pairing.id}:active",
            to=notify.Recipient.for_user(user),
            template="pairing.active",
            context={"first_name": first_name(child)},
            link=f"/pairing/mine/{pairing.id}",
        )
    cache.bump(session, AREA)


def withdraw(session: Session, pairing: Pairing, *, actor: User, ip: str | None = None) -> None:
    """Staff take back a proposal that is not active yet."""
    require_staff(actor, pairing.township_code)
    if pairing.status not in (PairingStatus.PROPOSED, PairingStatus.AWAITING_CONSENT):
        raise PairingError(N_("Only a proposal that is not active yet can be withdrawn."))
    pairing.status = PairingStatus.WITHDRAWN
    pairing.updated_at = utcnow()
    session.add(pairing)
    session.flush()
    _audit(session, "pairing.withdrawn", pairing, actor, ip)


def close(
    session: Session,
    pairing: Pairing,
    *,
    actor: User | None,
    reason: str,
    note: str | None = None,
    ip: str | None = None,
    today: date | None = None,
) -> None:
    """End an active pairing; the child may be paired again after the buffer."""
    if actor is not None:
        require_staff(actor, pairing.township_code)
    today = today or china_today()
    if pairing.status != PairingStatus.ACTIVE:
        raise PairingError(N_("Only an active pairing can be closed."))
    if reason not in {r.value for r in CloseReason}:
        raise PairingError(N_("Choose why the pairing ends."), "close_reason")
    note = (note or "").strip() or None
    if note and len(note) > 500:
        raise PairingError(N_("At most %(max)d characters."), "close_note", params={"max": 500})
    if reason in (CloseReason.MISCONDUCT, CloseReason.OTHER) and not note:
        raise PairingError(N_("Describe what happened in the note."), "close_note")
    child, volunteer = _load(session, pairing)
    pairing.status = PairingStatus.CLOSED
    pairing.closed_on = today
    pairing.close_reason = reason
    pairing.close_note = note
    pairing.closed_by = actor.id if actor else None
    pairing.updated_at = utcnow()
    child.available_from = today + timedelta(days=buffer_days())
    session.add_all([pairing, child])
    session.flush()
    _audit(session, "pairing.closed", pairing, actor, ip, reason=reason)
    user = session.get(User, volunteer.user_id)
    if user is not None and user.is_active:
        notify.enqueue(
            session,
            key=f"pairing:{pairing.id}:closed",
            to=notify.Recipient.for_user(user),
            template="pairing.closed",
            context={
                "first_name": first_name(child),
                "reason": translated_for(user, str(CLOSE_TEXT[CloseReason(reason)])),
            },
            link="/volunteers/me",
        )
    cache.bump(session, AREA)


CLOSE_TEXT = {
    CloseReason.TURNED_16: N_("The child turned 16"),
    CloseReason.PARENTS_RETURNED: N_("The parents returned"),
    CloseReason.VOLUNTEER_LEFT: N_("The volunteer left"),
    CloseReason.MISCONDUCT: N_("Misconduct"),
    CloseReason.OTHER: N_("Other"),
}


def set_capacity(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    capacity: int,
    reason: str,
    ip: str | None = None,
) -> None:
    """Staff raise (or lower back) how many children a volunteer may support."""
    require_staff(actor, volunteer.township_code)
    if not 1 <= capacity <= 5:
        raise PairingError(N_("A volunteer supports 1 to 5 children."), "capacity")
    reason = (reason or "").strip()
    if capacity > 1 and not reason:
        raise PairingError(N_("Give the reason for raising the limit."), "reason")
    if capacity < open_count(session, volunteer.id):
        raise PairingError(
            N_("The volunteer already has more open pairings than that."), "capacity"
        )
    row = session.get(Capacity, volunteer.id)
    if capacity == 1 and row is not None:
        session.delete(row)
    elif capacity > 1:
        row = row or Capacity(
            volunteer_id=volunteer.id, capacity=capacity, reason=reason, set_by=actor.id
        )
        row.capacity, row.reason, row.set_by, row.set_at = (
            capacity,
            reason[:REASON_MAX],
            actor.id,
            utcnow(),
        )
        session.add(row)
    session.flush()
    audit.record(
        session,
        action="pairing.capacity",
        actor_id=actor.id,
        target_type="volunteer",
        target_id=volunteer.id,
        ip=ip,
        capacity=capacity,
    )


def _audit(
    session: Session,
    action: str,
    pairing: Pairing,
    actor: User | None,
    ip: str | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        actor_id=actor.id if actor else None,
        target_type="pairing",
        target_id=pairing.id,
        ip=ip,
        township=pairing.township_code,
        child=pairing.child_id,
        volunteer=pairing.volunteer_id,
        **detail,
    )


# Lists ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    pairing: Pairing
    child: Child
    volunteer: Volunteer


def rows(
    session: Session, user: User, *, statuses: tuple[str, ...], township: str | None = None
) -> list[Row]:
    statement = (
        select(Pairing, Child, Volunteer)
        .join(Child, Child.id == Pairing.child_id)
        .join(Volunteer, Volunteer.id == Pairing.volunteer_id)
        .where(Pairing.status.in_(list(statuses)))
    )
    statement = scope_query(statement, Pairing.township_code, user)
    if township:
        statement = statement.where(Pairing.township_code == township)
    return [Row(p, c, v) for p, c, v in session.exec(statement.order_by(Pairing.id.desc()))]


def suggested_count(session: Session, user: User) -> int:
    return _count(session, user, (PairingStatus.SUGGESTED,))


def waiting_consent_count(session: Session, user: User) -> int:
    return _count(session, user, (PairingStatus.AWAITING_CONSENT,))


def _count(session: Session, user: User, statuses) -> int:
    statement = scope_query(
        select(func.count()).select_from(Pairing).where(Pairing.status.in_(list(statuses))),
        Pairing.township_code,
        user,
    )
    return session.exec(statement).one()


def volunteer_pairings(session: Session, user: User) -> list[tuple[Pairing, Child]]:
    """The volunteer's own proposals and pairings (never suggestions)."""
    volunteer = volunteers.for_user(session, user)
    if volunteer is None:
        return []
    statement = (
        select(Pairing, Child)
        .join(Child, Child.id == Pairing.child_id)
        .where(
            Pairing.volunteer_id == volunteer.id,
            Pairing.status.in_([*OPEN_STATUSES, PairingStatus.CLOSED]),
        )
        .order_by(Pairing.id.desc())
    )
    return list(session.exec(statement))


def expired_vetting_alerts(session: Session, *, today: date | None = None) -> int:
    """Alert township staff, once per pairing and expiry date, of active pairings whose
    volunteer's check has expired (the volunteer is told by the volunteers area)."""
    today = today or china_today()
    rows_ = session.exec(
        select(Pairing, Child, Volunteer)
        .join(Child, Child.id == Pairing.child_id)
        .join(Volunteer, Volunteer.id == Pairing.volunteer_id)
        .where(
            Pairing.status == PairingStatus.ACTIVE,
            Volunteer.check_expires.is_not(None),
            Volunteer.check_expires <= today,
        )
    ).all()
    sent = 0
    for pairing, child, volunteer in rows_:
        expires = volunteer.check_expires.isoformat()
        for staff in volunteers.township_staff(session, pairing.township_code):
            before = notify.is_queued(session, f"pairing:{pairing.id}:expired:{expires}:{staff.id}")
            notify.enqueue(
                session,
                key=f"pairing:{pairing.id}:expired:{expires}:{staff.id}",
                to=notify.Recipient.for_user(staff),
                template="pairing.volunteer_check_expired",
                context={"number": volunteer.number, "child_code": child.code, "expires": expires},
                link=f"/pairing/{pairing.id}",
            )
            sent += 0 if before else 1
    return sent


# For the staff pages --------------------------------------------------------------------------


def waiting_children(
    session: Session, user: User, township: str, *, today: date | None = None
) -> list[tuple[Child, str | None]]:
    """Children of the township in the programme without an open pairing, with why any
    of them cannot be suggested now (no consent, buffer)."""
    require_staff(user, township)
    today = today or china_today()
    open_children = select(Pairing.child_id).where(Pairing.status.in_(list(OPEN_STATUSES)))
    children = session.exec(
        select(Child)
        .where(
            Child.township_code == township,
            Child.status == ChildStatus.IN_PROGRAMME,
            Child.id.not_in(open_children),
        )
        .order_by(Child.id)
    ).all()
    out = []
    for child in children:
        why = None
        if not child.consent_to_pairing:
            why = "no_consent"
        elif child.available_from and child.available_from > today:
            why = "buffer"
        out.append((child, why))
    return out


def children_for_hand(session: Session, user: User, township: str) -> list[Child]:
    return [child for child, _why in waiting_children(session, user, township)]


def volunteers_for_hand(session: Session, township: str) -> list[Volunteer]:
    """Active volunteers of the township and its allowed neighbours (others by override)."""
    return list(
        session.exec(
            select(Volunteer)
            .where(Volunteer.status == VolunteerStatus.ACTIVE)
            .where(
                Volunteer.township_code.in_(_block_townships(township, match_settings()))
                | (Volunteer.preferred_township_code == township)
            )
            .order_by(Volunteer.number)
        )
    )


def swap_candidates(session: Session, pairing: Pairing) -> list[Volunteer]:
    today = china_today()
    return [
        v
        for v in volunteers_for_hand(session, pairing.township_code)
        if v.id != pairing.volunteer_id
        and as_candidate(session, v, today).capacity > 0
        and as_candidate(session, v, today).eligible
    ]


def public_figures(session: Session) -> dict[str, int]:
    """County-wide counts the public may see: active pairings and townships with one."""
    active = select(Pairing).where(Pairing.status == PairingStatus.ACTIVE)
    return {
        "active": session.exec(select(func.count()).select_from(active.subquery())).one(),
        "townships": session.exec(
            select(func.count(func.distinct(Pairing.township_code))).where(
                Pairing.status == PairingStatus.ACTIVE
            )
        ).one(),
        "children": session.exec(
            select(func.count()).select_from(Child).where(Child.status == ChildStatus.IN_PROGRAMME)
        ).one(),
    }
