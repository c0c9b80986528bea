"""The booking core: seats never exceed capacity, the waiting list is served in order,
duplicates answer the existing booking, cancellations promote, reminders follow bookings."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal.auth.models import Role, User
from portal.notify.models import MessageStatus, OutboxMessage
from portal.parents_school import booking
from portal.parents_school.models import Booking, BookingStatus, Lecture, LectureStatus
from portal.timeutil import utcnow
from tests.conftest import make_user, reset_schema

XIPING = "331124001"


def lecture(
    session, *, capacity: int = 5, starts_in: timedelta = timedelta(days=3), **fields
) -> Lecture:
    organiser = session.exec(select(User).where(User.role == Role.LECTURE_ORGANISER)).first()
    organiser = organiser or make_user(session, role=Role.LECTURE_ORGANISER)
    starts = utcnow() + starts_in
    row = Lecture(
        title="隔代教育讲座",
        topic="skipped_generation",
        speaker="王老师",
        township_code=XIPING,
        venue="城北社区儿童之家",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1, minutes=30),
        capacity=capacity,
        office="education",
        created_by=organiser.id,
        **fields,
    )
    session.add(row)
    session.commit()
    return row


def guardian(n: int, **overrides) -> dict:
    data = {
        "name": "张奶奶",
        "mobile": f"137{n:08d}",
        "relation": "grandparent",
        "township_code": XIPING,
        "village": "城北社区",
        "seats": 1,
    }
    data.update(overrides)
    return data


def keys(session, booking_row) -> set[str]:
    return set(
        session.exec(
            select(OutboxMessage.key).where(
                OutboxMessage.key.like(f"booking:{booking_row.id}:%"),
                OutboxMessage.status != MessageStatus.CANCELLED,
            )
        )
    )


def test_seats_fill_then_the_waiting_list_in_order(app, session):
    talk = lecture(session, capacity=3)
    with app.test_request_context():
        a = booking.book(session, talk.id, guardian(1, seats=2))
        b = booking.book(session, talk.id, guardian(2, seats=2))
        c = booking.book(session, talk.id, guardian(3, seats=1))
    assert a.booking.status == BookingStatus.CONFIRMED and a.position is None
    # Strict order: b (2 seats) does not fit, so c waits behind it although 1 seat is free.
    assert (b.booking.status, b.position) == (BookingStatus.WAITLISTED, 1)
    assert (c.booking.status, c.position) == (BookingStatus.WAITLISTED, 2)
    session.refresh(talk)
    assert talk.seats_taken == 2 and booking.seats_left(talk) == 1


def test_cancelling_promotes_the_first_waiting_and_tells_them(app, session):
    talk = lecture(session, capacity=2)
    with app.test_request_context():
        a = booking.book(session, talk.id, guardian(1, seats=2)).booking
        b = booking.book(session, talk.id, guardian(2, seats=1)).booking
        c = booking.book(session, talk.id, guardian(3, seats=1)).booking
        promoted = booking.cancel(session, a)
    assert [p.id for p in promoted] == [b.id, c.id]
    session.refresh(talk)
    assert talk.seats_taken == 2
    assert any(k.endswith(":promoted") for k in keys(session, b))
    assert not any(
        ":reminder:" in k for k in keys(session, a)
    )  # the cancelled one's reminder is gone


def test_the_same_mobile_sees_its_existing_booking(app, session):
    talk = lecture(session)
    with app.test_request_context():
        first = booking.book(session, talk.id, guardian(1))
        again = booking.book(session, talk.id, guardian(1, name="张爷爷", seats=3))
    assert again.created is False and again.booking.id == first.booking.id
    session.refresh(talk)
    assert talk.seats_taken == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seats", 0),
        ("seats", 4),
        ("seats", "two"),
        ("mobile", "12345678901"),
        ("mobile", ""),
        ("township_code", "331124999"),
        ("name", ""),
        ("name", "张"),
        ("relation", "uncle"),
        ("village", ""),
    ],
)
def test_every_bad_input_is_refused_on_its_field(app, session, field, value):
    talk = lecture(session)
    with app.test_request_context(), pytest.raises(booking.InvalidBooking) as refused:
        booking.book(session, talk.id, guardian(1, **{field: value}))
    assert field in {p.field for p in refused.value.problems}
    assert session.exec(select(Booking)).first() is None


def test_booking_for_someone_else_needs_the_bookers_name(app, session):
    talk = lecture(session)
    with app.test_request_context():
        with pytest.raises(booking.InvalidBooking):
            booking.book(session, talk.id, guardian(1, for_someone_else="y"))
        done = booking.book(
            session, talk.id, guardian(1, for_someone_else="y", booked_by="村儿童主任")
        )
    assert done.booking.booked_by == "村儿童主任"


@pytest.mark.parametrize(
    "setup",
    ["past", "cancelled"],
)
def test_past_and_cancelled_lectures_cannot_be_booked(app, session, setup):
    if setup == "past":
        talk = lecture(session, starts_in=timedelta(hours=-1))
    else:
        talk = lecture(session, status=LectureStatus.CANCELLED)
    with app.test_request_context(), pytest.raises(booking.BookingError):
        booking.book(session, talk.id, guardian(1))


def test_codes_have_no_look_alike_characters(app, session):
    talk = lecture(session, capacity=50)
    with app.test_request_context():
        codes = [booking.book(session, talk.id, guardian(n)).booking.code for n in range(40)]
    assert len(set(codes)) == 40
    for code in codes:
        assert len(code) == 8 and not set(code) & set("0O1IL2Z5S8BDQ6GUV")


def test_find_needs_the_code_and_its_mobile(app, session):
    talk = lecture(session)
    with app.test_request_context():
        row = booking.book(session, talk.id, guardian(1)).booking
    assert booking.find(session, row.code, "13700000001").id == row.id
    assert booking.find(session, row.code.lower(), " 137 0000 0001 ").id == row.id
    assert booking.find(session, row.code, "13700000002") is None
    assert booking.find(session, "AAAAAAAA", "13700000001") is None
    assert booking.find(session, "'; DROP", "x") is None


def test_a_reminder_24_hours_before_for_confirmed_bookings_only(app, session, time_machine):
    time_machine.move_to("2026-12-01T02:00:00+00:00", tick=False)
    talk = lecture(session, capacity=1, starts_in=timedelta(days=2))
    with app.test_request_context():
        seated = booking.book(session, talk.id, guardian(1)).booking
        waiting = booking.book(session, talk.id, guardian(2)).booking
    session.commit()
    reminders = session.exec(
        select(OutboxMessage).where(OutboxMessage.key.like("booking:%:reminder:%"))
    ).all()
    assert {m.key.split(":")[1] for m in reminders} == {str(seated.id)}
    assert all(m.due_at == talk.starts_at - timedelta(hours=24) for m in reminders)
    assert not any(":reminder:" in k for k in keys(session, waiting))
    # Cancelled: the reminder is withdrawn before it is due.
    with app.test_request_context():
        booking.cancel(session, seated)
    assert not any(":reminder:" in k for k in keys(session, seated))
    # ... and the promoted one gets its own.
    assert any(":reminder:" in k for k in keys(session, waiting))


def test_a_booking_made_within_24_hours_gets_no_separate_reminder(app, session):
    talk = lecture(session, starts_in=timedelta(hours=5))
    with app.test_request_context():
        row = booking.book(session, talk.id, guardian(1)).booking
    assert any(k.endswith(":booked") for k in keys(session, row))
    assert not any(":reminder:" in k for k in keys(session, row))


@pytest.fixture()
def real_app(scratch_database, new_app):
    reset_schema(scratch_database)
    return new_app(scratch_database)


def test_many_people_booking_at_once_never_exceed_the_seats(real_app):
    """Thirty bookings for ten seats at the same moment: exactly ten confirmed (security.md 22)."""
    from portal.extensions import db

    with Session(real_app.extensions["portal_db"].engine) as s:
        talk_id = lecture(s, capacity=10).id
    barrier = threading.Barrier(30, timeout=30)
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            barrier.wait()
            with real_app.test_request_context(), db.transaction() as s:
                booking.book(s, talk_id, guardian(n))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(real_app.extensions["portal_db"].engine) as s:
        rows = s.exec(select(Booking).where(Booking.lecture_id == talk_id)).all()
        talk = s.get(Lecture, talk_id)
    confirmed = [r for r in rows if r.status == BookingStatus.CONFIRMED]
    assert len(rows) == 30 and len(confirmed) == 10 and talk.seats_taken == 10
