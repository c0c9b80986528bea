"""What staff see of emergency aid and may do with a request: the workspace counts and the
permission flags the pages show their buttons by (templates compare no roles).

The flags repeat no rule: each asks the workflow's own refusal (`approval_refusal`,
`pay_refusal`) or the same status and scope tests the steps make.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_
from sqlmodel import Session, select

from portal.auth.models import Role, User
from portal.charity import requests
from portal.charity.models import AidRequest, Approval, RequestStatus
from portal.core.domain import DomainError
from portal.core.scoping import scope_query, township_scope
from portal.timeutil import china_today, utcnow

# Who opens the staff pages of requests; the charity's own roles see funds too.
REQUEST_READERS = (
    Role.CHARITY_STAFF,
    Role.CHARITY_APPROVER,
    Role.ADMIN,
    Role.TOWNSHIP_STAFF,
    Role.COUNTY_STAFF,
)
FUND_READERS = (Role.CHARITY_STAFF, Role.CHARITY_APPROVER, Role.ADMIN)
FUND_WRITERS = (Role.CHARITY_STAFF, Role.ADMIN)
# Reviewing (propose, ask for more, reject after the check, close) is the charity staff's work.
REVIEWERS = (Role.CHARITY_STAFF, Role.ADMIN)
# Waiting on staff (an applicant asked for more is not late on the staff's side).
WAITING_ON_STAFF = (
    RequestStatus.SUBMITTED,
    RequestStatus.CHECKED,
    RequestStatus.APPROVING,
)


def can_write_funds(user: User) -> bool:
    return user.is_authenticated and user.role in FUND_WRITERS


def overdue(request: AidRequest, now: datetime | None = None) -> bool:
    return request.status in WAITING_ON_STAFF and request.due_at < (now or utcnow())


@dataclass(frozen=True)
class Refusal:
    """Why a step is not open to this user now, as a translatable message with its values."""

    message: str
    params: dict

    def translated(self) -> str:
        return DomainError(self.message, params=self.params).translated()


@dataclass(frozen=True)
class Can:
    """What this user may do with one request now."""

    check: bool = False
    ask: bool = False
    reject: bool = False
    propose: bool = False
    approve: bool = False
    approve_refusal: Refusal | None = None  # shown to an approver who may not approve
    pay: bool = False
    pay_refusal: Refusal | None = None  # shown to charity staff on an approved request
    close: bool = False


def permissions(
    session: Session, user: User, request: AidRequest, today: date | None = None
) -> Can:
    status = request.status
    in_township = user.role in requests.TOWNSHIP_ROLES and township_scope(user).allows(
        request.township_code
    )
    reviewer = user.role in REVIEWERS
    township_step = status == RequestStatus.SUBMITTED and in_township
    review_step = status in (RequestStatus.CHECKED, RequestStatus.APPROVING) and reviewer
    approve_refusal = pay_refusal = None
    approve = pay = False
    if user.role == Role.CHARITY_APPROVER and status == RequestStatus.APPROVING:
        refusal = requests.approval_refusal(session, request, user)
        approve = refusal is None
        approve_refusal = Refusal(refusal, {}) if refusal else None
    if user.role == Role.CHARITY_STAFF and status == RequestStatus.APPROVED:
        refusal = requests.pay_refusal(session, request, user, today)
        pay = refusal is None
        day = request.notice_until.isoformat() if request.notice_until else ""
        pay_refusal = Refusal(refusal, {"day": day}) if refusal else None
    return Can(
        check=township_step,
        ask=township_step or review_step,
        reject=township_step or (status in requests.OPEN and reviewer),
        propose=review_step,
        approve=approve,
        approve_refusal=approve_refusal,
        pay=pay,
        pay_refusal=pay_refusal,
        close=reviewer and status in (RequestStatus.PAID, RequestStatus.REJECTED),
    )


# Workspace counts ("module:function" taking (session, user)) ----------------------------------


def _count(session: Session, statement) -> int:
    return int(session.exec(select(func.count()).select_from(statement.subquery())).one())


def waiting_check_count(session: Session, user: User) -> int:
    """Requests of the user's township(s) waiting for the township's check."""
    statement = select(AidRequest.id).where(AidRequest.status == RequestStatus.SUBMITTED)
    return _count(session, scope_query(statement, AidRequest.township_code, user))


def waiting_review_count(session: Session, user: User) -> int:
    statement = select(AidRequest.id).where(AidRequest.status == RequestStatus.CHECKED)
    return _count(session, statement)


def waiting_approval_count(session: Session, user: User) -> int:
    """Requests under approval that this approver may still approve."""
    mine = select(Approval.request_id).where(Approval.approver_id == user.id)
    statement = select(AidRequest.id).where(
        AidRequest.status == RequestStatus.APPROVING,
        AidRequest.id.not_in(mine),
        or_(AidRequest.entered_by.is_(None), AidRequest.entered_by != user.id),
        or_(AidRequest.checked_by.is_(None), AidRequest.checked_by != user.id),
        or_(AidRequest.reviewed_by.is_(None), AidRequest.reviewed_by != user.id),
    )
    return _count(session, statement)


def payable_count(session: Session, user: User) -> int:
    """Approved requests whose notice has ended (emergencies at once)."""
    statement = select(AidRequest.id).where(
        AidRequest.status == RequestStatus.APPROVED,
        or_(AidRequest.emergency.is_(True), AidRequest.notice_until < china_today()),
    )
    return _count(session, statement)
