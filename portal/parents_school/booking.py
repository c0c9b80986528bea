"""Booking a seat at a lecture, without an account; the waiting list; cancellations.

- Seats are confirmed by a conditional UPDATE of `lecture.seats_taken` (never above the
  capacity) in the same savepoint as the booking's insert: a refused insert gives the seats back.
- The waiting list is served strictly in order: when seats free up, the first waiting booking is
  confirmed if its seats fit, and nobody behind it jumps the queue.
- One live booking per mobile and lecture (a partial unique index): booking again answers the
  existing booking.
- Guardians are told by text message through the outbox: the booking at once, a reminder 24 hours
  before (confirmed bookings only, queued with that due time and cancelled with the booking),
  promotion from the waiting list, changes and cancellation.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import cache, notify
from portal.auth.services import MOBILE_RE
from portal.core.domain import DomainError, InvalidInput
from portal.core.fields import PERSON_NAME_RE
from portal.i18n import N_
from portal.parents_school.models import (
    RELATIONS,
    Booking,
    BookingStatus,
    Lecture,
    LectureStatus,
)
from portal.places import Township
from portal.timeutil import SHANGHAI, utcnow

AREA = "parents_school"
# Booking codes: 8 characters without look-alikes (no 0/O/D/Q, 1/I/L, 2/Z, 5/S, 6/G, 8/B, U/V).
CODE_ALPHABET = "ACEFHJKMNPRTWXY3479"
CODE_LENGTH = 8
CODE_RE = re.compile(f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
NAME_RE = PERSON_NAME_RE
REMINDER_BEFORE = timedelta(hours=24)
MAX_SEATS = 3

RELATION_LABELS = {
    "father": _l("Father"),
    "mother": _l("Mother"),
    "grandparent": _l("Grandparent (father's side)"),
    "maternal_grandparent": _l("Grandparent (mother's side)"),
    "entrusted": _l("Other entrusted guardian"),
}
STATUS_LABELS = {
    BookingStatus.CONFIRMED: _l("Confirmed"),
    BookingStatus.WAITLISTED: _l("On the waiting list"),
    BookingStatus.CANCELLED: _l("Cancelled"),
}

notify.register_template(
    "lectures.booked",
    subject=N_("Booking confirmed: {title}"),
    body=N_(
        "Your booking {code} for “{title}” on {when} at {venue} is confirmed for {seats} "
        "seat(s). To cancel, use the code and your mobile number on the portal."
    ),
    sms=N_("Parents' school: booked “{title}”, {when}, {venue}, {seats} seat(s). Code {code}."),
)
notify.register_template(
    "lectures.waitlisted",
    subject=N_("On the waiting list: {title}"),
    body=N_(
        "“{title}” on {when} is full. Your booking {code} is number {position} on the waiting "
        "list; you will be told if a seat frees up."
    ),
    sms=N_(
        "Parents' school: “{title}” is full; you are number {position} on the waiting list. "
        "Code {code}."
    ),
)
notify.register_template(
    "lectures.promoted",
    subject=N_("A seat for you: {title}"),
    body=N_(
        "A seat freed up: your booking {code} for “{title}” on {when} at {venue} is now "
        "confirmed for {seats} seat(s)."
    ),
    sms=N_(
        "Parents' school: a seat freed up. “{title}”, {when}, {venue} is confirmed. Code {code}."
    ),
)
notify.register_template(
    "lectures.reminder",
    subject=N_("Tomorrow: {title}"),
    body=N_("Reminder: “{title}” starts {when} at {venue}. Your booking code is {code}."),
    sms=N_("Parents' school reminder: “{title}” {when} at {venue}. Code {code}."),
)
notify.register_template(
    "lectures.changed",
    subject=N_("Changed: {title}"),
    body=N_("“{title}” has changed: now {when} at {venue}. Your booking {code} stays valid."),
    sms=N_("Parents' school: “{title}” changed to {when} at {venue}. Code {code} still valid."),
)
notify.register_template(
    "lectures.cancelled",
    subject=N_("Cancelled: {title}"),
    body=N_("“{title}” on {when} is cancelled: {reason} We are sorry."),
    sms=N_("Parents' school: “{title}” on {when} is cancelled. {reason}"),
)
notify.register_template(
    "lectures.booking_cancelled",
    subject=N_("Booking cancelled: {title}"),
    body=N_("Your booking {code} for “{title}” on {when} is cancelled."),
    sms=N_("Parents' school: your booking {code} for “{title}” is cancelled."),
)


class BookingError(DomainError):
    """A booking rule was broken; the message is translatable."""


def when_text(lecture: Lecture) -> str:
    """The lecture's time in China, as a text message says it: 2026-12-05 14:30."""
    return lecture.starts_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _context(lecture: Lecture, booking: Booking, **extra: Any) -> dict[str, Any]:
    return {
        "title": lecture.title,
        "when": when_text(lecture),
        "venue": lecture.venue,
        "code": booking.code,
        "seats": booking.seats,
        **extra,
    }


def _tell(
    session: Session,
    lecture: Lecture,
    booking: Booking,
    template: str,
    event: str,
    *,
    due_at: datetime | None = None,
    **extra: Any,
) -> None:
    notify.enqueue(
        session,
        key=f"booking:{booking.id}:{event}",
        to=notify.Recipient.by_phone(booking.mobile),
        template=template,
        context=_context(lecture, booking, **extra),
        due_at=due_at,
    )


def _schedule_reminder(session: Session, lecture: Lecture, booking: Booking, now: datetime) -> None:
    """The reminder 24 hours before, queued now with that due time (none if it is too late)."""
    due = lecture.starts_at - REMINDER_BEFORE
    if due <= now:
        return
    _tell(
        session,
        lecture,
        booking,
        "lectures.reminder",
        f"reminder:{lecture.starts_at.astimezone(SHANGHAI):%Y%m%d%H%M}",
        due_at=due,
    )


def cancel_reminders(session: Session, booking: Booking) -> int:
    return notify.cancel(session, key_prefix=f"booking:{booking.id}:reminder:")


# Input ---------------------------------------------------------------------------------------


class InvalidBooking(InvalidInput, BookingError):
    """Several fields are wrong at once: each problem names its field."""


@dataclass(frozen=True)
class BookingInput:
    name: str
    mobile: str
    relation: str
    township_code: str
    village: str
    seats: int
    for_someone_else: bool = False
    booked_by: str | None = None


def check_input(session: Session, data: dict[str, Any]) -> BookingInput:
    """Every field checked; the first problem per field, all fields at once."""
    problems: list[DomainError] = []

    def problem(message: str, field: str, **params: Any) -> None:
        if not any(p.field == field for p in problems):
            problems.append(BookingError(message, field, params=params or None))

    name = (data.get("name") or "").strip()
    if not name:
        problem(N_("Enter the guardian's name."), "name")
    elif not 2 <= len(name) <= 20 or not NAME_RE.match(name):
        problem(N_("A name has 2 to 20 Chinese characters or letters."), "name")
    mobile = re.sub(r"[\s-]+", "", data.get("mobile") or "")
    if not mobile:
        problem(N_("Enter a mobile number."), "mobile")
    elif not MOBILE_RE.match(mobile):
        problem(N_("A mobile number has 11 digits and starts with 13-19."), "mobile")
    relation = data.get("relation") or ""
    if relation not in RELATIONS:
        problem(N_("Choose the relation to the child."), "relation")
    township = data.get("township_code") or ""
    if not township or session.get(Township, township) is None:
        problem(N_("Choose the township."), "township_code")
    village = (data.get("village") or "").strip()
    if not village:
        problem(N_("Enter the village or community."), "village")
    elif len(village) > 30:
        problem(N_("At most %(max)d characters."), "village", max=30)
    try:
        seats = int(data.get("seats") or 0)
    except (TypeError, ValueError):
        seats = 0
    if not 1 <= seats <= MAX_SEATS:
        problem(N_("Book 1 to 3 seats."), "seats")
    for_someone_else = bool(data.get("for_someone_else"))
    booked_by = (data.get("booked_by") or "").strip() or None
    if for_someone_else and not booked_by:
        problem(N_("Enter your own name: you are booking for someone else."), "booked_by")
    elif booked_by and len(booked_by) > 20:
        problem(N_("At most %(max)d characters."), "booked_by", max=20)
    if problems:
        raise InvalidBooking(problems)
    return BookingInput(
        name=name,
        mobile=mobile,
        relation=relation,
        township_code=township,
        village=village,
        seats=seats,
        for_someone_else=for_someone_else,
        booked_by=booked_by if for_someone_else else None,
    )


def check_open(lecture: Lecture | None, now: datetime) -> Lecture:
    if lecture is None:
        raise BookingError(N_("This lecture does not exist."))
    if lecture.status == LectureStatus.CANCELLED:
        raise BookingError(N_("This lecture is cancelled."))
    if lecture.starts_at <= now:
        raise BookingError(N_("This lecture has already started; it can no longer be booked."))
    return lecture


# Booking ------------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def live_booking(session: Session, lecture_id: int, mobile: str) -> Booking | None:
    return session.exec(
        select(Booking).where(
            Booking.lecture_id == lecture_id,
            Booking.mobile == mobile,
            Booking.status.in_([BookingStatus.CONFIRMED, BookingStatus.WAITLISTED]),
        )
    ).first()


def _take_seats(
    session: Session, lecture_id: int, seats: int, *, queue_first: bool = False
) -> bool:
    """Confirm `seats` seats if they fit: one conditional UPDATE, atomic on both databases.

    A new booking (`queue_first`) takes seats only when nobody is waiting: freed seats belong
    to the waiting list first.
    """
    conditions = [
        Lecture.id == lecture_id,
        Lecture.status == LectureStatus.SCHEDULED,
        Lecture.seats_taken + seats <= Lecture.capacity,
    ]
    if queue_first:
        waiting = (
            select(Booking.id)
            .where(Booking.lecture_id == lecture_id, Booking.status == BookingStatus.WAITLISTED)
            .exists()
        )
        conditions.append(~waiting)
    result = session.execute(
        update(Lecture)
        .where(*conditions)
        .values(seats_taken=Lecture.seats_taken + seats)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _give_back(session: Session, lecture_id: int, seats: int) -> None:
    session.execute(
        update(Lecture)
        .where(Lecture.id == lecture_id)
        .values(seats_taken=Lecture.seats_taken - seats)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Outcome:
    booking: Booking
    created: bool  # False: the mobile had booked already, here is that booking
    position: int | None  # on the waiting list


def book(
    session: Session, lecture_id: int, data: dict[str, Any], *, now: datetime | None = None
) -> Outcome:
    """Book seats for a guardian: confirmed if they fit, else on the waiting list."""
    now = now or utcnow()
    lecture = check_open(session.get(Lecture, lecture_id), now)
    checked = check_input(session, data)
    existing = live_booking(session, lecture.id, checked.mobile)
    if existing is not None:
        return Outcome(existing, False, waitlist_position(session, existing))
    for _attempt in range(5):
        try:
            with session.begin_nested():
                confirmed = _take_seats(session, lecture.id, checked.seats, queue_first=True)
                booking = Booking(
                    lecture_id=lecture.id,
                    code=new_code(),
                    status=BookingStatus.CONFIRMED if confirmed else BookingStatus.WAITLISTED,
                    name=checked.name,
                    mobile=checked.mobile,
                    relation=checked.relation,
                    township_code=checked.township_code,
                    village=checked.village,
                    seats=checked.seats,
                    for_someone_else=checked.for_someone_else,
                    booked_by=checked.booked_by,
                    created_at=now,
                    queued_at=now,
                )
                session.add(booking)
                session.flush()
        except IntegrityError:
            # The same mobile booked at this moment (its booking stands), or a code was taken.
            existing = live_booking(session, lecture.id, checked.mobile)
            if existing is not None:
                return Outcome(existing, False, waitlist_position(session, existing))
            continue
        break
    else:
        raise BookingError(N_("The portal is busy. Please submit again."))
    session.refresh(lecture)
    position = waitlist_position(session, booking)
    if booking.status == BookingStatus.CONFIRMED:
        _tell(session, lecture, booking, "lectures.booked", "booked")
        _schedule_reminder(session, lecture, booking, now)
    else:
        _tell(session, lecture, booking, "lectures.waitlisted", "waitlisted", position=position)
    cache.bump(session, AREA)
    return Outcome(booking, True, position)


def waitlist_position(session: Session, booking: Booking) -> int | None:
    """1 for the first in line; None when the booking is not waiting."""
    if booking.status != BookingStatus.WAITLISTED:
        return None
    ahead = session.exec(
        select(func.count()).where(
            Booking.lecture_id == booking.lecture_id,
            Booking.status == BookingStatus.WAITLISTED,
            (Booking.queued_at < booking.queued_at)
            | and_(Booking.queued_at == booking.queued_at, Booking.id < booking.id),
        )
    ).one()
    return ahead + 1


def find(session: Session, code: str, mobile: str) -> Booking | None:
    """A booking by its code and mobile; a wrong pair finds nothing (and says nothing more)."""
    code = re.sub(r"\s+", "", code or "").upper()
    mobile = re.sub(r"[\s-]+", "", mobile or "")
    if not CODE_RE.match(code) or not MOBILE_RE.match(mobile):
        return None
    booking = session.exec(select(Booking).where(Booking.code == code)).first()
    if booking is None or not secrets.compare_digest(booking.mobile, mobile):
        return None
    return booking


def promote(session: Session, lecture: Lecture, *, now: datetime | None = None) -> list[Booking]:
    """Confirm waiting bookings in order while their seats fit; the first that does not fit
    stops the line (nobody jumps the queue)."""
    now = now or utcnow()
    if lecture.status != LectureStatus.SCHEDULED or lecture.starts_at <= now:
        return []
    promoted = []
    waiting = session.exec(
        select(Booking)
        .where(Booking.lecture_id == lecture.id, Booking.status == BookingStatus.WAITLISTED)
        .order_by(Booking.queued_at, Booking.id)
    ).all()
    for booking in waiting:
        if not _take_seats(session, lecture.id, booking.seats):
            break
        booking.status = BookingStatus.CONFIRMED
        booking.promoted_at = now
        session.add(booking)
        session.flush()
        _tell(session, lecture, booking, "lectures.promoted", "promoted")
        _schedule_reminder(session, lecture, booking, now)
        promoted.append(booking)
    if promoted:
        session.refresh(lecture)
    return promoted


def cancel(
    session: Session, booking: Booking, *, now: datetime | None = None, tell: bool = True
) -> list[Booking]:
    """Cancel a booking (by its guardian or an organiser); freed seats promote the line."""
    now = now or utcnow()
    if booking.status == BookingStatus.CANCELLED:
        raise BookingError(N_("This booking is already cancelled."))
    lecture = session.get(Lecture, booking.lecture_id)
    if lecture.starts_at <= now:
        raise BookingError(N_("The lecture has started; the booking can no longer be cancelled."))
    was_confirmed = booking.status == BookingStatus.CONFIRMED
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    session.add(booking)
    session.flush()
    cancel_reminders(session, booking)
    if tell:
        _tell(session, lecture, booking, "lectures.booking_cancelled", "cancelled")
    promoted = []
    if was_confirmed:
        _give_back(session, lecture.id, booking.seats)
        session.refresh(lecture)
        promoted = promote(session, lecture, now=now)
    cache.bump(session, AREA)
    return promoted


def seats_left(lecture: Lecture) -> int:
    return max(lecture.capacity - lecture.seats_taken, 0)


def waiting_count(session: Session, lecture_id: int) -> int:
    return session.exec(
        select(func.count()).where(
            Booking.lecture_id == lecture_id, Booking.status == BookingStatus.WAITLISTED
        )
    ).one()
