"""The organisers' side of the parents' school: lectures, check-in, feedback and the annual plan.

- Lecture organisers are bound to an office (教育局, 民政局, 团县委, 妇联) or to a township's
  government. An organiser manages the lectures of their own office; a township organiser only
  those of their own township. County staff and admins see every lecture but change none.
  A lecture out of reach answers 404.
- Times are typed in China time (a day, a start and an end time) and stored in UTC. A lecture
  starts in the future, ends after it starts on the same day, lasts at most 8 hours.
- Repeating a lecture (other townships or dates) checks every row before writing any: all are
  created, sharing a `series_id`, or none.
- A capacity below the seats already confirmed is refused (one conditional UPDATE, so a booking
  arriving at the same moment cannot slip under it); more seats promote the waiting list in
  order (`booking.promote`).
- A change of time or venue tells every booked or waiting guardian and requeues their
  reminders; a cancellation tells them, cancels their bookings and reminders.
- Check-in records the seats that came per booking (0 to its seats). People who come without
  a booking are counted in `Lecture.walk_ins` only: no personal data is kept of them (the paper
  sign-in sheet has their names).
- An hour after a lecture ends, each booking with attended seats gets one text message with a
  feedback link (`jobs.py`); the link carries the booking id signed with the portal's secret
  key (salt "lecture-feedback", valid 30 days), so no token is stored. One feedback per booking.
- The annual plan counts, per office and per township government, the lectures held (not
  cancelled, ended) in the plan year: the spring term (1 February to 31 July) and the autumn
  term (1 August to 31 January of the next year), by China dates. The minimum is met with at
  least one lecture in each term.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, update
from sqlmodel import Session, select

from portal import audit, cache, notify
from portal.auth.models import Office, Role, User
from portal.core.domain import DomainError, InvalidInput, NotAllowed, NotFound
from portal.i18n import N_
from portal.parents_school import booking as booking_rules
from portal.parents_school.models import (
    TOPICS,
    Booking,
    BookingStatus,
    Feedback,
    Lecture,
    LectureBase,
    LectureStatus,
)
from portal.places import Township
from portal.timeutil import SHANGHAI, utcnow

AREA = "parents_school"
LIVE = (BookingStatus.CONFIRMED, BookingStatus.WAITLISTED)
MAX_HOURS = 8
CAPACITY_MIN, CAPACITY_MAX = 1, 500
WALK_INS_MAX = 500
FIRST_YEAR, LAST_YEAR = 2000, 2100
REASON_MIN, REASON_MAX = 2, 200
COMMENT_MAX = 500
REPEAT_ROWS = 6
ROW_FIELDS = ("township_code", "day", "start_time", "end_time", "venue")
CHECKIN_OPENS = timedelta(hours=2)  # before the start
FEEDBACK_AFTER = timedelta(hours=1)  # after the end
FEEDBACK_WINDOW = timedelta(days=14)  # attendance recorded later still gets its link
FEEDBACK_SALT = "lecture-feedback"
FEEDBACK_MAX_AGE = 30 * 24 * 3600
PLAN_OFFICES = (
    Office.EDUCATION,
    Office.CIVIL_AFFAIRS,
    Office.YOUTH_LEAGUE,
    Office.WOMENS_FEDERATION,
)
TEXT_FIELDS = ("title", "speaker", "speaker_bio", "venue", "audience", "description")
OPTIONAL_TEXT = frozenset({"speaker_bio", "audience", "description"})

TOPIC_LABELS = {
    "skipped_generation": _l("Grandparents raising children"),
    "habits": _l("Good habits"),
    "safety": _l("Safety (drowning, fire, traffic, sexual abuse)"),
    "mental_health": _l("Mental health"),
    "communication": _l("Talking with your child"),
    "adolescence": _l("Growing up (adolescence)"),
    "nutrition": _l("Nutrition and health"),
    "guardianship_law": _l("Guardians' duties and the law"),
}
LECTURE_STATUS_LABELS = {
    LectureStatus.SCHEDULED: _l("Scheduled"),
    LectureStatus.CANCELLED: _l("Cancelled"),
}

notify.register_template(
    "lectures.feedback",
    subject=N_("How was “{title}”?"),
    body=N_(
        "Thank you for coming to “{title}”. Tell us what you thought, and which topics you "
        "would like next: {link}"
    ),
    sms=N_("Parents' school: thank you for coming to “{title}”. Your opinion: {link}"),
)

audit.register_actions(
    {
        "lecture.created": _l("Lecture created"),
        "lecture.repeated": _l("Lecture repeated in another township or on another date"),
        "lecture.changed": _l("Lecture changed"),
        "lecture.capacity": _l("Lecture capacity changed"),
        "lecture.cancelled": _l("Lecture cancelled"),
        "lecture.attendance": _l("Lecture attendance recorded"),
        "lecture.walk_ins": _l("Lecture walk-ins recorded"),
        "lecture.sign_in_sheet": _l("Lecture sign-in sheet downloaded"),
    }
)
audit.register_target(
    "lecture", audit.TargetType(_l("Lecture"), "parents_school.manage_lecture", "lecture_id")
)


class LectureError(DomainError):
    """A lecture rule was broken; the message is translatable."""


class InvalidLecture(InvalidInput, LectureError):
    """Several fields are wrong at once: each problem names its field."""


# Access -----------------------------------------------------------------------------------


def is_organiser(user: User) -> bool:
    """An organiser bound to an office (a township organiser to a township too)."""
    if not user.is_authenticated or user.role != Role.LECTURE_ORGANISER or not user.office:
        return False
    return user.office != Office.TOWNSHIP or bool(user.township_code)


def sees_all(user: User) -> bool:
    return user.is_authenticated and user.role in (Role.ADMIN, Role.COUNTY_STAFF)


def scope(statement, user: User):
    """Restrict a select() of lectures to those the user may see."""
    if sees_all(user):
        return statement
    if not is_organiser(user):
        return statement.where(false())
    statement = statement.where(Lecture.office == str(user.office))
    if user.office == Office.TOWNSHIP:
        statement = statement.where(Lecture.township_code == user.township_code)
    return statement


def in_reach(user: User, lecture: Lecture) -> bool:
    if sees_all(user):
        return True
    if not is_organiser(user) or lecture.office != user.office:
        return False
    return user.office != Office.TOWNSHIP or lecture.township_code == user.township_code


def get_lecture(session: Session, user: User, lecture_id: int) -> Lecture:
    """A lecture the user may see, else NotFound (404: its existence is not revealed)."""
    lecture = session.get(Lecture, lecture_id)
    if lecture is None or not in_reach(user, lecture):
        raise NotFound(reason="not_found", lecture=lecture_id)
    return lecture


def require_organiser(user: User) -> None:
    if not is_organiser(user):
        raise NotAllowed(reason="role")


def get_for_change(session: Session, user: User, lecture_id: int) -> Lecture:
    """A lecture the user organises (404 out of reach, 403 for viewers)."""
    lecture = get_lecture(session, user, lecture_id)
    require_organiser(user)
    return lecture


def ended(lecture: Lecture, now: datetime | None = None) -> bool:
    return lecture.ends_at <= (now or utcnow())


def started(lecture: Lecture, now: datetime | None = None) -> bool:
    return lecture.starts_at <= (now or utcnow())


@dataclass(frozen=True)
class Can:
    """What the user may do with one lecture (the templates compare no roles)."""

    change: bool = False  # edit, capacity, cancel: scheduled and not started
    repeat: bool = False
    check_in: bool = False
    see_bookings: bool = False


def permissions(user: User, lecture: Lecture, now: datetime | None = None) -> Can:
    now = now or utcnow()
    organiser = is_organiser(user) and in_reach(user, lecture)
    live = lecture.status == LectureStatus.SCHEDULED
    return Can(
        change=organiser and live and not started(lecture, now),
        repeat=organiser,
        check_in=organiser and live and checkin_open(lecture, now),
        see_bookings=in_reach(user, lecture),
    )


def township_options(session: Session, user: User) -> list[tuple[str, str]]:
    """The townships an organiser may hold lectures in (a township organiser: their own)."""
    statement = select(Township).order_by(Township.code)
    if user.office == Office.TOWNSHIP:
        statement = statement.where(Township.code == user.township_code)
    return [(t.code, t.name) for t in session.exec(statement)]


# Input ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LectureInput:
    title: str
    topic: str
    speaker: str
    speaker_bio: str | None
    township_code: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    audience: str | None
    description: str | None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def parse_int(typed: Any) -> int | None:
    """A whole number typed (full-width digits too), or None."""
    if isinstance(typed, int) and not isinstance(typed, bool):
        return typed
    text = unicodedata.normalize("NFKC", str(typed or "")).strip()
    if not text or not text.isdigit() or len(text) > 6:
        return None
    return int(text)


def china_time(day: date, at: time) -> datetime:
    """A day and time in China as an aware UTC datetime."""
    return datetime.combine(day, at).replace(tzinfo=SHANGHAI).astimezone(UTC)


def _check_times(
    values: dict[str, Any], now: datetime, problem
) -> tuple[datetime | None, datetime | None]:
    day, start, end = values.get("day"), values.get("start_time"), values.get("end_time")
    if not isinstance(day, date):
        problem(N_("Enter the day of the lecture."), "day")
    elif not FIRST_YEAR <= day.year <= LAST_YEAR:
        problem(N_("Enter a date between the years 2000 and 2100."), "day")
        day = None
    if not isinstance(start, time):
        problem(N_("Enter the time the lecture starts."), "start_time")
    if not isinstance(end, time):
        problem(N_("Enter the time the lecture ends."), "end_time")
    if not isinstance(day, date) or not isinstance(start, time):
        return None, None
    starts_at = china_time(day, start.replace(second=0, microsecond=0))
    if day < now.astimezone(SHANGHAI).date():
        problem(N_("The day is in the past."), "day")
        return None, None
    if starts_at <= now:
        problem(N_("This time has passed: a lecture starts in the future."), "start_time")
        return None, None
    if not isinstance(end, time):
        return starts_at, None
    ends_at = china_time(day, end.replace(second=0, microsecond=0))
    if ends_at <= starts_at:
        problem(N_("The lecture must end after it starts (on the same day)."), "end_time")
    elif ends_at - starts_at > timedelta(hours=MAX_HOURS):
        problem(N_("A lecture lasts at most %(hours)d hours."), "end_time", hours=MAX_HOURS)
    return starts_at, ends_at


def check_input(
    session: Session, user: User, values: dict[str, Any], *, now: datetime | None = None
) -> LectureInput:
    """Every field checked: the first problem per field, all fields at once; nothing written."""
    now = now or utcnow()
    problems: list[DomainError] = []

    def problem(message: str, name: str, **params: Any) -> None:
        if not any(p.field == name for p in problems):
            problems.append(LectureError(message, name, params=params or None))

    texts: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        text = (values.get(name) or "").strip() or None
        limit = _max_length(name)
        if text is None and name not in OPTIONAL_TEXT:
            problem(N_("Fill this in."), name)
        elif text is not None and len(text) > limit:
            problem(N_("At most %(max)d characters."), name, max=limit)
        elif text is not None and name not in OPTIONAL_TEXT and len(text) < 2:
            problem(N_("At least %(min)d characters."), name, min=2)
        texts[name] = text
    topic = values.get("topic") or ""
    if topic not in TOPICS:
        problem(N_("Choose a topic from the list."), "topic")
    township = values.get("township_code") or ""
    if not township or session.get(Township, township) is None:
        problem(N_("Choose the township."), "township_code")
    elif user.office == Office.TOWNSHIP and township != user.township_code:
        problem(N_("You organise lectures in your own township only."), "township_code")
    starts_at, ends_at = _check_times(values, now, problem)
    capacity = parse_int(values.get("capacity"))
    if capacity is None or not CAPACITY_MIN <= capacity <= CAPACITY_MAX:
        problem(
            N_("The capacity is a whole number from %(min)d to %(max)d."),
            "capacity",
            min=CAPACITY_MIN,
            max=CAPACITY_MAX,
        )
    if problems:
        raise InvalidLecture(problems)
    return LectureInput(
        title=texts["title"],
        topic=topic,
        speaker=texts["speaker"],
        speaker_bio=texts["speaker_bio"],
        township_code=township,
        venue=texts["venue"],
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        audience=texts["audience"],
        description=texts["description"],
    )


def _max_length(name: str) -> int:
    from portal.core.fields import max_length

    return max_length(LectureBase, name)


def form_values(lecture: Lecture) -> dict[str, Any]:
    """A lecture's fields as the form shows them (China day and times)."""
    starts = lecture.starts_at.astimezone(SHANGHAI)
    ends = lecture.ends_at.astimezone(SHANGHAI)
    values = {name: getattr(lecture, name) for name in TEXT_FIELDS}
    values.update(
        topic=lecture.topic,
        township_code=lecture.township_code,
        day=starts.date(),
        start_time=starts.time(),
        end_time=ends.time(),
        capacity=str(lecture.capacity),
    )
    return values


# Writing lectures ---------------------------------------------------------------------------


def _audit(
    session: Session,
    action: str,
    lecture: Lecture,
    actor: User | None,
    ip: str | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        actor_id=actor.id if actor else None,
        target_type="lecture",
        target_id=lecture.id,
        ip=ip,
        office=lecture.office,
        township=lecture.township_code,
        **detail,
    )


def _public_change(session: Session, lecture_ids: list[int]) -> None:
    """What the public sees changed: drop the area's cached pages, refresh the search index
    for these lectures after the commit (the catch-up job would otherwise take minutes)."""
    from portal.parents_school.search import source
    from portal.search import sync_after_commit

    cache.bump(session, AREA)
    sync_after_commit(session, source.name, lecture_ids)


def create(
    session: Session,
    user: User,
    values: dict[str, Any],
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> Lecture:
    """A new lecture of the organiser's office."""
    require_organiser(user)
    now = now or utcnow()
    data = check_input(session, user, values, now=now)
    lecture = Lecture(
        **data.values(), office=str(user.office), created_by=user.id, created_at=now, updated_at=now
    )
    session.add(lecture)
    session.flush()
    _audit(session, "lecture.created", lecture, user, ip, title=lecture.title)
    _public_change(session, [lecture.id])
    return lecture


def _check_changeable(lecture: Lecture, now: datetime) -> None:
    if lecture.status == LectureStatus.CANCELLED:
        raise LectureError(N_("This lecture is cancelled."))
    if started(lecture, now):
        raise LectureError(N_("This lecture has started; it can no longer be changed."))


def live_bookings(session: Session, lecture_id: int) -> list[Booking]:
    return list(
        session.exec(
            select(Booking)
            .where(Booking.lecture_id == lecture_id, Booking.status.in_(LIVE))
            .order_by(Booking.queued_at, Booking.id)
        )
    )


def reschedule_reminder(
    session: Session, lecture: Lecture, booking: Booking, now: datetime
) -> None:
    """Cancel a confirmed booking's pending reminder and queue it again for the new time and
    venue. The key keeps the `reminder:` prefix (so `booking.cancel_reminders` finds it) and
    adds the moment of the change, so that moving a lecture back to an earlier time queues a
    fresh reminder instead of finding the cancelled one."""
    booking_rules.cancel_reminders(session, booking)
    if booking.status != BookingStatus.CONFIRMED:
        return
    due = lecture.starts_at - booking_rules.REMINDER_BEFORE
    if due <= now:
        return
    start = lecture.starts_at.astimezone(SHANGHAI)
    booking_rules._tell(  # noqa: SLF001 - the booking module's one way to queue its messages
        session,
        lecture,
        booking,
        "lectures.reminder",
        f"reminder:{start:%Y%m%d%H%M}:{now:%Y%m%d%H%M%S%f}",
        due_at=due,
    )


def update_lecture(
    session: Session,
    user: User,
    lecture: Lecture,
    values: dict[str, Any],
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """Change a lecture; a new time or venue is told to every booked or waiting guardian and
    their reminders are queued again. Returns how many guardians were told."""
    require_organiser(user)
    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")
    now = now or utcnow()
    _check_changeable(lecture, now)
    data = check_input(session, user, values, now=now)
    if data.capacity < lecture.seats_taken:
        raise LectureError(
            N_("%(taken)d seats are booked: the capacity cannot be lower."),
            "capacity",
            params={"taken": lecture.seats_taken},
        )
    old = {name: getattr(lecture, name) for name in data.values()}
    moved = (data.starts_at, data.ends_at, data.venue) != (
        lecture.starts_at,
        lecture.ends_at,
        lecture.venue,
    )
    more_seats = data.capacity > lecture.capacity
    for name, value in data.values().items():
        setattr(lecture, name, value)
    lecture.updated_at = now
    session.add(lecture)
    session.flush()
    changed = sorted(name for name, value in data.values().items() if old[name] != value)
    told = 0
    if moved:
        stamp = f"{now:%Y%m%d%H%M%S%f}"
        for booking in live_bookings(session, lecture.id):
            booking_rules._tell(  # noqa: SLF001
                session, lecture, booking, "lectures.changed", f"changed:{stamp}"
            )
            reschedule_reminder(session, lecture, booking, now)
            told += 1
    promoted = booking_rules.promote(session, lecture, now=now) if more_seats else []
    _audit(
        session,
        "lecture.changed",
        lecture,
        user,
        ip,
        fields=changed,
        told=told,
        promoted=len(promoted),
    )
    _public_change(session, [lecture.id])
    return told


@dataclass(frozen=True)
class RepeatRow:
    township_code: str
    day: date | None
    start_time: time | None = None
    end_time: time | None = None
    venue: str | None = None

    @property
    def blank(self) -> bool:
        return not self.township_code and self.day is None


def repeat(
    session: Session,
    user: User,
    lecture: Lecture,
    rows: list[RepeatRow],
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> list[Lecture]:
    """Copies of a lecture in other townships or on other dates: every row is checked first
    and all are created, or none. Problems name their row's field (`rows-2-day`)."""
    require_organiser(user)
    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")
    now = now or utcnow()
    base = form_values(lecture)
    problems: list[DomainError] = []
    checked: list[LectureInput] = []
    filled = [(i, row) for i, row in enumerate(rows) if not row.blank]
    if not filled:
        raise LectureError(N_("Fill in at least one row: a township and a day."))
    seen: set[tuple[str, date]] = set()
    for index, row in filled:
        values = dict(base)
        values.update(
            township_code=row.township_code,
            day=row.day,
            start_time=row.start_time or base["start_time"],
            end_time=row.end_time or base["end_time"],
            venue=row.venue or "",
        )
        if not row.venue and row.township_code == lecture.township_code:
            values["venue"] = lecture.venue
        try:
            checked.append(check_input(session, user, values, now=now))
        except InvalidLecture as error:
            for found in error.problems:
                name = found.field if found.field in ROW_FIELDS else "day"
                problems.append(
                    LectureError(found.message, f"rows-{index}-{name}", params=found.params)
                )
            continue
        key = (row.township_code, row.day)
        if key in seen:
            problems.append(
                LectureError(
                    N_("This township and day are already in another row."), f"rows-{index}-day"
                )
            )
        seen.add(key)
    if problems:
        raise InvalidLecture(problems)
    series = lecture.series_id or lecture.id
    if lecture.series_id is None:
        lecture.series_id = series
        session.add(lecture)
    made = []
    for data in checked:
        copy = Lecture(
            **data.values(),
            office=lecture.office,
            series_id=series,
            created_by=user.id,
            created_at=now,
            updated_at=now,
        )
        session.add(copy)
        session.flush()
        _audit(session, "lecture.repeated", copy, user, ip, source=lecture.id, series=series)
        made.append(copy)
    _public_change(session, [lecture.id, *(c.id for c in made)])
    return made


def change_capacity(
    session: Session,
    user: User,
    lecture: Lecture,
    typed: Any,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> list[Booking]:
    """A new capacity; more seats promote the waiting list in order. Returns the promoted."""
    require_organiser(user)
    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")
    now = now or utcnow()
    _check_changeable(lecture, now)
    capacity = parse_int(typed)
    if capacity is None or not CAPACITY_MIN <= capacity <= CAPACITY_MAX:
        raise LectureError(
            N_("The capacity is a whole number from %(min)d to %(max)d."),
            "capacity",
            params={"min": CAPACITY_MIN, "max": CAPACITY_MAX},
        )
    old = lecture.capacity
    # One conditional UPDATE: a booking confirmed at this moment cannot end up above it.
    result = session.execute(
        update(Lecture)
        .where(Lecture.id == lecture.id, Lecture.seats_taken <= capacity)
        .values(capacity=capacity, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(lecture)
    if result.rowcount != 1:
        raise LectureError(
            N_("%(taken)d seats are booked: the capacity cannot be lower."),
            "capacity",
            params={"taken": lecture.seats_taken},
        )
    promoted = booking_rules.promote(session, lecture, now=now) if capacity > old else []
    _audit(
        session,
        "lecture.capacity",
        lecture,
        user,
        ip,
        old=old,
        new=capacity,
        promoted=len(promoted),
    )
    _public_change(session, [lecture.id])
    return promoted


def _sentence(reason: str) -> str:
    return reason if reason[-1] in "。.!！?？" else reason + "。"


def cancel_lecture(
    session: Session,
    user: User,
    lecture: Lecture,
    reason: str | None,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """Cancel a lecture: every booked or waiting guardian is told with the reason, their
    bookings and reminders are cancelled. Returns how many were told."""
    require_organiser(user)
    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")
    now = now or utcnow()
    _check_changeable(lecture, now)
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise LectureError(N_("Say why the lecture is cancelled: guardians are told."), "reason")
    if len(reason) > REASON_MAX:
        raise LectureError(N_("At most %(max)d characters."), "reason", params={"max": REASON_MAX})
    told = 0
    for booking in live_bookings(session, lecture.id):
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        session.add(booking)
        booking_rules.cancel_reminders(session, booking)
        booking_rules._tell(  # noqa: SLF001
            session,
            lecture,
            booking,
            "lectures.cancelled",
            "lecture-cancelled",
            reason=_sentence(reason),
        )
        told += 1
    lecture.status = LectureStatus.CANCELLED
    lecture.cancelled_at = now
    lecture.cancel_reason = reason
    lecture.seats_taken = 0
    lecture.updated_at = now
    session.add(lecture)
    session.flush()
    _audit(session, "lecture.cancelled", lecture, user, ip, reason=reason, told=told)
    _public_change(session, [lecture.id])
    return told


# Lists ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LectureRow:
    lecture: Lecture
    waiting: int
    attended: int  # attended seats of bookings + walk-ins


def list_statement(user: User, *, upcoming: bool, now: datetime | None = None):
    now = now or utcnow()
    statement = scope(select(Lecture), user)
    if upcoming:
        return statement.where(Lecture.ends_at > now).order_by(Lecture.starts_at, Lecture.id)
    return statement.where(Lecture.ends_at <= now).order_by(
        Lecture.starts_at.desc(), Lecture.id.desc()
    )


def rows(session: Session, lectures: list[Lecture]) -> list[LectureRow]:
    ids = [lecture.id for lecture in lectures]
    waiting: dict[int, int] = {}
    attended: dict[int, int] = {}
    if ids:
        waiting = dict(
            session.exec(
                select(Booking.lecture_id, func.count())
                .where(Booking.lecture_id.in_(ids), Booking.status == BookingStatus.WAITLISTED)
                .group_by(Booking.lecture_id)
            ).all()
        )
        attended = dict(
            session.exec(
                select(Booking.lecture_id, func.sum(Booking.attended))
                .where(Booking.lecture_id.in_(ids))
                .group_by(Booking.lecture_id)
            ).all()
        )
    return [
        LectureRow(
            lecture,
            waiting.get(lecture.id, 0),
            int(attended.get(lecture.id) or 0) + lecture.walk_ins,
        )
        for lecture in lectures
    ]


def bookings_statement(lecture_id: int):
    """Confirmed first, then the waiting list in order, then cancelled."""
    from sqlalchemy import case

    order = case(
        (Booking.status == BookingStatus.CONFIRMED, 0),
        (Booking.status == BookingStatus.WAITLISTED, 1),
        else_=2,
    )
    return (
        select(Booking)
        .where(Booking.lecture_id == lecture_id)
        .order_by(order, Booking.queued_at, Booking.id)
    )


def upcoming_count(session: Session, user: User, *, now: datetime | None = None) -> int:
    """Workspace: the organiser's scheduled lectures starting in the next 7 days."""
    now = now or utcnow()
    statement = scope(select(func.count()).select_from(Lecture), user).where(
        Lecture.status == LectureStatus.SCHEDULED,
        Lecture.starts_at > now,
        Lecture.starts_at <= now + timedelta(days=7),
    )
    return session.exec(statement).one()


def recent_feedback_count(session: Session, user: User, *, now: datetime | None = None) -> int:
    """Workspace: feedback received on the organiser's lectures in the last 7 days."""
    now = now or utcnow()
    statement = scope(
        select(func.count()).select_from(Feedback).join(Lecture, Lecture.id == Feedback.lecture_id),
        user,
    ).where(Feedback.created_at > now - timedelta(days=7))
    return session.exec(statement).one()


# Check-in -----------------------------------------------------------------------------------


def checkin_open(lecture: Lecture, now: datetime | None = None) -> bool:
    """From two hours before the start (attendance from the paper sheet may come later)."""
    return lecture.status == LectureStatus.SCHEDULED and (now or utcnow()) >= (
        lecture.starts_at - CHECKIN_OPENS
    )


def attendance(session: Session, lecture: Lecture) -> int:
    seats = session.exec(
        select(func.coalesce(func.sum(Booking.attended), 0)).where(Booking.lecture_id == lecture.id)
    ).one()
    return int(seats) + lecture.walk_ins


def find_bookings(
    session: Session, lecture: Lecture, query: str, *, limit: int = 20
) -> list[Booking]:
    """Bookings of a lecture by code (what a scanner types), mobile, or a part of the name."""
    text = unicodedata.normalize("NFKC", query or "").strip()
    if not text:
        return []
    statement = select(Booking).where(Booking.lecture_id == lecture.id, Booking.status.in_(LIVE))
    compact = re.sub(r"[\s-]+", "", text)
    code = compact.upper()
    if booking_rules.CODE_RE.match(code):
        found = list(session.exec(statement.where(Booking.code == code)))
        if found:
            return found
    if compact.isdigit():
        if len(compact) < 4:
            return []
        # A whole number, or its last digits (as read aloud): 4 digits or more.
        return list(
            session.exec(
                statement.where(Booking.mobile.endswith(compact, autoescape=True))
                .order_by(Booking.name)
                .limit(limit)
            )
        )
    return list(
        session.exec(
            statement.where(Booking.name.contains(text[:20], autoescape=True))
            .order_by(Booking.name, Booking.id)
            .limit(limit)
        )
    )


def _check_recording(user: User, lecture: Lecture, now: datetime) -> None:
    require_organiser(user)
    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")
    if lecture.status == LectureStatus.CANCELLED:
        raise LectureError(N_("This lecture is cancelled."))
    if not checkin_open(lecture, now):
        raise LectureError(N_("Check-in opens two hours before the lecture starts."))


def set_attended(
    session: Session,
    user: User,
    lecture: Lecture,
    booking_id: Any,
    typed: Any,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """The seats of one booking that came: 0 to its seats (confirmed bookings only)."""
    now = now or utcnow()
    _check_recording(user, lecture, now)
    booking = session.get(Booking, parse_int(booking_id) or 0)
    if booking is None or booking.lecture_id != lecture.id:
        raise LectureError(N_("This booking is not for this lecture."), "attended")
    if booking.status != BookingStatus.CONFIRMED:
        raise LectureError(
            N_("Only a confirmed booking is checked in; count the others as walk-ins."),
            "attended",
        )
    seats = parse_int(typed)
    if seats is None or not 0 <= seats <= booking.seats:
        raise LectureError(
            N_("From 0 to %(seats)d seats for this booking."),
            "attended",
            params={"seats": booking.seats},
        )
    old = booking.attended
    booking.attended = seats
    booking.checked_in_at = now if seats else None
    session.add(booking)
    session.flush()
    _audit(session, "lecture.attendance", lecture, user, ip, booking=booking.id, old=old, new=seats)
    return booking


def set_walk_ins(
    session: Session,
    user: User,
    lecture: Lecture,
    typed: Any,
    *,
    ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """How many people came without a booking (a count: no personal data is kept)."""
    now = now or utcnow()
    _check_recording(user, lecture, now)
    count = parse_int(typed)
    if count is None or not 0 <= count <= WALK_INS_MAX:
        raise LectureError(
            N_("Walk-ins are a whole number from 0 to %(max)d."),
            "walk_ins",
            params={"max": WALK_INS_MAX},
        )
    old = lecture.walk_ins
    lecture.walk_ins = count
    session.add(lecture)
    session.flush()
    _audit(session, "lecture.walk_ins", lecture, user, ip, old=old, new=count)
    return count


# The sign-in sheet (签到表) ----------------------------------------------------------------------

SHEET_HEADERS = (
    N_("No."),
    N_("Name"),
    N_("Relation to the child"),
    N_("Village (community)"),
    N_("Contact phone"),
    N_("Seats"),
    N_("Signature"),
)


def sheet_rows(session: Session, lecture: Lecture) -> list[Booking]:
    """The confirmed bookings, by village then name (how people queue at the door)."""
    return list(
        session.exec(
            select(Booking)
            .where(Booking.lecture_id == lecture.id, Booking.status == BookingStatus.CONFIRMED)
            .order_by(Booking.village, Booking.name, Booking.id)
        )
    )


def sign_in_sheet_xlsx(
    session: Session, user: User, lecture: Lecture, *, ip: str | None = None
) -> bytes:
    """The sign-in sheet as .xlsx (text cells are text: a value never becomes a formula);
    needs a request or a forced locale for its words. Audited: it lists phone numbers."""
    from flask_babel import gettext
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if not in_reach(user, lecture):
        raise NotFound(reason="not_found")

    def cell(sheet, value: Any, *, bold: bool = False):
        item = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            item.data_type = "s"
        if bold:
            item.font = Font(bold=True)
        return item

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(gettext("Sign-in sheet")[:31])
    for letter, width in zip("ABCDEFG", (6, 14, 16, 20, 16, 8, 20), strict=True):
        sheet.column_dimensions[letter].width = width
    township = session.get(Township, lecture.township_code)
    start = lecture.starts_at.astimezone(SHANGHAI)
    sheet.append([cell(sheet, f"{gettext('Sign-in sheet')}: {lecture.title}", bold=True)])
    sheet.append(
        [
            cell(
                sheet,
                f"{start:%Y-%m-%d %H:%M} · {township.name if township else ''} · {lecture.venue}",
            )
        ]
    )
    sheet.append([cell(sheet, gettext(h), bold=True) for h in SHEET_HEADERS])
    for number, booking in enumerate(sheet_rows(session, lecture), start=1):
        sheet.append(
            [
                cell(sheet, number),
                cell(sheet, booking.name),
                cell(sheet, gettext(str(relation_text(booking.relation)))),
                cell(sheet, booking.village),
                cell(sheet, booking.mobile),
                cell(sheet, booking.seats),
                cell(sheet, ""),
            ]
        )
    for _blank in range(10):  # walk-ins sign on the empty rows
        sheet.append([cell(sheet, "") for _h in SHEET_HEADERS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    _audit(session, "lecture.sign_in_sheet", lecture, user, ip)
    return buffer.getvalue()


def relation_text(relation: str):
    return booking_rules.RELATION_LABELS.get(relation, relation)


# Feedback -------------------------------------------------------------------------------------


def _serializer(secret_key: str):
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret_key, salt=FEEDBACK_SALT)


def _secret_key() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


def feedback_token(booking_id: int, *, secret_key: str | None = None) -> str:
    return _serializer(secret_key or _secret_key()).dumps(booking_id)


def booking_for_token(session: Session, token: str) -> Booking:
    """The attended booking a feedback link was sent for, else NotFound (a bad or old link)."""
    from itsdangerous import BadSignature

    if not token or len(token) > 200:
        raise NotFound(reason="not_found")
    try:
        booking_id = _serializer(_secret_key()).loads(token, max_age=FEEDBACK_MAX_AGE)
    except BadSignature:
        raise NotFound(reason="not_found") from None
    booking = session.get(Booking, booking_id) if isinstance(booking_id, int) else None
    if booking is None or booking.attended <= 0:
        raise NotFound(reason="not_found")
    return booking


def feedback_for(session: Session, booking_id: int) -> Feedback | None:
    return session.exec(select(Feedback).where(Feedback.booking_id == booking_id)).first()


def give_feedback(
    session: Session,
    booking: Booking,
    *,
    rating: Any,
    comment: str | None,
    topics: list[str] | None,
    now: datetime | None = None,
) -> Feedback:
    """One feedback per booking: a rating 1-5, a comment, the topics wanted next."""
    from sqlalchemy.exc import IntegrityError

    if feedback_for(session, booking.id) is not None:
        raise LectureError(N_("Your opinion on this lecture was already received. Thank you."))
    value = parse_int(rating)
    if value is None or not 1 <= value <= 5:
        raise LectureError(N_("Choose from 1 to 5 stars."), "rating")
    comment = (comment or "").strip() or None
    if comment and len(comment) > COMMENT_MAX:
        raise LectureError(
            N_("At most %(max)d characters."), "comment", params={"max": COMMENT_MAX}
        )
    wanted = list(dict.fromkeys(topics or []))
    if any(topic not in TOPICS for topic in wanted):
        raise LectureError(N_("Choose the topics from the list."), "topics")
    row = Feedback(
        booking_id=booking.id,
        lecture_id=booking.lecture_id,
        rating=value,
        comment=comment,
        topics_wanted=wanted,
        created_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise LectureError(
            N_("Your opinion on this lecture was already received. Thank you.")
        ) from None
    return row


@dataclass
class FeedbackSummary:
    count: int = 0
    average: float | None = None
    ratings: dict[int, int] = field(default_factory=dict)
    topics: list[tuple[str, int]] = field(default_factory=list)
    comments: list[Feedback] = field(default_factory=list)


def feedback_summary(session: Session, lecture: Lecture) -> FeedbackSummary:
    rows_ = list(
        session.exec(
            select(Feedback)
            .where(Feedback.lecture_id == lecture.id)
            .order_by(Feedback.created_at.desc())
        )
    )
    summary = FeedbackSummary(count=len(rows_))
    if not rows_:
        return summary
    summary.average = round(sum(r.rating for r in rows_) / len(rows_), 1)
    summary.ratings = {n: sum(1 for r in rows_ if r.rating == n) for n in range(5, 0, -1)}
    counts: dict[str, int] = {}
    for row in rows_:
        for topic in row.topics_wanted or []:
            counts[topic] = counts.get(topic, 0) + 1
    summary.topics = sorted(counts.items(), key=lambda item: (-item[1], TOPICS.index(item[0])))
    summary.comments = [r for r in rows_ if r.comment][:50]
    return summary


def send_feedback_requests(
    session: Session,
    *,
    now: datetime | None = None,
    base_url: str = "",
    secret_key: str | None = None,
) -> int:
    """Text each attended booking a feedback link once, an hour after its lecture ends
    (lectures that ended within the last 14 days, so attendance typed in later counts too).
    Returns how many links were queued."""

    now = now or utcnow()
    lectures = session.exec(
        select(Lecture).where(
            Lecture.status == LectureStatus.SCHEDULED,
            Lecture.ends_at <= now - FEEDBACK_AFTER,
            Lecture.ends_at > now - FEEDBACK_WINDOW,
        )
    ).all()
    sent = 0
    for lecture in lectures:
        bookings = session.exec(
            select(Booking).where(Booking.lecture_id == lecture.id, Booking.attended > 0)
        ).all()
        for booking in bookings:
            key = f"booking:{booking.id}:feedback"
            if notify.is_queued(session, key):
                continue
            token = feedback_token(booking.id, secret_key=secret_key)
            link = f"{base_url}/lectures/feedback/{token}"
            notify.enqueue(
                session,
                key=key,
                to=notify.Recipient.by_phone(booking.mobile),
                template="lectures.feedback",
                context={"title": lecture.title, "link": link},
                link=link,
            )
            sent += 1
        if lecture.feedback_sent_at is None and bookings:
            lecture.feedback_sent_at = now
            session.add(lecture)
    session.flush()
    return sent


# The annual plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    name: str  # "spring" or "autumn"
    first: date
    last: date


def terms(year: int) -> tuple[Term, Term]:
    """The plan year's two terms: spring 1 Feb-31 Jul, autumn 1 Aug-31 Jan of the next year."""
    return (
        Term("spring", date(year, 2, 1), date(year, 7, 31)),
        Term("autumn", date(year, 8, 1), date(year + 1, 1, 31)),
    )


def term_of(day: date) -> tuple[int, str]:
    """The plan year and term of a China date (January belongs to the last autumn term)."""
    if day.month == 1:
        return day.year - 1, "autumn"
    return day.year, "spring" if day.month <= 7 else "autumn"


class TermState:
    MET = "met"
    MISSED = "missed"
    OPEN = "open"  # the term has not ended and has no lecture yet
    FUTURE = "future"


@dataclass(frozen=True)
class PlanRow:
    kind: str  # "office" or "township"
    code: str
    name: Any
    held: int
    attendance: int
    spring: str
    autumn: str

    @property
    def met(self) -> bool:
        return self.spring == TermState.MET and self.autumn == TermState.MET

    @property
    def missed(self) -> bool:
        return TermState.MISSED in (self.spring, self.autumn)


def _term_state(count: int, term: Term, today: date) -> str:
    if count:
        return TermState.MET
    if today < term.first:
        return TermState.FUTURE
    if today <= term.last:
        return TermState.OPEN
    return TermState.MISSED


def plan(session: Session, user: User, year: int, *, now: datetime | None = None) -> list[PlanRow]:
    """Per office and per township government, the plan year's lectures held (not cancelled,
    ended), their attendance (attended seats and walk-ins), and each term's minimum."""
    from portal.auth.labels import OFFICE_LABELS

    now = now or utcnow()
    today = now.astimezone(SHANGHAI).date()
    spring, autumn = terms(year)
    first = china_time(spring.first, time(0))
    last = china_time(autumn.last + timedelta(days=1), time(0))
    lectures = session.exec(
        select(Lecture).where(
            Lecture.status == LectureStatus.SCHEDULED,
            Lecture.ends_at <= now,
            Lecture.starts_at >= first,
            Lecture.starts_at < last,
        )
    ).all()
    attended_by = dict(
        session.exec(
            select(Booking.lecture_id, func.sum(Booking.attended))
            .where(Booking.lecture_id.in_([lecture.id for lecture in lectures] or [0]))
            .group_by(Booking.lecture_id)
        ).all()
    )
    tally: dict[tuple[str, str], dict[str, int]] = {}
    for lecture in lectures:
        code = lecture.township_code if lecture.office == Office.TOWNSHIP else lecture.office
        kind = "township" if lecture.office == Office.TOWNSHIP else "office"
        entry = tally.setdefault(
            (kind, code), {"held": 0, "attendance": 0, "spring": 0, "autumn": 0}
        )
        entry["held"] += 1
        entry["attendance"] += int(attended_by.get(lecture.id) or 0) + lecture.walk_ins
        _year, term = term_of(lecture.starts_at.astimezone(SHANGHAI).date())
        entry[term] += 1
    found: list[PlanRow] = []

    def add(kind: str, code: str, name: Any) -> None:
        entry = tally.get((kind, code), {"held": 0, "attendance": 0, "spring": 0, "autumn": 0})
        found.append(
            PlanRow(
                kind,
                code,
                name,
                entry["held"],
                entry["attendance"],
                _term_state(entry["spring"], spring, today),
                _term_state(entry["autumn"], autumn, today),
            )
        )

    everything = sees_all(user)
    for office in PLAN_OFFICES:
        if everything or (is_organiser(user) and user.office == office):
            add("office", str(office), OFFICE_LABELS[office])
    for township in session.exec(select(Township).order_by(Township.code)):
        if everything or (
            is_organiser(user)
            and user.office == Office.TOWNSHIP
            and user.township_code == township.code
        ):
            add("township", township.code, township.name)
    return found


def plan_years(now: datetime | None = None) -> list[int]:
    """The years the selector offers: from 2020 to next year."""
    this = (now or utcnow()).astimezone(SHANGHAI).year
    return list(range(this + 1, 2019, -1))
