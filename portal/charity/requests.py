"""Emergency-aid requests: submission, township check, review, four-eyes approval, notice, payment.

    submitted ──check──▶ checked ──propose──▶ approving ──approvals──▶ approved ──pay──▶ paid ──▶ closed
        │  ▲                │  ▲                 │                      (public notice)
        ▼  │ more info      ▼  │                 ▼
    info_needed ◀───────────────────────── (ask for more) ; any open step ──reject──▶ rejected

Rules (each refuses before anything is written):
- Township staff check requests of their own township only (county staff everywhere).
- Nobody approves a request they entered, checked or proposed; each approver approves once;
  above `PORTAL_AID_TWO_APPROVERS_ABOVE_FEN` (¥5,000) two different approvers are needed.
- An approval cannot exceed the fund's available balance at that moment.
- The yearly cap (`PORTAL_AID_YEARLY_CAP`, once per child per calendar year, counted across all
  funds) can be exceeded only with a written reason, which is audited.
- The payer is never one of the approvers. Payment waits for the end of the public notice
  (`PORTAL_AID_NOTICE_DAYS`, 7 days), except for emergencies (先行救助: paid at once, the
  notice still published). Paying writes the ledger entry once, however often it is clicked.
- Deadlines: a first response within 24 hours for emergencies, 3 working days otherwise; each
  later step gets the same window. The scheduler reminds before a deadline and escalates to
  the charity's approvers after it (each message once).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit, cache, notify
from portal.auth.models import Role, User
from portal.auth.services import MOBILE_RE
from portal.charity import ledger
from portal.charity.models import (
    AidKind,
    AidRequest,
    Approval,
    DocumentKind,
    Fund,
    RequestDocument,
    RequestStatus,
)
from portal.core import numbering, protect, uploads
from portal.core.domain import DomainError, InvalidInput, NotAllowed, NotFound
from portal.core.fields import PERSON_NAME_RE
from portal.core.scoping import check_township, scope_query
from portal.i18n import N_, translated_for
from portal.places import Township
from portal.timeutil import SHANGHAI, china_today, utcnow

AREA = "charity"
NAME_RE = PERSON_NAME_RE
ACCOUNT_RE = re.compile(r"^\d{8,30}$")
MAX_REQUEST_FEN = 100_000_00  # ¥100,000: a request above it is surely a typing mistake
RELATIONS = ("guardian", "child_director", "volunteer", "other")
OPEN = (
    RequestStatus.SUBMITTED,
    RequestStatus.INFO_NEEDED,
    RequestStatus.CHECKED,
    RequestStatus.APPROVING,
)
PAID_OR_APPROVED = (RequestStatus.APPROVED, RequestStatus.PAID, RequestStatus.CLOSED)
STAFF_ROLES = frozenset({Role.CHARITY_STAFF, Role.CHARITY_APPROVER, Role.ADMIN})
TOWNSHIP_ROLES = frozenset({Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF})

STATUS_TEXT = {
    RequestStatus.SUBMITTED: N_("Submitted: waiting for the township's check"),
    RequestStatus.INFO_NEEDED: N_("More information needed"),
    RequestStatus.CHECKED: N_("Checked by the township: waiting for the charity's review"),
    RequestStatus.APPROVING: N_("Under approval"),
    RequestStatus.APPROVED: N_("Approved: public notice"),
    RequestStatus.REJECTED: N_("Not approved"),
    RequestStatus.PAID: N_("Paid"),
    RequestStatus.CLOSED: N_("Case closed"),
}
STATUS_LABELS = {status: _l(text) for status, text in STATUS_TEXT.items()}
KIND_LABELS = {
    AidKind.ILLNESS: _l("Illness"),
    AidKind.ACCIDENT: _l("Accidental injury"),
    AidKind.DISASTER: _l("Disaster"),
    AidKind.HARDSHIP: _l("Sudden hardship"),
    AidKind.OTHER: _l("Other"),
}
RELATION_LABELS = {
    "guardian": _l("Guardian"),
    "child_director": _l("Child director of the village"),
    "volunteer": _l("Volunteer"),
    "other": _l("Other"),
}
DOCUMENT_LABELS = {
    DocumentKind.APPLICATION: _l("Application form"),
    DocumentKind.HOUSEHOLD: _l("Household register (户口簿)"),
    DocumentKind.IDENTITY: _l("Identity card"),
    DocumentKind.MEDICAL: _l("Medical records or bills"),
    DocumentKind.VILLAGE: _l("Village (community) certificate"),
    DocumentKind.LOW_INCOME: _l("Low-income (低保/特困) certificate"),
    DocumentKind.OTHER: _l("Other document"),
}

for _template, _subject, _body, _sms in (
    (
        "aid.received",
        N_("Request {number} received"),
        N_(
            "Your request {number} for emergency aid for {child} is received. Follow it with the number and your mobile on the portal."
        ),
        N_("Emergency aid: request {number} received. Track it with the number and your mobile."),
    ),
    (
        "aid.info_needed",
        N_("Request {number}: more information needed"),
        N_(
            "For request {number}, please add: {what} Use the number and your mobile on the portal."
        ),
        N_("Emergency aid {number}: please add: {what}"),
    ),
    (
        "aid.checked",
        N_("Request {number} checked by the township"),
        N_(
            "Request {number} was checked by the township and goes to the charity federation for review."
        ),
        N_("Emergency aid {number}: checked by the township, now under review."),
    ),
    (
        "aid.approved",
        N_("Request {number} approved"),
        N_(
            "Request {number} is approved: ¥{amount}. A public notice without names runs until {until}; then the money is paid."
        ),
        N_("Emergency aid {number}: approved ¥{amount}. Payment after the notice ends {until}."),
    ),
    (
        "aid.rejected",
        N_("Request {number} not approved"),
        N_("Request {number} was not approved: {reason}"),
        N_("Emergency aid {number}: not approved. {reason}"),
    ),
    (
        "aid.paid",
        N_("Request {number} paid"),
        N_("¥{amount} for request {number} was paid to the account ending {account}."),
        N_("Emergency aid {number}: ¥{amount} paid to account ending {account}."),
    ),
    (
        "aid.staff_reminder",
        N_("Due soon: request {number}"),
        N_("Request {number} ({stage}) must be handled by {due}."),
        None,
    ),
    (
        "aid.staff_escalation",
        N_("Overdue: request {number}"),
        N_("Request {number} ({stage}) was due by {due} and is still waiting."),
        None,
    ),
):
    notify.register_template(_template, subject=_subject, body=_body, sms=_sms)

audit.register_actions(
    {
        "aid.submitted": _l("Aid request submitted"),
        "aid.document_added": _l("Document added to an aid request"),
        "aid.document_viewed": _l("Aid request document opened"),
        "aid.viewed": _l("Aid request opened"),
        "aid.info_requested": _l("More information asked for an aid request"),
        "aid.info_given": _l("Applicant answered a request for information"),
        "aid.checked": _l("Aid request checked by the township"),
        "aid.proposed": _l("Aid request proposed for approval"),
        "aid.approval": _l("Aid request approved by an approver"),
        "aid.approved": _l("Aid request approved"),
        "aid.rejected": _l("Aid request rejected"),
        "aid.paid": _l("Aid paid"),
        "aid.closed": _l("Aid request closed"),
        "aid.cap_override": _l("Yearly cap exceeded with a reason"),
    }
)
audit.register_target(
    "aid_request", audit.TargetType(_l("Aid request"), "charity.request_detail", "request_id")
)


class AidError(DomainError):
    """An emergency-aid rule was broken; the message is translatable."""


class InvalidRequest(InvalidInput, AidError):
    """Several fields are wrong at once: each problem names its field."""


# Settings -----------------------------------------------------------------------------------


def _config(name: str, default: Any) -> Any:
    return current_app.config.get(name, default) if has_app_context() else default


def two_approvers_above() -> int:
    return int(_config("PORTAL_AID_TWO_APPROVERS_ABOVE_FEN", 500_000))


def yearly_cap() -> int:
    return int(_config("PORTAL_AID_YEARLY_CAP", 1))


def notice_days() -> int:
    return int(_config("PORTAL_AID_NOTICE_DAYS", 7))


def add_working_days(start: datetime, days: int) -> datetime:
    """`days` working days (Monday to Friday, China time) after `start`.

    Public holidays are not known to the portal: a deadline over a holiday is a day early,
    never late.
    """
    local = start.astimezone(SHANGHAI)
    added = 0
    while added < days:
        local += timedelta(days=1)
        if local.weekday() < 5:
            added += 1
    return local.astimezone(start.tzinfo)


def response_due(emergency: bool, start: datetime) -> datetime:
    return start + timedelta(hours=24) if emergency else add_working_days(start, 3)


# Submission ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    kind: str
    filename: str
    data: bytes


def child_key(name: str, sex: str, township: str, village: str) -> str:
    normal = "|".join(re.sub(r"\s+", "", v) for v in (name, sex, township, village))
    return protect.keyed_hash("aid-child", normal)


def required_documents(kind: str, emergency: bool) -> set[str]:
    """Emergencies are helped first and papered after (先行救助): nothing is required up front."""
    if emergency:
        return set()
    needed = {DocumentKind.APPLICATION.value, DocumentKind.HOUSEHOLD.value}
    if kind in (AidKind.ILLNESS, AidKind.ACCIDENT):
        needed.add(DocumentKind.MEDICAL.value)
    return needed


def check_request(
    session: Session, data: dict[str, Any], documents: list[Upload]
) -> dict[str, Any]:
    problems: list[DomainError] = []

    def problem(message: str, field: str, **params: Any) -> None:
        if not any(p.field == field for p in problems):
            problems.append(AidError(message, field, params=params or None))

    clean: dict[str, Any] = {}
    for field, label_missing in (
        ("applicant_name", N_("Enter your name.")),
        ("child_name", N_("Enter the child's name.")),
    ):
        value = (data.get(field) or "").strip()
        clean[field] = value
        if not value:
            problem(label_missing, field)
        elif not 2 <= len(value) <= 20 or not NAME_RE.match(value):
            problem(N_("A name has 2 to 20 Chinese characters or letters."), field)
    mobile = re.sub(r"[\s-]+", "", data.get("applicant_mobile") or "")
    clean["applicant_mobile"] = mobile
    if not MOBILE_RE.match(mobile):
        problem(N_("A mobile number has 11 digits and starts with 13-19."), "applicant_mobile")
    clean["applicant_relation"] = data.get("applicant_relation") or ""
    if clean["applicant_relation"] not in RELATIONS:
        problem(N_("Choose how you are related to the child."), "applicant_relation")
    clean["child_sex"] = data.get("child_sex") or ""
    if clean["child_sex"] not in ("M", "F"):
        problem(N_("Choose the child's sex."), "child_sex")
    try:
        age = int(str(data.get("child_age", "")).strip())
    except ValueError:
        age = -1
    clean["child_age"] = age
    if not 0 <= age <= 17:
        problem(N_("Enter the child's age: 0 to 17."), "child_age")
    clean["township_code"] = data.get("township_code") or ""
    if session.get(Township, clean["township_code"] or "-") is None:
        problem(N_("Choose the township."), "township_code")
    clean["village"] = (data.get("village") or "").strip()
    if not clean["village"] or len(clean["village"]) > 30:
        problem(N_("Enter the village or community (at most 30 characters)."), "village")
    clean["kind"] = data.get("kind") or ""
    if clean["kind"] not in {k.value for k in AidKind}:
        problem(N_("Choose what happened."), "kind")
    clean["emergency"] = bool(data.get("emergency"))
    try:
        clean["requested_fen"] = ledger.parse_yuan(data.get("amount"), field="amount")
        if clean["requested_fen"] > MAX_REQUEST_FEN:
            problem(N_("A request is at most ¥100,000."), "amount")
    except DomainError as error:
        problem(error.message, "amount", **error.params)
    clean["story"] = (data.get("story") or "").strip()
    if len(clean["story"]) < 10:
        problem(N_("Say in a few sentences what happened (at least 10 characters)."), "story")
    elif len(clean["story"]) > 2000:
        problem(N_("At most %(max)d characters."), "story", max=2000)
    clean["account_holder"] = (data.get("account_holder") or "").strip()
    if not 2 <= len(clean["account_holder"]) <= 20:
        problem(N_("Enter the account holder's name."), "account_holder")
    clean["account_bank"] = (data.get("account_bank") or "").strip()
    if not 2 <= len(clean["account_bank"]) <= 40:
        problem(N_("Enter the bank (and branch)."), "account_bank")
    account = re.sub(r"[\s-]+", "", data.get("account_number") or "")
    clean["account_number"] = account
    if not ACCOUNT_RE.match(account):
        problem(N_("An account number has 8 to 30 digits."), "account_number")
    if not data.get("consent"):
        problem(
            N_(
                "To apply, agree that the charity federation and township staff use this information to handle the request."
            ),
            "consent",
        )
    kinds = {d.kind for d in documents}
    if any(k not in {d.value for d in DocumentKind} for k in kinds):
        problem(N_("Choose what each document is."), "documents")
    missing = required_documents(clean["kind"], clean["emergency"]) - kinds
    if clean["kind"] and missing:
        names = "、".join(str(DOCUMENT_LABELS[DocumentKind(k)]) for k in sorted(missing))
        problem(
            N_("Add these documents: %(names)s (or tick emergency: documents may then follow)."),
            "documents",
            names=names,
        )
    if problems:
        raise InvalidRequest(problems)
    return clean


NUMBER_PREFIX = "YJ"


def next_number(session: Session, year: int) -> str:
    return numbering.next_in_year(session, AidRequest.number, NUMBER_PREFIX, year)


def _keep_document(
    session: Session, request: AidRequest, upload: Upload, *, by: User | None
) -> RequestDocument:
    checked = uploads.check(upload.data, error_class=AidError)
    uploads.keep(upload_folder(), checked)
    document = RequestDocument(
        request_id=request.id,
        kind=DocumentKind(upload.kind),
        filename=uploads.safe_filename(upload.filename, checked.extension),
        content_type=checked.content_type,
        size=len(checked.data),
        sha256=checked.sha256,
        uploaded_by=by.id if by else None,
    )
    session.add(document)
    session.flush()
    return document


def upload_folder():
    from pathlib import Path

    return Path(current_app.config["PORTAL_UPLOAD_DIR"]) / "charity"


def submit(
    session: Session,
    data: dict[str, Any],
    *,
    documents: list[Upload],
    idempotency_key: str,
    entered_by: User | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> tuple[AidRequest, bool]:
    """Create the request (and keep its documents); the same key answers the same request."""
    key = (idempotency_key or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", key):
        raise AidError(N_("The form has expired. Please open it again."))
    existing = session.exec(select(AidRequest).where(AidRequest.idempotency_key == key)).first()
    if existing is not None:
        return existing, False
    clean = check_request(session, data, documents)
    for upload in documents:  # refuse a bad file before anything is written
        uploads.check(upload.data, error_class=AidError)
    now = now or utcnow()
    account = clean.pop("account_number")
    request = AidRequest(
        **clean,
        number="",
        idempotency_key=key,
        child_key=child_key(
            clean["child_name"], clean["child_sex"], clean["township_code"], clean["village"]
        ),
        account_cipher=protect.encrypt(account),
        account_masked=protect.mask(account),
        consented_at=now,
        entered_by=entered_by.id if entered_by else None,
        created_at=now,
        updated_at=now,
        due_at=response_due(clean["emergency"], now),
    )
    year = now.astimezone(SHANGHAI).year
    again = numbering.insert_numbered(
        session,
        request,
        "number",
        lambda: next_number(session, year),
        busy=AidError(N_("The portal is busy. Please submit again.")),
        # A double click committed first: its request is the answer.
        on_conflict=lambda: session.exec(
            select(AidRequest).where(AidRequest.idempotency_key == key)
        ).first(),
    )
    if again is not None:
        return again, False
    for upload in documents:
        _keep_document(session, request, upload, by=entered_by)
    _audit(
        session,
        "aid.submitted",
        request,
        entered_by,
        ip,
        emergency=request.emergency,
        documents=len(documents),
    )
    _tell(session, request, "aid.received", "received")
    return request, True


def track(session: Session, number: str, mobile: str) -> AidRequest | None:
    """A request by its number and the applicant's mobile; a wrong pair finds nothing."""
    number = re.sub(r"\s+", "", number or "").upper()
    mobile = re.sub(r"[\s-]+", "", mobile or "")
    if not re.fullmatch(r"YJ\d{10}", number) or not MOBILE_RE.match(mobile):
        return None
    request = session.exec(select(AidRequest).where(AidRequest.number == number)).first()
    if request is None or not secrets.compare_digest(request.applicant_mobile, mobile):
        return None
    return request


def add_documents(
    session: Session,
    request: AidRequest,
    documents: list[Upload],
    *,
    by: User | None = None,
    note: str | None = None,
    ip: str | None = None,
) -> None:
    """The applicant adds documents (asked for, or papering an emergency after the fact)."""
    if request.status not in (*OPEN, RequestStatus.APPROVED):
        raise AidError(N_("This request is closed: documents can no longer be added."), "documents")
    if not documents:
        raise AidError(N_("Choose at least one file."), "documents")
    for upload in documents:
        if upload.kind not in {d.value for d in DocumentKind}:
            raise AidError(N_("Choose what each document is."), "documents")
        uploads.check(upload.data, error_class=AidError)
    for upload in documents:
        _keep_document(session, request, upload, by=by)
    _audit(session, "aid.document_added", request, by, ip, count=len(documents))
    if request.status == RequestStatus.INFO_NEEDED:
        # Back to whoever asked: the township before its check, the charity after it.
        request.status = RequestStatus.CHECKED if request.checked_at else RequestStatus.SUBMITTED
        request.due_at = response_due(request.emergency, utcnow())
        request.updated_at = utcnow()
        session.add(request)
        _audit(session, "aid.info_given", request, by, ip, note=(note or "")[:200] or None)


# Reading ------------------------------------------------------------------------------------


def is_charity(user: User) -> bool:
    return user.is_authenticated and user.role in STAFF_ROLES


def get_for_staff(session: Session, user: User, request_id: int) -> AidRequest:
    """Charity staff see every request; township staff only their township's (404 otherwise)."""
    request = session.get(AidRequest, request_id)
    if request is None:
        raise NotFound(reason="not_found")
    if is_charity(user):
        return request
    if user.is_authenticated and user.role in TOWNSHIP_ROLES:
        check_township(user, request.township_code)
        return request
    raise NotAllowed(reason="role")


def queue_statement(user: User, *, status: str = ""):
    statement = select(AidRequest)
    if not is_charity(user):
        statement = scope_query(statement, AidRequest.township_code, user)
    if status in {s.value for s in RequestStatus}:
        statement = statement.where(AidRequest.status == status)
    else:
        statement = statement.where(AidRequest.status.in_([*OPEN, RequestStatus.APPROVED]))
    return statement.order_by(AidRequest.emergency.desc(), AidRequest.due_at, AidRequest.id)


@dataclass(frozen=True)
class EarlierAid:
    request: AidRequest
    fund_name: str | None


def earlier_aid(session: Session, request: AidRequest) -> list[EarlierAid]:
    """The child's other approved or paid requests, across all funds."""
    rows = session.exec(
        select(AidRequest, Fund.name)
        .join(Fund, Fund.id == AidRequest.fund_id, isouter=True)
        .where(
            AidRequest.child_key == request.child_key,
            AidRequest.id != request.id,
            AidRequest.status.in_(list(PAID_OR_APPROVED)),
        )
        .order_by(AidRequest.approved_at.desc())
    ).all()
    return [EarlierAid(r, name) for r, name in rows]


def aid_this_year(session: Session, request: AidRequest, today: date | None = None) -> int:
    today = today or china_today()
    return sum(
        1
        for e in earlier_aid(session, request)
        if e.request.approved_at and e.request.approved_at.astimezone(SHANGHAI).year == today.year
    )


def approvals(session: Session, request: AidRequest) -> list[Approval]:
    return list(
        session.exec(
            select(Approval).where(Approval.request_id == request.id).order_by(Approval.id)
        )
    )


def approvers_needed(request: AidRequest) -> int:
    return 2 if (request.approved_fen or 0) > two_approvers_above() else 1


# Steps --------------------------------------------------------------------------------------


def _audit(
    session: Session,
    action: str,
    request: AidRequest,
    actor: User | None,
    ip: str | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        actor_id=actor.id if actor else None,
        target_type="aid_request",
        target_id=request.id,
        ip=ip,
        township=request.township_code,
        **detail,
    )


def _tell(session: Session, request: AidRequest, template: str, event: str, **extra: Any) -> None:
    notify.enqueue(
        session,
        key=f"aid:{request.id}:{event}",
        to=notify.Recipient.by_phone(request.applicant_mobile),
        template=template,
        context={"number": request.number, "child": request.child_name, **extra},
    )


def _reason(text: str | None, field: str = "reason", *, limit: int = 500) -> str:
    text = (text or "").strip()
    if not text:
        raise AidError(N_("Give the reason; the applicant is told it."), field)
    if len(text) > limit:
        raise AidError(N_("At most %(max)d characters."), field, params={"max": limit})
    return text


def _step(request: AidRequest, status: RequestStatus, now: datetime) -> None:
    request.status = status
    request.updated_at = now
    if request.first_response_at is None:
        request.first_response_at = now
    if status in OPEN:
        request.due_at = response_due(request.emergency, now)


def township_check(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    note: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """The township confirms the facts (the village's knowledge of the family included)."""
    if actor.role not in TOWNSHIP_ROLES:
        raise NotAllowed(reason="role")
    check_township(actor, request.township_code)
    if request.status != RequestStatus.SUBMITTED:
        raise AidError(N_("Only a submitted request waits for the township's check."))
    now = now or utcnow()
    request.checked_by, request.checked_at = actor.id, now
    request.check_note = (note or "").strip()[:500] or None
    _step(request, RequestStatus.CHECKED, now)
    session.add(request)
    session.flush()
    _audit(session, "aid.checked", request, actor, ip)
    _tell(session, request, "aid.checked", "checked")


def ask_info(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    what: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """Ask the applicant for more (the township before its check, the charity after it)."""
    if request.status == RequestStatus.SUBMITTED:
        if actor.role not in TOWNSHIP_ROLES:
            raise NotAllowed(reason="role")
        check_township(actor, request.township_code)
    elif request.status in (RequestStatus.CHECKED, RequestStatus.APPROVING):
        if not is_charity(actor):
            raise NotAllowed(reason="role")
    else:
        raise AidError(N_("More information can be asked for an open request only."))
    what = _reason(what, "what")
    now = now or utcnow()
    request.info_request = what
    _step(request, RequestStatus.INFO_NEEDED, now)
    # Approvals given to the earlier facts no longer stand.
    for approval in approvals(session, request):
        session.delete(approval)
    session.add(request)
    session.flush()
    _audit(session, "aid.info_requested", request, actor, ip)
    _tell(session, request, "aid.info_needed", f"info:{now.timestamp():.0f}", what=what)


def propose(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    fund: Fund,
    amount_fen: int,
    cap_reason: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """The charity's review: an amount from a fund, for the approvers."""
    if not is_charity(actor):
        raise NotAllowed(reason="role")
    if request.status not in (RequestStatus.CHECKED, RequestStatus.APPROVING):
        raise AidError(N_("A request is reviewed after the township's check."))
    ledger.check_fen(amount_fen)
    if not fund.active:
        raise AidError(N_("This fund is closed."), "fund_id")
    available = ledger.balance(session, fund.id).available
    if amount_fen > available:
        raise AidError(
            N_("The fund has ¥%(available)s available: the amount cannot be more."),
            "amount",
            params={"available": ledger.yuan(available)},
        )
    cap_reason = (cap_reason or "").strip() or None
    if aid_this_year(session, request) >= yearly_cap() and not cap_reason:
        raise AidError(
            N_(
                "The child already received aid this year (the cap is %(cap)d). To go on, give the reason for the exception."
            ),
            "cap_reason",
            params={"cap": yearly_cap()},
        )
    now = now or utcnow()
    for approval in approvals(session, request):  # a new proposal needs new approvals
        session.delete(approval)
    request.reviewed_by = actor.id
    request.fund_id = fund.id
    request.approved_fen = amount_fen
    request.cap_override_reason = cap_reason[:200] if cap_reason else None
    _step(request, RequestStatus.APPROVING, now)
    session.add(request)
    session.flush()
    _audit(session, "aid.proposed", request, actor, ip, fund=fund.id, amount_fen=amount_fen)
    if cap_reason:
        _audit(session, "aid.cap_override", request, actor, ip, reason=cap_reason[:200])


def approval_refusal(session: Session, request: AidRequest, actor: User) -> str | None:
    """Why this person may not approve this request now (None: they may)."""
    if actor.role != Role.CHARITY_APPROVER:
        return N_("Only the charity federation's approvers approve aid.")
    if request.status != RequestStatus.APPROVING:
        return N_("This request is not waiting for approval.")
    if actor.id in (request.entered_by, request.checked_by, request.reviewed_by):
        return N_("You entered, checked or proposed this request: another approver must decide.")
    if any(a.approver_id == actor.id for a in approvals(session, request)):
        return N_("You have already approved this request: a second, different approver is needed.")
    return None


def approve(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    ip: str | None = None,
    now: datetime | None = None,
) -> bool:
    """One approver's yes; True when the request is now approved (enough approvers)."""
    refusal = approval_refusal(session, request, actor)
    if refusal:
        raise AidError(refusal)
    fund = session.get(Fund, request.fund_id)
    available = ledger.balance(session, fund.id).available
    if request.approved_fen > available:
        raise AidError(
            N_("The fund has ¥%(available)s available: the amount cannot be more."),
            params={"available": ledger.yuan(available)},
        )
    now = now or utcnow()
    try:
        with session.begin_nested():
            session.add(
                Approval(
                    request_id=request.id,
                    approver_id=actor.id,
                    fund_id=fund.id,
                    amount_fen=request.approved_fen,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise AidError(
            N_("You have already approved this request: a second, different approver is needed.")
        ) from None
    _audit(session, "aid.approval", request, actor, ip, amount_fen=request.approved_fen)
    if len(approvals(session, request)) < approvers_needed(request):
        return False
    today = now.astimezone(SHANGHAI).date()
    request.status = RequestStatus.APPROVED
    request.approved_at = now
    request.notice_until = today + timedelta(days=notice_days())
    request.updated_at = now
    session.add(request)
    session.flush()
    _audit(
        session, "aid.approved", request, actor, ip, amount_fen=request.approved_fen, fund=fund.id
    )
    _tell(
        session,
        request,
        "aid.approved",
        "approved",
        amount=ledger.yuan(request.approved_fen),
        until=request.notice_until.isoformat(),
    )
    cache.bump(session, AREA)
    return True


def reject(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    reason: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    if request.status not in OPEN:
        raise AidError(N_("Only an open request can be rejected."))
    if request.status == RequestStatus.SUBMITTED and actor.role in TOWNSHIP_ROLES:
        check_township(actor, request.township_code)
    elif not is_charity(actor):
        raise NotAllowed(reason="role")
    reason = _reason(reason)
    now = now or utcnow()
    request.status = RequestStatus.REJECTED
    request.reject_reason = reason
    request.updated_at = now
    request.first_response_at = request.first_response_at or now
    session.add(request)
    session.flush()
    _audit(session, "aid.rejected", request, actor, ip)
    _tell(session, request, "aid.rejected", "rejected", reason=reason)


def pay_refusal(
    session: Session, request: AidRequest, actor: User, today: date | None = None
) -> str | None:
    today = today or china_today()
    if actor.role != Role.CHARITY_STAFF:
        return N_("Payments are made by the charity federation's staff.")
    if request.status == RequestStatus.PAID:
        return N_("This request has already been paid.")
    if request.status != RequestStatus.APPROVED:
        return N_("Only an approved request can be paid.")
    if any(a.approver_id == actor.id for a in approvals(session, request)):
        return N_("You approved this request: another member of staff must pay it.")
    if not request.emergency and request.notice_until and today <= request.notice_until:
        return N_("The public notice runs until %(day)s; pay after it ends.")
    return None


def pay(
    session: Session,
    request: AidRequest,
    *,
    actor: User,
    reference: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record the payment: the ledger entry is written once, whoever clicks, however often."""
    now = now or utcnow()
    refusal = pay_refusal(session, request, actor, now.astimezone(SHANGHAI).date())
    if refusal:
        raise AidError(
            refusal,
            params={"day": request.notice_until.isoformat() if request.notice_until else ""},
        )
    reference = (reference or "").strip()
    if not 4 <= len(reference) <= 60:
        raise AidError(N_("Enter the bank's payment reference (4 to 60 characters)."), "reference")
    entry = ledger.pay_grant(session, request, actor=actor, reference=reference)
    if entry is None:
        raise AidError(N_("This request has already been paid."))
    request.status = RequestStatus.PAID
    request.paid_at, request.paid_by, request.payment_reference = now, actor.id, reference
    request.updated_at = now
    session.add(request)
    session.flush()
    _audit(session, "aid.paid", request, actor, ip, amount_fen=request.approved_fen, entry=entry.id)
    _tell(
        session,
        request,
        "aid.paid",
        "paid",
        amount=ledger.yuan(request.approved_fen),
        account=request.account_masked[-4:],
    )
    cache.bump(session, AREA)


def close(session: Session, request: AidRequest, *, actor: User, ip: str | None = None) -> None:
    if not is_charity(actor):
        raise NotAllowed(reason="role")
    if request.status not in (RequestStatus.PAID, RequestStatus.REJECTED):
        raise AidError(N_("A request is closed after it is paid or rejected."))
    request.status = RequestStatus.CLOSED
    request.closed_at = request.updated_at = utcnow()
    session.add(request)
    session.flush()
    _audit(session, "aid.closed", request, actor, ip)


# Deadlines (the scheduler) ---------------------------------------------------------------------


def _responsible(session: Session, request: AidRequest) -> list[User]:
    if request.status == RequestStatus.SUBMITTED:
        role_filter = (User.role == Role.TOWNSHIP_STAFF) & (
            User.township_code == request.township_code
        )
    elif request.status == RequestStatus.APPROVING:
        role_filter = User.role == Role.CHARITY_APPROVER
    else:
        role_filter = User.role == Role.CHARITY_STAFF
    return list(session.exec(select(User).where(role_filter, User.is_active.is_(True))))


def deadline_messages(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Remind the people responsible before a deadline; escalate to the approvers after it."""
    now = now or utcnow()
    counts = {"reminded": 0, "escalated": 0}
    waiting = session.exec(
        select(AidRequest).where(
            AidRequest.status.in_(
                [RequestStatus.SUBMITTED, RequestStatus.CHECKED, RequestStatus.APPROVING]
            )
        )
    ).all()
    for request in waiting:
        lead = timedelta(hours=6) if request.emergency else timedelta(hours=24)
        due = request.due_at
        stage = RequestStatus(
            request.status
        ).value  # in the key: a step's deadline is reminded once
        due_text = due.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        if now >= due:
            people = list(
                session.exec(
                    select(User).where(User.role == Role.CHARITY_APPROVER, User.is_active.is_(True))
                )
            )
            template, event, counter = "aid.staff_escalation", "escalate", "escalated"
        elif now >= due - lead:
            people = _responsible(session, request)
            template, event, counter = "aid.staff_reminder", "remind", "reminded"
        else:
            continue
        for person in people:
            key = f"aid:{request.id}:{event}:{stage}:{due.timestamp():.0f}:{person.id}"
            if notify.is_queued(session, key):
                continue
            notify.enqueue(
                session,
                key=key,
                to=notify.Recipient.for_user(person),
                template=template,
                context={
                    "number": request.number,
                    "stage": translated_for(person, STATUS_TEXT[request.status]),
                    "due": due_text,
                },
                link=f"/charity/staff/requests/{request.id}",
            )
            counts[counter] += 1
    return counts
