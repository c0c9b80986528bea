"""Volunteer rules: sign-up, identity protection, vetting (审核) and its yearly renewal.

Vetting, as the policy and the Minors Protection Law (Art. 62) ask:

    applied ──upload certificate──▶ submitted ──verify──▶ verified ──training──▶ active
       ▲                               │  ▲                                       │
       └──────── document returned ◀───┘  └── key profile fields changed ◀───────┘
    any open status ──▶ rejected (reason) · suspended (reason) ──reinstate──▶ back
    any status but withdrawn ──▶ withdrawn (by the volunteer)

- Township staff act on their own township's volunteers only (county staff and admins on all);
  a volunteer from another township is "not found".
- A check is valid for `PORTAL_VETTING_VALID_DAYS` (365) from its date. The portal keeps the
  outcome and the date, never the certificate: the uploaded file is deleted once staff decide.
- Nobody is paired without a valid check (`pairing_refusal`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit, cache, notify
from portal.auth import services as accounts
from portal.auth.models import Role, User
from portal.core import numbering, protect, uploads
from portal.core.domain import DomainError, InvalidInput, NotAllowed
from portal.core.fields import PERSON_NAME_RE, validated
from portal.core.scoping import check_township, scope_query, township_scope
from portal.db import on_commit
from portal.i18n import N_, translated_for
from portal.places import Township
from portal.timeutil import china_today, utcnow
from portal.volunteers import idnumber
from portal.volunteers.idnumber import IdType
from portal.volunteers.models import (
    AVAILABILITY,
    OPEN_STATUSES,
    PARTY_CODES,
    POLITICAL_STATUSES,
    SKILLS,
    Category,
    Status,
    Volunteer,
    VolunteerInput,
)

AREA = "volunteers"
MIN_AGE = 18
# Versions of the texts a volunteer agrees to (templates volunteers/privacy.html, agreement.html).
PRIVACY_VERSION = "2026-11"
AGREEMENT_VERSION = "2026-11"
STAFF_ROLES = frozenset({Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN})
NAME_RE = PERSON_NAME_RE
MOBILE_RE = accounts.MOBILE_RE
KEY_FIELDS = ("name", "id_type", "id_number", "township_code")
REASON_MAX = 200
DUPLICATE_ID = N_(
    "A volunteer with this ID number is already registered. Log in instead, or call the "
    "township if it is not you."
)
DUPLICATE_MOBILE = N_(
    "This mobile number is already registered. Log in with it, or use another number."
)

STATUS_TEXT = {
    Status.APPLIED: N_("Signed up"),
    Status.SUBMITTED: N_("Waiting for verification"),
    Status.VERIFIED: N_("Verified, training to complete"),
    Status.ACTIVE: N_("Active"),
    Status.REJECTED: N_("Not accepted"),
    Status.SUSPENDED: N_("Suspended"),
    Status.WITHDRAWN: N_("Withdrawn"),
}
STATUS_LABELS = {status: _l(text) for status, text in STATUS_TEXT.items()}
CATEGORY_LABELS = {
    Category.CADRE: _l("Township or village cadre"),
    Category.SUPERVISOR: _l("Child welfare supervisor"),
    Category.TEACHER: _l("Teacher or school staff"),
    Category.PARTY_MEMBER: _l("Communist Party member"),
    Category.SOCIAL: _l("Social volunteer"),
}
ID_TYPE_LABELS = {
    IdType.RESIDENT_ID: _l("Resident ID card"),
    IdType.HK_MACAO_PERMIT: _l("Mainland travel permit for Hong Kong and Macao residents"),
    IdType.TAIWAN_PERMIT: _l("Mainland travel permit for Taiwan residents"),
    IdType.PASSPORT: _l("Passport"),
    IdType.FOREIGN_RESIDENT: _l("Foreign permanent resident ID card"),
}
SKILL_LABELS = {
    "tutoring": _l("Tutoring"),
    "counselling": _l("Psychological counselling"),
    "law": _l("Law"),
    "medical": _l("Medical care"),
    "arts_sports": _l("Arts and sports"),
    "care": _l("Daily care"),
    "other": _l("Other"),
}
AVAILABILITY_LABELS = {
    "weekday_day": _l("Weekday daytime"),
    "weekday_evening": _l("Weekday evenings"),
    "weekend": _l("Weekends"),
    "holidays": _l("School holidays"),
}
SEX_LABELS = {"M": _l("Male"), "F": _l("Female")}
POLITICAL_CODES = dict(POLITICAL_STATUSES)

notify.register_template(
    "volunteers.signed_up",
    subject=N_("Welcome, volunteer {number}"),
    body=N_(
        "Thank you for signing up as a volunteer, {name}. Your volunteer number is {number}. "
        "Next: upload your no-criminal-record certificate on your volunteer page."
    ),
)
notify.register_template(
    "volunteers.verified",
    subject=N_("Your volunteer check is verified"),
    body=N_(
        "Township staff verified your no-criminal-record check of {check_date}. It is valid "
        "until {expires}. {next_step}"
    ),
)
notify.register_template(
    "volunteers.active",
    subject=N_("You are an active volunteer"),
    body=N_("Your training is recorded. You can now be paired with a child. Thank you."),
)
notify.register_template(
    "volunteers.document_returned",
    subject=N_("Please upload your certificate again"),
    body=N_("Township staff could not accept your certificate: {reason} Please upload it again."),
)
notify.register_template(
    "volunteers.rejected",
    subject=N_("Your volunteer application was not accepted"),
    body=N_("Your volunteer application was not accepted: {reason}"),
)
notify.register_template(
    "volunteers.suspended",
    subject=N_("Your volunteer service is suspended"),
    body=N_("Your volunteer service is suspended: {reason}"),
)
notify.register_template(
    "volunteers.reinstated",
    subject=N_("Your volunteer service is resumed"),
    body=N_("Your volunteer service is resumed. Status: {status}."),
)
notify.register_template(
    "volunteers.profile_changed",
    subject=N_("Your changed profile waits for verification"),
    body=N_(
        "You changed your name, identity document or township. Township staff will check "
        "your profile again; until then you cannot be newly paired."
    ),
)
notify.register_template(
    "volunteers.check_expiring",
    subject=N_("Your volunteer check expires on {expires}"),
    body=N_(
        "Your no-criminal-record check expires on {expires} ({days} days from now). Please "
        "obtain a new certificate and upload it on your volunteer page."
    ),
    sms=N_(
        "Songyang care portal: your volunteer check expires on {expires}. Please upload a new "
        "no-criminal-record certificate."
    ),
)
notify.register_template(
    "volunteers.check_expired",
    subject=N_("Your volunteer check has expired"),
    body=N_(
        "Your no-criminal-record check expired on {expires}. You cannot be newly paired with a "
        "child until you upload a new certificate and township staff verify it."
    ),
)
notify.register_template(
    "volunteers.staff_check_expired",
    subject=N_("Volunteer check expired: {number}"),
    body=N_(
        "The no-criminal-record check of volunteer {number} ({name}) expired on {expires}. "
        "They cannot be newly paired; review any pairing they have."
    ),
)

audit.register_actions(
    {
        "volunteer.signed_up": _l("Volunteer signed up"),
        "volunteer.profile_changed": _l("Volunteer profile changed"),
        "volunteer.certificate_uploaded": _l("Volunteer uploaded a criminal-record certificate"),
        "volunteer.certificate_viewed": _l("Volunteer certificate file viewed"),
        "volunteer.verified": _l("Volunteer check verified"),
        "volunteer.document_returned": _l("Volunteer certificate returned"),
        "volunteer.trained": _l("Volunteer training recorded"),
        "volunteer.rejected": _l("Volunteer application rejected"),
        "volunteer.suspended": _l("Volunteer suspended"),
        "volunteer.reinstated": _l("Volunteer reinstated"),
        "volunteer.withdrawn": _l("Volunteer withdrew"),
        "volunteer.consented": _l("Volunteer agreed to the privacy notice and agreement"),
        "volunteer.check_expired": _l("Volunteer check expired"),
        "volunteer.exported": _l("Volunteer list exported"),
        "volunteer.exported_with_ids": _l("Volunteer list exported with full ID numbers"),
    }
)
audit.register_target(
    "volunteer", audit.TargetType(_l("Volunteer"), "volunteers.staff_detail", "volunteer_id")
)


class VolunteerError(DomainError):
    """A volunteer rule was broken; the message is translatable."""


class InvalidVolunteer(InvalidInput, VolunteerError):
    """Several fields are wrong at once: each problem names its field."""


# Settings ---------------------------------------------------------------------------------


def _setting(name: str, default: int) -> int:
    if has_app_context():
        return int(current_app.config.get(name, default))
    return default


def valid_days() -> int:
    return _setting("PORTAL_VETTING_VALID_DAYS", 365)


def reminder_days() -> tuple[int, ...]:
    if has_app_context():
        return tuple(current_app.config.get("PORTAL_VETTING_REMINDER_DAYS", (30, 7)))
    return (30, 7)


def upload_folder() -> Path:
    return Path(current_app.config["PORTAL_UPLOAD_DIR"]) / "volunteers"


# Permissions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permissions:
    """What a user may do to one volunteer record (templates read these flags)."""

    can_verify: bool = False
    can_return_document: bool = False
    can_record_training: bool = False
    can_reject: bool = False
    can_suspend: bool = False
    can_reinstate: bool = False
    can_view_certificate: bool = False
    can_manage_hours: bool = False


def is_staff(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES


def permissions(user: User, volunteer: Volunteer) -> Permissions:
    if not is_staff(user) or not township_scope(user).allows(volunteer.township_code):
        return Permissions()
    status = volunteer.status
    pending = volunteer.certificate_sha256 is not None
    return Permissions(
        can_verify=status != Status.WITHDRAWN
        and status not in (Status.REJECTED, Status.SUSPENDED)
        and (pending or status == Status.SUBMITTED),
        can_return_document=pending,
        can_record_training=status == Status.VERIFIED,
        can_reject=status in (Status.APPLIED, Status.SUBMITTED, Status.VERIFIED),
        can_suspend=status in (Status.VERIFIED, Status.ACTIVE),
        can_reinstate=status in (Status.SUSPENDED, Status.REJECTED),
        can_view_certificate=pending,
        can_manage_hours=status != Status.WITHDRAWN,
    )


# Input ------------------------------------------------------------------------------------


def _township_exists(session: Session, code: str | None) -> bool:
    return bool(code) and session.get(Township, code) is not None


def validate(
    session: Session,
    data: dict[str, Any],
    *,
    today: date | None = None,
    current: Volunteer | None = None,
    check_unique: bool = True,
) -> tuple[VolunteerInput, idnumber.ParsedId]:
    """Every field checked at once: `InvalidVolunteer` lists each problem on its field.

    `current` is the record being changed (its own ID number and mobile are not duplicates).
    """
    today = today or china_today()
    problems: list[DomainError] = []

    def problem(message: str, field: str, **params: Any) -> None:
        if not any(p.field == field for p in problems):
            problems.append(VolunteerError(message, field, params=params or None))

    data = dict(data)
    data["skills"] = list(data.get("skills") or [])
    data["availability"] = list(data.get("availability") or [])
    for name in (
        "ethnicity",
        "employer",
        "skills_note",
        "preferred_township_code",
        "party_organisation",
        "residence_village",
        "party_post",
    ):
        data[name] = (data.get(name) or "").strip() or None
    name = (data.get("name") or "").strip()
    data["name"] = name
    if not name:
        problem(N_("Enter your name."), "name")
    elif not 2 <= len(name) <= 20:
        problem(N_("A name has 2 to 20 characters."), "name")
    elif not NAME_RE.match(name):
        problem(
            N_("A name has Chinese characters or letters only (· between parts is allowed)."),
            "name",
        )
    parsed = None
    try:
        parsed = idnumber.parse(data.get("id_type") or "", data.get("id_number") or "", today=today)
    except DomainError as error:
        problem(error.message, error.field, **error.params)
    if parsed is not None:
        data["id_number"] = parsed.number
        if parsed.birth_date is None:
            born = data.get("birth_date")
            if not isinstance(born, date):
                problem(
                    N_("Enter your birth date (it is not in this document's number)."), "birth_date"
                )
            elif not date(1900, 1, 1) <= born <= today:
                problem(N_("Enter a birth date between 1900 and today."), "birth_date")
            if data.get("sex") not in SEX_LABELS:
                problem(N_("Choose your sex."), "sex")
            parsed = idnumber.ParsedId(
                parsed.id_type,
                parsed.number,
                born if isinstance(born, date) else None,
                data.get("sex"),
            )
        else:
            data["birth_date"], data["sex"] = parsed.birth_date, parsed.sex
        if parsed.birth_date and idnumber.age_on(parsed.birth_date, today) < MIN_AGE:
            field = "id_number" if parsed.id_type == IdType.RESIDENT_ID else "birth_date"
            problem(
                N_(
                    "Volunteers paired one-on-one with children must be 18 or older. By this "
                    "date of birth you are under 18, so you cannot sign up for pairing yet; "
                    "your school or the Youth League can tell you about other ways to help."
                ),
                field,
            )
    mobile = re.sub(r"[\s-]+", "", data.get("mobile") or "")
    data["mobile"] = mobile
    if not mobile:
        problem(N_("Enter your mobile number."), "mobile")
    elif not MOBILE_RE.match(mobile):
        problem(N_("A mobile number has 11 digits and starts with 13-19."), "mobile")
    if not _township_exists(session, data.get("township_code")):
        problem(N_("Choose your township."), "township_code")
    village = (data.get("village") or "").strip()
    data["village"] = village
    if not village:
        problem(N_("Enter your village or community."), "village")
    if data["preferred_township_code"] and not _township_exists(
        session, data["preferred_township_code"]
    ):
        problem(N_("Choose a township from the list."), "preferred_township_code")
    if data.get("political_status") not in POLITICAL_CODES:
        problem(N_("Choose your political status."), "political_status")
    if data.get("category") not in {c.value for c in Category}:
        problem(N_("Choose the kind of volunteer you are."), "category")
    if any(s not in SKILLS for s in data["skills"]):
        problem(N_("Choose skills from the list."), "skills")
    if any(a not in AVAILABILITY for a in data["availability"]):
        problem(N_("Choose times from the list."), "availability")
    if data.get("political_status") in PARTY_CODES:
        if not data["party_organisation"]:
            problem(N_("Party members: enter your Party organisation."), "party_organisation")
        if not data["residence_village"]:
            problem(
                N_("Party members: enter the village or community where you live and report."),
                "residence_village",
            )
        reported = data.get("report_date")
        if not isinstance(reported, date):
            problem(
                N_("Party members: enter the date you reported to your community."), "report_date"
            )
        elif not date(2000, 1, 1) <= reported <= today:
            problem(N_("Enter a report date between 2000 and today."), "report_date")
    else:
        # Only Party members report to their community (双报到): other answers are dropped.
        for name in ("party_organisation", "residence_village", "report_date", "party_post"):
            data[name] = None
    if not problems:
        try:
            checked = validated(VolunteerInput, data)
        except DomainError as error:
            problems.append(VolunteerError(error.message, error.field, params=error.params))
    if not problems and check_unique:
        id_hash = protect.keyed_hash("id", f"{parsed.id_type}:{parsed.number}")
        same_id = select(Volunteer.id).where(Volunteer.id_hash == id_hash)
        if current is not None:
            same_id = same_id.where(Volunteer.id != current.id)
        if session.exec(same_id).first() is not None:
            problem(DUPLICATE_ID, "id_number")
        same_mobile = select(User.id).where(User.phone == mobile)
        if current is not None:
            same_mobile = same_mobile.where(User.id != current.user_id)
        if session.exec(same_mobile).first() is not None:
            problem(DUPLICATE_MOBILE, "mobile")
    if problems:
        raise InvalidVolunteer(problems)
    return checked, parsed


def id_hash_of(parsed: idnumber.ParsedId) -> str:
    return protect.keyed_hash("id", f"{parsed.id_type}:{parsed.number}")


def _identity(volunteer: Volunteer, parsed: idnumber.ParsedId) -> None:
    volunteer.id_type = parsed.id_type
    volunteer.id_cipher = protect.encrypt(parsed.number)
    volunteer.id_hash = id_hash_of(parsed)
    volunteer.id_masked = protect.mask(parsed.number)
    volunteer.birth_date = parsed.birth_date
    volunteer.sex = parsed.sex


def next_number(session: Session, year: int, *, prefix: str = "SY") -> str:
    """The next volunteer number of the year: SY2026000001, SY2026000002, ..."""
    return numbering.next_in_year(session, Volunteer.number, prefix, year)


def _insert_with_number(session: Session, volunteer: Volunteer, year: int) -> None:
    """Give the record the next free number; two sign-ups at once retry on the unique index.

    The same person signing up twice at once passes validation in both requests; the unique
    index on the ID hash then refuses the second, which is answered as a duplicate, never a 500.
    """

    def same_person() -> None:
        # The savepoint undid the insert: a number taken meanwhile, or the same person.
        if (
            volunteer.id_hash
            and session.exec(
                select(Volunteer.id).where(Volunteer.id_hash == volunteer.id_hash)
            ).first()
        ):
            raise InvalidVolunteer([VolunteerError(DUPLICATE_ID, "id_number")]) from None

    numbering.insert_numbered(
        session,
        volunteer,
        "number",
        lambda: next_number(session, year),
        busy=VolunteerError(N_("The portal is busy. Please submit again.")),
        on_conflict=same_person,
    )


PROFILE_FIELDS = tuple(
    name
    for name in VolunteerInput.model_fields
    if name not in ("id_number", "mobile", "birth_date", "sex", "id_type")
)


def sign_up(
    session: Session,
    data: dict[str, Any],
    *,
    password: str,
    consent: bool,
    ip: str | None = None,
    today: date | None = None,
) -> Volunteer:
    """Create the volunteer's account and record; the consent is to both current texts."""
    today = today or china_today()
    problems: list[DomainError] = []
    try:
        checked, parsed = validate(session, data, today=today)
    except InvalidVolunteer as error:
        problems.extend(error.problems)
        checked = parsed = None
    if not consent:
        problems.append(
            VolunteerError(
                N_("To sign up, agree to the privacy notice and the volunteer agreement."),
                "consent",
            )
        )
    try:
        accounts.check_password_policy(password or "")
    except DomainError as error:
        problems.append(VolunteerError(error.message, "password", params=error.params))
    if problems:
        raise InvalidVolunteer(problems)
    try:
        with session.begin_nested():
            user = accounts.create_user(
                session,
                name=checked.name,
                role=Role.VOLUNTEER,
                password=password,
                phone=checked.mobile,
                ip=ip,
            )
    except (IntegrityError, accounts.AccountError):
        # The mobile was registered by a request that committed after this one's check
        # (the only account rule the check above has not already applied).
        raise InvalidVolunteer([VolunteerError(DUPLICATE_MOBILE, "mobile")]) from None
    user.notify_by_sms = True  # they gave a mobile to be reached on: reminders come by SMS too
    now = utcnow()
    volunteer = Volunteer(
        **{name: getattr(checked, name) for name in PROFILE_FIELDS},
        number="",
        user_id=user.id,
        id_type=parsed.id_type,
        id_masked="",
        birth_date=parsed.birth_date,
        sex=parsed.sex,
        privacy_version=PRIVACY_VERSION,
        agreement_version=AGREEMENT_VERSION,
        consented_at=now,
    )
    _identity(volunteer, parsed)
    _insert_with_number(session, volunteer, today.year)
    audit.record(
        session,
        action="volunteer.signed_up",
        actor_id=user.id,
        target_type="volunteer",
        target_id=volunteer.id,
        ip=ip,
        number=volunteer.number,
        township=volunteer.township_code,
        privacy=PRIVACY_VERSION,
        agreement=AGREEMENT_VERSION,
    )
    notify.enqueue(
        session,
        key=f"volunteer:{volunteer.id}:signed-up",
        to=notify.Recipient.for_user(user),
        template="volunteers.signed_up",
        context={"name": volunteer.name, "number": volunteer.number},
        link="/volunteers/me",
    )
    cache.bump(session, AREA)
    return volunteer


# Reading ----------------------------------------------------------------------------------


def for_user(session: Session, user: User) -> Volunteer | None:
    if not user.is_authenticated:
        return None
    return session.exec(select(Volunteer).where(Volunteer.user_id == user.id)).first()


def get_for_staff(session: Session, user: User, volunteer_id: int) -> Volunteer:
    """One volunteer for a staff member; another township's is NotFound (404, audited)."""
    from portal.core.domain import NotFound

    if not is_staff(user):
        raise NotAllowed(reason="role")
    volunteer = session.get(Volunteer, volunteer_id)
    if volunteer is None:
        raise NotFound(reason="not_found")
    check_township(user, volunteer.township_code)
    return volunteer


def full_id_number(volunteer: Volunteer) -> str | None:
    """The plain number, for the audited admin export only; None once erased."""
    return protect.decrypt(volunteer.id_cipher) if volunteer.id_cipher else None


def check_valid(volunteer: Volunteer, today: date | None = None) -> bool:
    today = today or china_today()
    return volunteer.check_expires is not None and volunteer.check_expires > today


def pairing_refusal(volunteer: Volunteer, today: date | None = None) -> DomainError | None:
    """Why this volunteer cannot be newly paired today, or None when they can."""
    today = today or china_today()
    if idnumber.age_on(volunteer.birth_date, today) < MIN_AGE:
        return VolunteerError(N_("Volunteers under 18 are not paired with children."))
    if volunteer.status != Status.ACTIVE:
        return VolunteerError(
            N_("Only active volunteers (verified and trained) can be paired. Status: %(status)s."),
            params={"status": STATUS_LABELS[volunteer.status]},
        )
    if not check_valid(volunteer, today):
        return VolunteerError(
            N_(
                "The volunteer's no-criminal-record check has expired; a new one must be verified first."
            )
        )
    return None


@dataclass(frozen=True)
class NextStep:
    """What the volunteer must do next, for the dashboard."""

    message: Any
    endpoint: str | None = None


def next_step(volunteer: Volunteer, today: date | None = None) -> NextStep:
    today = today or china_today()
    if volunteer.status == Status.WITHDRAWN:
        return NextStep(_l("You have withdrawn. Thank you for your service."))
    if volunteer.status == Status.REJECTED:
        return NextStep(_l("Your application was not accepted. The township can tell you more."))
    if volunteer.status == Status.SUSPENDED:
        return NextStep(_l("Your service is suspended. The township can tell you more."))
    if volunteer.consented_at is None:
        return NextStep(
            _l("Read and agree to the privacy notice and the volunteer agreement."),
            "volunteers.consent",
        )
    if volunteer.certificate_sha256:
        return NextStep(
            _l("Your certificate waits for township staff to verify it. Nothing to do for now.")
        )
    if volunteer.status == Status.SUBMITTED:
        return NextStep(_l("Your changed profile waits for township staff to verify it."))
    if volunteer.status == Status.APPLIED:
        return NextStep(
            _l(
                "Obtain a no-criminal-record certificate (无犯罪记录证明) from the police and upload it."
            ),
            "volunteers.certificate",
        )
    if volunteer.check_expires and volunteer.check_expires <= today:
        return NextStep(
            _l("Your check has expired: upload a new certificate."), "volunteers.certificate"
        )
    if volunteer.check_expires and (volunteer.check_expires - today).days <= max(reminder_days()):
        return NextStep(
            _l("Your check expires soon: upload a new certificate."), "volunteers.certificate"
        )
    if volunteer.status == Status.VERIFIED:
        return NextStep(_l("Complete the volunteer training; township staff record it."))
    return NextStep(
        _l("You are an active volunteer. Township staff will contact you about pairing.")
    )


# The volunteer's own changes ---------------------------------------------------------------


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


def _tell(
    session: Session, volunteer: Volunteer, template: str, event: str, **context: Any
) -> None:
    user = session.get(User, volunteer.user_id)
    if user is None or not user.is_active:
        return
    notify.enqueue(
        session,
        key=f"volunteer:{volunteer.id}:{event}",
        to=notify.Recipient.for_user(user),
        template=template,
        context=context,
        link="/volunteers/me",
    )


def _set_status(volunteer: Volunteer, status: Status, reason: str | None = None) -> Status:
    before = volunteer.status
    volunteer.status = status
    volunteer.status_reason = reason
    volunteer.status_changed_at = volunteer.updated_at = utcnow()
    return before


def _require_open(volunteer: Volunteer) -> None:
    if volunteer.status == Status.WITHDRAWN:
        raise VolunteerError(N_("This volunteer has withdrawn."))


def consent(session: Session, volunteer: Volunteer, *, ip: str | None = None) -> None:
    """Agree to the current texts (people imported from a roster do this at first login)."""
    _require_open(volunteer)
    volunteer.privacy_version = PRIVACY_VERSION
    volunteer.agreement_version = AGREEMENT_VERSION
    volunteer.consented_at = volunteer.updated_at = utcnow()
    session.add(volunteer)
    _audit(
        session,
        "volunteer.consented",
        volunteer,
        volunteer.user_id,
        ip,
        privacy=PRIVACY_VERSION,
        agreement=AGREEMENT_VERSION,
    )


def current_values(volunteer: Volunteer, user: User) -> dict[str, Any]:
    """The record as the profile form shows it (the ID number never: it is typed again)."""
    values = {name: getattr(volunteer, name) for name in PROFILE_FIELDS}
    values.update(
        mobile=user.phone,
        id_type=volunteer.id_type,
        birth_date=volunteer.birth_date,
        sex=volunteer.sex,
    )
    return values


def update_profile(
    session: Session,
    volunteer: Volunteer,
    data: dict[str, Any],
    *,
    ip: str | None = None,
    today: date | None = None,
) -> bool:
    """Save the volunteer's changes; True when key fields changed and vetting starts again.

    An empty ID number keeps the one on record. Changing the name, the identity document or the
    township sends a verified or active volunteer back to township staff for verification.
    """
    _require_open(volunteer)
    today = today or china_today()
    user = session.get(User, volunteer.user_id)
    data = dict(data)
    keep_id = not (data.get("id_number") or "").strip()
    if keep_id:
        if volunteer.id_cipher is None:
            raise InvalidVolunteer([VolunteerError(N_("Enter the ID number."), "id_number")])
        data["id_number"] = full_id_number(volunteer)
        data["id_type"] = volunteer.id_type
        if volunteer.id_type != IdType.RESIDENT_ID:
            data.setdefault("birth_date", volunteer.birth_date)
            data.setdefault("sex", volunteer.sex)
    checked, parsed = validate(session, data, today=today, current=volunteer)
    changed = {
        name for name in PROFILE_FIELDS if getattr(volunteer, name) != getattr(checked, name)
    }
    new_hash = id_hash_of(parsed)
    if new_hash != volunteer.id_hash:
        changed.add("id_number")
    if checked.mobile != user.phone:
        changed.add("mobile")
    if not changed:
        return False
    for name in PROFILE_FIELDS:
        setattr(volunteer, name, getattr(checked, name))
    if "id_number" in changed:
        _identity(volunteer, parsed)
    user.name = checked.name
    user.phone = checked.mobile
    volunteer.updated_at = utcnow()
    session.add_all([volunteer, user])
    key_changed = bool(changed & set(KEY_FIELDS))
    send_back = key_changed and volunteer.status in (Status.VERIFIED, Status.ACTIVE)
    if send_back:
        _set_status(volunteer, Status.SUBMITTED, "profile_changed")
    session.flush()
    _audit(
        session,
        "volunteer.profile_changed",
        volunteer,
        volunteer.user_id,
        ip,
        fields=sorted(changed),
        sent_back=send_back,
    )
    if send_back:
        _tell(
            session,
            volunteer,
            "volunteers.profile_changed",
            f"profile-changed:{volunteer.updated_at.timestamp():.0f}",
        )
    return send_back


def upload_certificate(
    session: Session,
    volunteer: Volunteer,
    *,
    data: bytes,
    ip: str | None = None,
) -> None:
    """Keep the certificate (PDF, JPEG or PNG) until township staff decide on it."""
    if volunteer.status not in OPEN_STATUSES:
        raise VolunteerError(
            N_("Your record is closed: a certificate cannot be uploaded now."), "file"
        )
    checked = uploads.check(data, error_class=VolunteerError)
    uploads.keep(upload_folder(), checked)
    old = volunteer.certificate_sha256
    volunteer.certificate_sha256 = checked.sha256
    volunteer.certificate_type = checked.content_type
    volunteer.certificate_uploaded_at = volunteer.updated_at = utcnow()
    if volunteer.status == Status.APPLIED:
        _set_status(volunteer, Status.SUBMITTED)
    session.add(volunteer)
    session.flush()
    if old and old != checked.sha256:
        _delete_file_after_commit(session, old)
    _audit(
        session,
        "volunteer.certificate_uploaded",
        volunteer,
        volunteer.user_id,
        ip,
        type=checked.content_type,
    )


def certificate_file(volunteer: Volunteer) -> Path | None:
    if not volunteer.certificate_sha256:
        return None
    path = upload_folder() / volunteer.certificate_sha256
    return path if path.exists() else None


def _delete_file_after_commit(session: Session, sha256: str) -> None:
    """The record is not kept (only the outcome is): remove the file once the decision holds."""
    folder = upload_folder()

    def remove() -> None:
        still_used = False
        from portal.extensions import db

        with db.transaction(write=False) as reader:
            still_used = (
                reader.exec(
                    select(func.count()).where(Volunteer.certificate_sha256 == sha256)
                ).one()
                > 0
            )
        if not still_used:
            (folder / sha256).unlink(missing_ok=True)

    on_commit(session, remove)


def _drop_certificate(session: Session, volunteer: Volunteer) -> None:
    sha = volunteer.certificate_sha256
    volunteer.certificate_sha256 = None
    volunteer.certificate_type = None
    volunteer.certificate_uploaded_at = None
    if sha:
        _delete_file_after_commit(session, sha)


def withdraw(session: Session, volunteer: Volunteer, *, ip: str | None = None) -> None:
    """Leave the programme: the account closes and the ID number is erased (see the page)."""
    _require_open(volunteer)
    user = session.get(User, volunteer.user_id)
    _set_status(volunteer, Status.WITHDRAWN, "by_volunteer")
    volunteer.id_cipher = None
    volunteer.id_hash = None
    _drop_certificate(session, volunteer)
    user.is_active = False
    user.phone = None  # the number may sign up again later
    accounts.end_all_sessions(session, user=user)
    session.add_all([volunteer, user])
    session.flush()
    _audit(session, "volunteer.withdrawn", volunteer, user.id, ip)
    cache.bump(session, AREA)


# Staff decisions --------------------------------------------------------------------------


def _staff_volunteer(user: User, volunteer: Volunteer) -> None:
    if not is_staff(user):
        raise NotAllowed(reason="role")
    check_township(user, volunteer.township_code)


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise VolunteerError(N_("Give the reason; the volunteer is told it."), "reason")
    if len(reason) > REASON_MAX:
        raise VolunteerError(
            N_("At most %(max)d characters."), "reason", params={"max": REASON_MAX}
        )
    return reason


def verify(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    check_date: date,
    training_date: date | None = None,
    ip: str | None = None,
    today: date | None = None,
) -> None:
    """Record a passed criminal-record check (its date); the certificate file is deleted."""
    _staff_volunteer(actor, volunteer)
    today = today or china_today()
    if not permissions(actor, volunteer).can_verify:
        raise VolunteerError(N_("There is nothing to verify for this volunteer now."))
    if check_date is None or check_date > today:
        raise VolunteerError(N_("The check date cannot be in the future."), "check_date")
    if (today - check_date).days >= valid_days():
        raise VolunteerError(
            N_("A check older than %(days)d days is no longer valid: ask for a new certificate."),
            "check_date",
            params={"days": valid_days()},
        )
    if training_date is not None and training_date > today:
        raise VolunteerError(N_("The training date cannot be in the future."), "training_date")
    volunteer.check_date = check_date
    volunteer.check_expires = check_date + timedelta(days=valid_days())
    volunteer.checked_by = actor.id
    if training_date is not None:
        volunteer.training_date = training_date
    _drop_certificate(session, volunteer)
    status = Status.ACTIVE if volunteer.training_date else Status.VERIFIED
    before = _set_status(volunteer, status)
    session.add(volunteer)
    session.flush()
    _audit(
        session,
        "volunteer.verified",
        volunteer,
        actor.id,
        ip,
        check_date=check_date.isoformat(),
        before=str(before),
        after=str(status),
    )
    next_text = (
        N_("You are an active volunteer.")
        if status == Status.ACTIVE
        else N_("Next: complete the volunteer training.")
    )
    _tell(
        session,
        volunteer,
        "volunteers.verified",
        f"verified:{check_date.isoformat()}",
        check_date=check_date.isoformat(),
        expires=volunteer.check_expires.isoformat(),
        next_step=translated_for(session.get(User, volunteer.user_id), next_text),
    )
    cache.bump(session, AREA)


def record_training(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    training_date: date,
    ip: str | None = None,
    today: date | None = None,
) -> None:
    _staff_volunteer(actor, volunteer)
    today = today or china_today()
    if volunteer.status != Status.VERIFIED:
        raise VolunteerError(N_("Training is recorded for verified volunteers."))
    if training_date is None or training_date > today:
        raise VolunteerError(N_("The training date cannot be in the future."), "training_date")
    volunteer.training_date = training_date
    _set_status(volunteer, Status.ACTIVE)
    session.add(volunteer)
    session.flush()
    _audit(
        session,
        "volunteer.trained",
        volunteer,
        actor.id,
        ip,
        training_date=training_date.isoformat(),
    )
    _tell(session, volunteer, "volunteers.active", "active")
    cache.bump(session, AREA)


def return_document(
    session: Session, volunteer: Volunteer, *, actor: User, reason: str, ip: str | None = None
) -> None:
    """The certificate cannot be accepted (unreadable, someone else's): ask for it again."""
    _staff_volunteer(actor, volunteer)
    reason = _reason(reason)
    if not volunteer.certificate_sha256:
        raise VolunteerError(N_("There is no certificate waiting."))
    _drop_certificate(session, volunteer)
    if volunteer.status == Status.SUBMITTED and volunteer.check_date is None:
        _set_status(volunteer, Status.APPLIED, reason)
    session.add(volunteer)
    session.flush()
    _audit(session, "volunteer.document_returned", volunteer, actor.id, ip, reason=reason)
    _tell(
        session,
        volunteer,
        "volunteers.document_returned",
        f"returned:{utcnow().timestamp():.0f}",
        reason=reason,
    )


def reject(
    session: Session, volunteer: Volunteer, *, actor: User, reason: str, ip: str | None = None
) -> None:
    _staff_volunteer(actor, volunteer)
    reason = _reason(reason)
    if not permissions(actor, volunteer).can_reject:
        raise VolunteerError(N_("This volunteer cannot be rejected in their current status."))
    _drop_certificate(session, volunteer)
    before = _set_status(volunteer, Status.REJECTED, reason)
    session.add(volunteer)
    session.flush()
    _audit(
        session, "volunteer.rejected", volunteer, actor.id, ip, reason=reason, before=str(before)
    )
    _tell(
        session,
        volunteer,
        "volunteers.rejected",
        f"rejected:{volunteer.status_changed_at.timestamp():.0f}",
        reason=reason,
    )
    cache.bump(session, AREA)


def suspend(
    session: Session, volunteer: Volunteer, *, actor: User, reason: str, ip: str | None = None
) -> None:
    _staff_volunteer(actor, volunteer)
    reason = _reason(reason)
    if not permissions(actor, volunteer).can_suspend:
        raise VolunteerError(N_("Only verified or active volunteers can be suspended."))
    before = _set_status(volunteer, Status.SUSPENDED, reason)
    session.add(volunteer)
    session.flush()
    _audit(
        session, "volunteer.suspended", volunteer, actor.id, ip, reason=reason, before=str(before)
    )
    _tell(
        session,
        volunteer,
        "volunteers.suspended",
        f"suspended:{volunteer.status_changed_at.timestamp():.0f}",
        reason=reason,
    )
    cache.bump(session, AREA)


def reinstate(
    session: Session,
    volunteer: Volunteer,
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> Status:
    """Back from suspended or rejected: to where the record's checks put them."""
    _staff_volunteer(actor, volunteer)
    if not permissions(actor, volunteer).can_reinstate:
        raise VolunteerError(N_("Only suspended or rejected volunteers can be reinstated."))
    today = today or china_today()
    if volunteer.check_date is None:
        status = Status.APPLIED
    elif volunteer.training_date:
        status = Status.ACTIVE
    else:
        status = Status.VERIFIED
    before = _set_status(volunteer, status)
    session.add(volunteer)
    session.flush()
    _audit(
        session,
        "volunteer.reinstated",
        volunteer,
        actor.id,
        ip,
        before=str(before),
        after=str(status),
    )
    _tell(
        session,
        volunteer,
        "volunteers.reinstated",
        f"reinstated:{volunteer.status_changed_at.timestamp():.0f}",
        status=translated_for(session.get(User, volunteer.user_id), STATUS_TEXT[status]),
    )
    cache.bump(session, AREA)
    return status


# Lists and queues -------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    q: str = ""
    status: str = ""
    township: str = ""
    category: str = ""
    check: str = ""  # "" | expiring | expired | pending


def list_statement(user: User, filters: ListFilters, *, today: date | None = None):
    """The staff list: scoped to the user's townships, filtered, newest first."""
    today = today or china_today()
    statement = select(Volunteer)
    statement = scope_query(statement, Volunteer.township_code, user)
    if filters.status in {s.value for s in Status}:
        statement = statement.where(Volunteer.status == filters.status)
    if filters.township:
        statement = statement.where(Volunteer.township_code == filters.township)
    if filters.category in {c.value for c in Category}:
        statement = statement.where(Volunteer.category == filters.category)
    if filters.check == "pending":
        statement = statement.where(Volunteer.certificate_sha256.is_not(None))
    elif filters.check == "expiring":
        statement = statement.where(
            Volunteer.check_expires > today,
            Volunteer.check_expires <= today + timedelta(days=max(reminder_days())),
            Volunteer.status.in_([Status.VERIFIED, Status.ACTIVE]),
        )
    elif filters.check == "expired":
        statement = statement.where(
            Volunteer.check_expires <= today, Volunteer.status.in_([Status.VERIFIED, Status.ACTIVE])
        )
    q = filters.q.strip()
    if q:
        if re.fullmatch(r"(?i)SY\d{4,10}", q):
            statement = statement.where(Volunteer.number == q.upper())
        elif re.fullmatch(r"1\d{10}", q):
            statement = statement.where(
                Volunteer.user_id.in_(select(User.id).where(User.phone == q))
            )
        else:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(
                or_(
                    Volunteer.name.like(like, escape="\\"),
                    Volunteer.village.like(like, escape="\\"),
                    Volunteer.employer.like(like, escape="\\"),
                )
            )
    return statement.order_by(Volunteer.id.desc())


def _count(session: Session, statement) -> int:
    return session.exec(select(func.count()).select_from(statement.order_by(None).subquery())).one()


def waiting_count(session: Session, user: User) -> int:
    """Certificates and changed profiles waiting for verification, in the user's townships."""
    statement = scope_query(select(Volunteer.id), Volunteer.township_code, user).where(
        or_(Volunteer.certificate_sha256.is_not(None), Volunteer.status == Status.SUBMITTED),
        Volunteer.status.in_(list(OPEN_STATUSES)),
    )
    return _count(session, statement)


def training_count(session: Session, user: User) -> int:
    statement = scope_query(select(Volunteer.id), Volunteer.township_code, user).where(
        Volunteer.status == Status.VERIFIED, Volunteer.certificate_sha256.is_(None)
    )
    return _count(session, statement)


def expiring_count(session: Session, user: User, today: date | None = None) -> int:
    """Checks expiring within the first reminder's days, or already expired, of open records."""
    today = today or china_today()
    statement = scope_query(select(Volunteer.id), Volunteer.township_code, user).where(
        Volunteer.status.in_([Status.VERIFIED, Status.ACTIVE]),
        Volunteer.check_expires <= today + timedelta(days=max(reminder_days())),
    )
    return _count(session, statement)


def public_figures(session: Session) -> dict[str, int]:
    """Aggregates the public may see: how many active volunteers, in how many townships."""
    today = china_today()
    active = select(Volunteer).where(
        Volunteer.status == Status.ACTIVE, Volunteer.check_expires > today
    )
    return {
        "active": _count(session, active),
        "townships": session.exec(
            select(func.count(func.distinct(Volunteer.township_code))).where(
                Volunteer.status == Status.ACTIVE, Volunteer.check_expires > today
            )
        ).one(),
    }


# Reminders (the scheduler) ------------------------------------------------------------------


def township_staff(session: Session, township_code: str) -> list[User]:
    return list(
        session.exec(
            select(User).where(
                User.role == Role.TOWNSHIP_STAFF,
                User.township_code == township_code,
                User.is_active.is_(True),
            )
        )
    )


def vetting_reminders(session: Session, *, today: date | None = None) -> dict[str, int]:
    """Remind before expiry (30 and 7 days) and act at expiry; each message is sent once.

    A reminder's key holds the expiry date, so a renewed check gets its own reminders. A
    volunteer whose check has expired stays on record but cannot be newly paired
    (`pairing_refusal`); they and their township's staff are told once.
    """
    today = today or china_today()
    sent = {"reminded": 0, "expired": 0}
    horizon = today + timedelta(days=max(reminder_days()))
    rows = session.exec(
        select(Volunteer).where(
            Volunteer.status.in_([Status.VERIFIED, Status.ACTIVE]),
            Volunteer.check_expires.is_not(None),
            Volunteer.check_expires <= horizon,
        )
    ).all()
    for volunteer in rows:
        expires = volunteer.check_expires
        left = (expires - today).days
        if left > 0:
            # The nearest reminder day reached: 30 days before, then 7.
            due = [d for d in sorted(reminder_days()) if left <= d]
            if not due:
                continue
            days = due[0]
            key = f"volunteer:{volunteer.id}:check-expiring:{expires.isoformat()}:{days}"
            if notify.is_queued(session, key):
                continue
            _tell(
                session,
                volunteer,
                "volunteers.check_expiring",
                key.split(":", 2)[2],
                expires=expires.isoformat(),
                days=left,
            )
            sent["reminded"] += 1
            continue
        key = f"volunteer:{volunteer.id}:check-expired:{expires.isoformat()}"
        if notify.is_queued(session, key):
            continue
        _tell(
            session,
            volunteer,
            "volunteers.check_expired",
            key.split(":", 2)[2],
            expires=expires.isoformat(),
        )
        for staff in township_staff(session, volunteer.township_code):
            notify.enqueue(
                session,
                key=f"volunteer:{volunteer.id}:staff-expired:{expires.isoformat()}:{staff.id}",
                to=notify.Recipient.for_user(staff),
                template="volunteers.staff_check_expired",
                context={
                    "number": volunteer.number,
                    "name": volunteer.name,
                    "expires": expires.isoformat(),
                },
                link=f"/volunteers/staff/{volunteer.id}",
            )
        _audit(
            session, "volunteer.check_expired", volunteer, None, None, expires=expires.isoformat()
        )
        sent["expired"] += 1
    if sent["expired"]:
        cache.bump(session, AREA)
    return sent
