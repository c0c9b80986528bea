"""Queue messages with the event that causes them; deliver them once, with retries."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from portal.core.domain import DomainError
from portal.i18n import N_
from portal.notify.channels import ChannelSender, DeliveryError, Outgoing
from portal.notify.models import (
    BODY_MAX,
    SUBJECT_MAX,
    Channel,
    MessageStatus,
    OutboxMessage,
)
from portal.notify.templates import get_template
from portal.pagination import Page, paginate
from portal.timeutil import utcnow

log = logging.getLogger("portal.notify")
TABLE = OutboxMessage.__table__
KEY_RE = re.compile(r"^[A-Za-z0-9:._\-]{3,180}$")
LANGUAGES = {"zh_CN", "en"}


class NotifyError(ValueError):
    """A message could not be queued: nothing was written."""


class PreferenceError(DomainError):
    """A contact preference cannot be kept; `field` names the form field it concerns."""


@dataclass(frozen=True)
class Recipient:
    """Who receives a message, and on which channels they can be reached."""

    user_id: int | None = None
    phone: str | None = None
    email: str | None = None
    language: str = "zh_CN"
    wants_email: bool = False
    wants_sms: bool = False

    @classmethod
    def for_user(cls, user) -> Recipient:
        """An account holder: the inbox always, e-mail and SMS as their preferences say."""
        return cls(
            user_id=user.id,
            phone=user.phone,
            email=user.email,
            language=getattr(user, "language", None) or "zh_CN",
            wants_email=bool(getattr(user, "notify_by_email", False) and user.email),
            wants_sms=bool(getattr(user, "notify_by_sms", False) and user.phone),
        )

    @classmethod
    def by_phone(cls, phone: str, language: str = "zh_CN") -> Recipient:
        """Someone without an account, such as a guardian who booked by phone: SMS."""
        return cls(phone=phone, language=language, wants_sms=True)

    def channels(self, email_enabled: bool) -> list[Channel]:
        chosen = []
        if self.user_id is not None:
            chosen.append(Channel.INAPP)
        if self.wants_email and self.email and email_enabled:
            chosen.append(Channel.EMAIL)
        if self.wants_sms and self.phone:
            chosen.append(Channel.SMS)
        return chosen


def _email_enabled() -> bool:
    from flask import current_app, has_app_context

    return bool(has_app_context() and current_app.config.get("PORTAL_SMTP_HOST"))


def enqueue(
    session: Session,
    *,
    key: str,
    to: Recipient | None,
    template: str,
    context: Mapping[str, object],
    due_at: datetime | None = None,
    channels: Iterable[Channel] | None = None,
    link: str | None = None,
) -> list[OutboxMessage]:
    """Queue one message per channel inside the caller's transaction; idempotent on `key`.

    A second call with the same key changes nothing and returns the messages already queued.
    """
    if not key or not KEY_RE.match(key):
        raise NotifyError(N_("A message key has 3-180 letters, digits and : . _ -"))
    existing = list(
        session.execute(select(OutboxMessage).where(OutboxMessage.key == key)).scalars()
    )
    if existing:
        return existing
    spec = get_template(template)
    if spec is None:
        raise NotifyError(N_("Unknown message template."))
    if to is None or (to.user_id is None and not to.phone and not to.email):
        raise NotifyError(N_("A message needs a recipient."))
    missing = spec.fields - set(context)
    if missing:
        raise NotifyError(N_("The message is missing details it needs."))
    language = to.language if to.language in LANGUAGES else "zh_CN"
    subject, body, sms_text = spec.render(language, dict(context))
    if len(subject) > SUBJECT_MAX:
        raise NotifyError(N_("The subject is too long."))
    if len(body) > BODY_MAX:
        raise NotifyError(N_("The message is too long."))
    wanted = to.channels(_email_enabled())
    if channels is not None:
        allowed = {Channel(c) for c in channels}
        wanted = [c for c in wanted if c in allowed]
    if not wanted:
        raise NotifyError(N_("The recipient cannot be reached on any channel."))
    due = due_at or utcnow()
    rows = []
    for channel in wanted:
        address = {Channel.EMAIL: to.email, Channel.SMS: to.phone}.get(channel)
        rows.append(
            OutboxMessage(
                key=key,
                channel=channel,
                template=template,
                user_id=to.user_id,
                address=address,
                language=language,
                subject=subject,
                body=sms_text if channel == Channel.SMS else body,
                link=link,
                due_at=due,
                next_attempt_at=due,
            )
        )
    try:
        with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:
        # Queued concurrently by another transaction with the same key: that one stands.
        return list(
            session.execute(select(OutboxMessage).where(OutboxMessage.key == key)).scalars()
        )
    return rows


def is_queued(session: Session, key: str) -> bool:
    """Whether a message with this key was ever queued (sent, pending, failed or cancelled).

    `enqueue` is idempotent on its own; this answers "was it new?" for jobs that count what
    they sent, without a second copy of the lookup in every area.
    """
    return (
        session.execute(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
        is not None
    )


def cancel(session: Session, *, key_prefix: str) -> int:
    """Cancel pending messages whose key starts with the prefix; returns how many."""
    if len(key_prefix) < 3:
        raise NotifyError(N_("A key prefix needs at least 3 characters."))
    escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = session.execute(
        update(TABLE)
        .where(
            TABLE.c.key.like(escaped + "%", escape="\\"), TABLE.c.status == MessageStatus.PENDING
        )
        .values(status=MessageStatus.CANCELLED, last_error="cancelled")
    )
    return result.rowcount or 0


# Delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=2)

    def backoff(self, attempts: int) -> timedelta:
        return min(self.backoff_base * (2 ** max(attempts - 1, 0)), self.backoff_cap)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    interrupted: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in ("claimed", "sent", "retried", "failed", "interrupted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def recover_expired_leases(
    session: Session, *, now: datetime, senders: Mapping[str, ChannelSender]
) -> int:
    """Messages left 'sending' by a process that died: resend where the channel drops repeats,
    otherwise fail them as interrupted so an admin decides (they may have gone out)."""
    expired = and_(TABLE.c.status == MessageStatus.SENDING, TABLE.c.lease_until < now)
    idempotent = [name for name, sender in senders.items() if sender.idempotent]
    session.execute(
        update(TABLE)
        .where(expired, TABLE.c.channel.in_(idempotent))
        .values(
            status=MessageStatus.PENDING, lease_owner=None, lease_until=None, next_attempt_at=now
        )
    )
    result = session.execute(
        update(TABLE)
        .where(expired, TABLE.c.channel.not_in(idempotent))
        .values(
            status=MessageStatus.FAILED,
            lease_owner=None,
            lease_until=None,
            last_error="interrupted while sending: it may have gone out; check before retrying",
        )
    )
    return result.rowcount or 0


def claim_batch(
    session: Session, *, owner: str, now: datetime, policy: DeliveryPolicy
) -> list[Outgoing]:
    """Lease up to batch_size due messages to this owner (no two owners get the same row)."""
    due = (
        select(TABLE.c.id)
        .where(TABLE.c.status == MessageStatus.PENDING, TABLE.c.next_attempt_at <= now)
        .order_by(TABLE.c.next_attempt_at, TABLE.c.id)
        .limit(policy.batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.execute(due).scalars())
    if not ids:
        return []
    session.execute(
        update(TABLE)
        .where(TABLE.c.id.in_(ids), TABLE.c.status == MessageStatus.PENDING)
        .values(
            status=MessageStatus.SENDING,
            lease_owner=owner,
            lease_until=now + policy.lease,
            attempts=TABLE.c.attempts + 1,
        )
    )
    rows = session.execute(
        select(
            TABLE.c.id,
            TABLE.c.key,
            TABLE.c.channel,
            TABLE.c.address,
            TABLE.c.subject,
            TABLE.c.body,
            TABLE.c.language,
        ).where(
            TABLE.c.id.in_(ids),
            TABLE.c.lease_owner == owner,
            TABLE.c.status == MessageStatus.SENDING,
        )
    )
    return [Outgoing(*row) for row in rows]


def send_batch(
    batch: list[Outgoing], senders: Mapping[str, ChannelSender]
) -> dict[int, DeliveryError | None]:
    """Hand each message to its channel (outside any database transaction)."""
    by_channel: dict[str, list[Outgoing]] = defaultdict(list)
    for message in batch:
        by_channel[message.channel].append(message)
    outcomes: dict[int, DeliveryError | None] = {}
    for channel, messages in by_channel.items():
        sender = senders.get(channel)
        if sender is None:
            from portal.notify.channels import PermanentError

            outcomes.update(
                {m.id: PermanentError(f"channel {channel} is not configured") for m in messages}
            )
            continue
        outcomes.update(sender.deliver(messages))
    return outcomes


def record_outcomes(
    session: Session,
    *,
    owner: str,
    outcomes: Mapping[int, DeliveryError | None],
    now: datetime,
    policy: DeliveryPolicy,
) -> DeliveryReport:
    """Mark sent, schedule a retry with backoff, or fail; only rows this owner still leases."""
    report = DeliveryReport()
    mine = and_(TABLE.c.lease_owner == owner, TABLE.c.status == MessageStatus.SENDING)
    sent_ids = [i for i, error in outcomes.items() if error is None]
    for start in range(0, len(sent_ids), 900):
        chunk = sent_ids[start : start + 900]
        result = session.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(chunk), mine)
            # last_error stays: after a retry it shows what delayed the message.
            .values(status=MessageStatus.SENT, sent_at=now, lease_owner=None, lease_until=None)
        )
        report.sent += result.rowcount or 0
    failures = {i: e for i, e in outcomes.items() if e is not None}
    if failures:
        attempts = dict(
            session.execute(
                select(TABLE.c.id, TABLE.c.attempts).where(TABLE.c.id.in_(list(failures)), mine)
            ).all()
        )
        for message_id, error in failures.items():
            if message_id not in attempts:
                continue
            text = str(error)[:500]
            if error.transient and attempts[message_id] < policy.max_attempts:
                values = dict(
                    status=MessageStatus.PENDING,
                    next_attempt_at=now + policy.backoff(attempts[message_id]),
                )
                report.retried += 1
            else:
                values = dict(status=MessageStatus.FAILED)
                report.failed += 1
            session.execute(
                update(TABLE)
                .where(TABLE.c.id == message_id, mine)
                .values(last_error=text, lease_owner=None, lease_until=None, **values)
            )
    return report


def deliver_due(
    database,
    *,
    senders: Mapping[str, ChannelSender],
    owner: str,
    policy: DeliveryPolicy = DeliveryPolicy(),
    max_batches: int | None = None,
    now=utcnow,
) -> DeliveryReport:
    """Deliver due messages batch by batch until none are left (or max_batches)."""
    total = DeliveryReport()
    with database.transaction() as session:
        total.interrupted += recover_expired_leases(session, now=now(), senders=senders)
    batches = 0
    while max_batches is None or batches < max_batches:
        with database.transaction() as session:
            batch = claim_batch(session, owner=owner, now=now(), policy=policy)
        if not batch:
            break
        batches += 1
        total.claimed += len(batch)
        outcomes = send_batch(batch, senders)
        with database.transaction() as session:
            total.add(
                record_outcomes(session, owner=owner, outcomes=outcomes, now=now(), policy=policy)
            )
    return total


# Administration and inbox ----------------------------------------------------------------


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(TABLE.c.status, func.count()).group_by(TABLE.c.status)).all()
    counts = {status.value: 0 for status in MessageStatus}
    counts.update({status: count for status, count in rows})
    return counts


def retry_failed(session: Session, *, message_id: int) -> bool:
    """Put a failed message back in the queue now, with a fresh attempt count."""
    result = session.execute(
        update(TABLE)
        .where(TABLE.c.id == message_id, TABLE.c.status == MessageStatus.FAILED)
        .values(status=MessageStatus.PENDING, next_attempt_at=utcnow(), attempts=0)
    )
    return bool(result.rowcount)


def cancel_failed(session: Session, *, message_id: int) -> bool:
    result = session.execute(
        update(TABLE)
        .where(
            TABLE.c.id == message_id,
            TABLE.c.status.in_([MessageStatus.FAILED, MessageStatus.PENDING]),
        )
        .values(status=MessageStatus.CANCELLED)
    )
    return bool(result.rowcount)


def set_preferences(session: Session, *, user, by_email: bool, by_sms: bool, language: str) -> None:
    """Choose the channels besides the inbox; a channel needs its address on the account."""
    if by_sms and not user.phone:
        raise PreferenceError(
            N_("Your account has no mobile number for SMS."), field="notify_by_sms"
        )
    if by_email and not user.email:
        raise PreferenceError(N_("Your account has no e-mail address."), field="notify_by_email")
    if language not in LANGUAGES:
        raise PreferenceError(N_("Choose Chinese or English."), field="language")
    user.notify_by_email, user.notify_by_sms, user.language = by_email, by_sms, language
    session.add(user)


def _inbox_filter(user_id: int):
    return and_(
        TABLE.c.user_id == user_id,
        TABLE.c.channel == Channel.INAPP,
        TABLE.c.status == MessageStatus.SENT,
    )


# Shown in the header of every page a logged-in user sees: one statement built once, not an
# expression tree built and looked up in SQLAlchemy's cache on each page.
_UNREAD = (
    select(func.count())
    .select_from(TABLE)
    .where(_inbox_filter(bindparam("user_id")), TABLE.c.read_at.is_(None))
)


def unread_count(session: Session, *, user_id: int) -> int:
    return session.connection().execute(_UNREAD, {"user_id": user_id}).scalar_one()


def inbox_page(session: Session, *, user_id: int, page: int, per_page: int) -> Page:
    statement = (
        select(OutboxMessage)
        .where(_inbox_filter(user_id))
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
    )
    return paginate(session, statement, page=page, per_page=per_page)


def mark_read(session: Session, *, user_id: int, message_id: int | None = None) -> int:
    """Mark one message (or all) in the user's inbox as read."""
    condition = and_(_inbox_filter(user_id), TABLE.c.read_at.is_(None))
    if message_id is not None:
        condition = and_(condition, TABLE.c.id == message_id)
    return session.execute(update(TABLE).where(condition).values(read_at=utcnow())).rowcount or 0


def failed_page(session: Session, *, page: int, per_page: int) -> Page:
    statement = (
        select(OutboxMessage)
        .where(TABLE.c.status == MessageStatus.FAILED)
        .order_by(OutboxMessage.id.desc())
    )
    return paginate(session, statement, page=page, per_page=per_page)


def failed_count(session: Session, user=None) -> int:
    """Messages that failed for good (the admin's queue on the staff workspace)."""
    return session.execute(
        select(func.count()).select_from(TABLE).where(TABLE.c.status == MessageStatus.FAILED)
    ).scalar_one()


def unread_count_for(session: Session, user) -> int:
    return unread_count(session, user_id=user.id)
