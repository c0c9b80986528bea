"""The parents' school's demo set, loaded by `flask portal demo` with the demo accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlmodel import Session, SQLModel, func, select

from portal import create_app
from portal.auth.models import User
from portal.notify.models import MessageStatus, OutboxMessage
from portal.parents_school import booking
from portal.parents_school.models import Booking, BookingStatus, Feedback, Lecture
from portal.timeutil import utcnow
from tests.conftest import app_config, page_text


def _demo(app) -> str:
    result = app.test_cli_runner().invoke(args=["portal", "demo"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[tuple[Flask, str]]:
    """A fresh instance with `flask portal demo` run once (the tests only read it; loading
    again adds nothing, which the first test checks)."""
    tmp = tmp_path_factory.mktemp("parents-school-demo")
    app = create_app(
        app_config(
            f"sqlite:///{tmp / 'demo.db'}",
            PORTAL_UPLOAD_DIR=str(tmp / "uploads"),
            PORTAL_SEARCH_DIR=str(tmp / "search"),
        )
    )
    result = app.test_cli_runner().invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    # The area's tables, for as long as no migration creates them (none are added otherwise).
    SQLModel.metadata.create_all(app.extensions["portal_db"].engine)
    yield app, _demo(app)
    app.extensions["portal_db"].engine.dispose()


@pytest.fixture()
def demo_app(loaded) -> Flask:
    return loaded[0]


def _counts(session: Session) -> dict[str, int]:
    counts = {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Lecture, Booking, Feedback, User)
    }
    counts["pending messages"] = session.exec(
        select(func.count()).where(OutboxMessage.status == MessageStatus.PENDING)
    ).one()
    return counts


def test_the_demo_loads_twice_without_adding_anything_the_second_time(loaded):
    demo_app, first = loaded
    assert first.count("[parents_school] lecture #") == 4
    assert "skipped" not in first
    engine = demo_app.extensions["portal_db"].engine
    with Session(engine) as s:
        before = _counts(s)
    second = _demo(demo_app)
    assert "[parents_school]" not in second
    with Session(engine) as s:
        assert _counts(s) == before
    assert before["Lecture"] == 4 and before["Booking"] == 11 and before["Feedback"] == 2


def test_the_demo_is_labelled_and_belongs_to_the_demo_organiser(demo_app):
    now = utcnow()
    with Session(demo_app.extensions["portal_db"].engine) as s:
        organiser = s.exec(select(User).where(User.phone == "19900000007")).one()
        lectures = s.exec(select(Lecture).order_by(Lecture.starts_at)).all()
        bookings = s.exec(select(Booking)).all()
    assert organiser.is_demo and organiser.office == "womens_federation"
    for lecture in lectures:
        assert lecture.title.startswith("演示·") and lecture.office == "womens_federation"
        assert lecture.created_by == organiser.id
    for row in bookings:
        assert row.name.startswith("演示·") and row.village == "演示村"
        assert row.mobile.startswith("199000003")
        assert booking.CODE_RE.match(row.code)
    past, *coming = lectures
    assert past.starts_at < now and all(lecture.starts_at > now for lecture in coming)
    days = sorted((lecture.starts_at - now).days for lecture in coming)
    assert days[0] >= 6 and days[-1] <= 21  # in the coming weeks
    (for_someone,) = [row for row in bookings if row.for_someone_else]
    assert for_someone.booked_by == "演示·村妇联主席"


def test_the_small_lecture_is_full_with_one_waiting_and_seats_add_up(demo_app):
    with Session(demo_app.extensions["portal_db"].engine) as s:
        for lecture in s.exec(select(Lecture)).all():
            rows = s.exec(select(Booking).where(Booking.lecture_id == lecture.id)).all()
            confirmed = [r for r in rows if r.status == BookingStatus.CONFIRMED]
            assert lecture.seats_taken == sum(r.seats for r in confirmed) <= lecture.capacity
        small = s.exec(select(Lecture).where(Lecture.capacity == 5)).one()
        waiting = s.exec(
            select(Booking).where(
                Booking.lecture_id == small.id, Booking.status == BookingStatus.WAITLISTED
            )
        ).all()
        assert small.seats_taken == 5
        assert [(w.name, booking.waitlist_position(s, w)) for w in waiting] == [("演示·孙奶奶", 1)]


def test_the_past_lecture_has_attendance_and_opinions_and_texts_nobody(demo_app):
    now = utcnow()
    with Session(demo_app.extensions["portal_db"].engine) as s:
        past = s.exec(select(Lecture).where(Lecture.starts_at < now)).one()
        rows = s.exec(select(Booking).where(Booking.lecture_id == past.id)).all()
        opinions = s.exec(select(Feedback).where(Feedback.lecture_id == past.id)).all()
        keys = [f"booking:{r.id}:" for r in rows]
        messages = [
            m for m in s.exec(select(OutboxMessage)).all() if any(m.key.startswith(k) for k in keys)
        ]
    assert sorted(r.attended for r in rows) == [0, 1, 1, 2]
    assert past.walk_ins == 3 and past.feedback_sent_at is not None
    assert sorted(o.rating for o in opinions) == [4, 5]
    assert messages and {m.status for m in messages} == {MessageStatus.CANCELLED}
    # The hourly feedback job finds the links already queued and sends none again.
    from portal.parents_school import services

    with demo_app.app_context(), Session(demo_app.extensions["portal_db"].engine) as s:
        assert services.send_feedback_requests(s, base_url="http://localhost") == 0


def test_the_demo_lectures_show_on_the_public_schedule(demo_app):
    text = page_text(demo_app.test_client().get("/lectures/"))
    assert "演示·隔代教育：祖辈怎样陪孩子写作业" in text
    assert "演示·和在外务工的父母好好说话" in text
