"""After the lecture: one feedback link per attendee, a public form answered once; and the
annual plan's term rule per office and township."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import select

from portal.auth.models import Role
from portal.notify.models import Channel, OutboxMessage
from portal.parents_school import jobs, services
from portal.parents_school.models import Booking, Feedback
from portal.timeutil import SHANGHAI
from tests.conftest import csrf_token, login, make_user, page_text
from tests.parents_school.conftest import GUSHI, book, make_lecture

START = datetime(2026, 12, 5, 6, 30, tzinfo=UTC)  # 14:30 in China


def _attended(session, booking, seats: int) -> Booking:
    row = session.get(Booking, booking.id)
    row.attended = seats
    session.add(row)
    session.commit()
    return row


@pytest.fixture()
def held(app, session, time_machine):
    """A lecture on 5 December 2026 14:30-16:00 with two bookings, one of which came."""
    time_machine.move_to(START - timedelta(days=3), tick=False)
    lecture = make_lecture(session, starts_at=START, ends_at=START + timedelta(minutes=90))
    came = book(app, session, lecture, 1, seats=2)
    absent = book(app, session, lecture, 2)
    _attended(session, came, 2)
    return {"lecture": lecture, "came": came, "absent": absent}


def _feedback_messages(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.key.endswith(":feedback"))))


def _send(app, session) -> int:
    with app.app_context():
        sent = services.send_feedback_requests(session, base_url="http://localhost")
    session.commit()
    return sent


def test_the_job_sends_one_link_per_attendee_an_hour_after_the_end(
    app, session, held, time_machine
):
    end = held["lecture"].ends_at
    time_machine.move_to(end + timedelta(minutes=50), tick=False)
    assert _send(app, session) == 0
    time_machine.move_to(end + timedelta(hours=1, minutes=15), tick=False)
    assert _send(app, session) == 1
    assert _send(app, session) == 0
    time_machine.move_to(end + timedelta(hours=5), tick=False)
    with app.app_context():
        assert jobs.feedback() == 0  # the scheduled job itself: nothing new
    (message,) = _feedback_messages(session)
    assert message.key == f"booking:{held['came'].id}:feedback"
    assert message.channel == Channel.SMS and message.address == held["came"].mobile
    assert message.template == "lectures.feedback"
    assert re.search(r"http://localhost/lectures/feedback/\S+", message.body)
    # Attendance typed in later still gets its link, once.
    _attended(session, held["absent"], 1)
    assert _send(app, session) == 1
    assert _send(app, session) == 0


def _link(session) -> str:
    (message,) = _feedback_messages(session)
    return re.search(r"/lectures/feedback/\S+", message.body).group(0)


def test_feedback_once_per_booking(app, session, held, time_machine, organiser):
    time_machine.move_to(held["lecture"].ends_at + timedelta(hours=2), tick=False)
    _send(app, session)
    link = _link(session)
    client = app.test_client()
    page = client.get(link)
    assert page.status_code == 200 and "隔代教育讲座" in page_text(page)
    token = csrf_token(client, link)
    bad = client.post(link, data={"csrf_token": token, "rating": "6", "comment": "好"})
    assert bad.status_code == 422 and 'id="rating-error"' in bad.get_data(as_text=True)
    bad = client.post(link, data={"csrf_token": token, "rating": "5", "topics": ["astrology"]})
    assert bad.status_code == 422
    bad = client.post(link, data={"csrf_token": token, "rating": "5", "comment": "长" * 501})
    assert bad.status_code == 422 and "长" * 501 in bad.get_data(as_text=True)
    good = client.post(
        link,
        data={
            "csrf_token": token,
            "rating": "4",
            "comment": "讲得很实用，希望多讲防溺水。",
            "topics": ["safety", "habits"],
        },
    )
    assert good.status_code == 303
    again = client.post(link, data={"csrf_token": token, "rating": "1", "comment": "再来一次"})
    assert "已经收到" in page_text(again)
    session.expire_all()
    (row,) = session.exec(select(Feedback)).all()
    assert (row.booking_id, row.rating, row.topics_wanted) == (
        held["came"].id,
        4,
        ["safety", "habits"],
    )
    assert "已于" in page_text(client.get(link))
    # The organisers read it on the lecture's page.
    organiser_client = app.test_client()
    login(organiser_client, organiser)
    text = page_text(organiser_client.get(f"/parents-school/manage/{held['lecture'].id}"))
    assert "讲得很实用" in text and "平均4.0分" in text and "安全教育" in text


def test_a_bad_link_is_refused(app, session, held):
    client = app.test_client()
    with app.app_context():
        absent = services.feedback_token(held["absent"].id)  # did not come
        valid = services.feedback_token(held["came"].id)
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps(
        held["came"].id
    )
    for token in ("nonsense", valid[:-2] + "xx", other_salt, absent, "x" * 300):
        assert client.get(f"/lectures/feedback/{token}").status_code == 404, token
    assert client.get(f"/lectures/feedback/{valid}").status_code == 200


# The annual plan ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "term"),
    [
        (date(2026, 1, 31), (2025, "autumn")),
        (date(2026, 2, 1), (2026, "spring")),
        (date(2026, 7, 31), (2026, "spring")),
        (date(2026, 8, 1), (2026, "autumn")),
        (date(2026, 12, 31), (2026, "autumn")),
    ],
)
def test_terms(day, term):
    assert services.term_of(day) == term


def _held(session, when: datetime, **fields):
    return make_lecture(session, starts_at=when, ends_at=when + timedelta(hours=1), **fields)


def _china(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def test_the_plan_counts_each_term(app, session, time_machine):
    time_machine.move_to(_china(2027, 2, 15, 9), tick=False)
    _held(session, _china(2026, 3, 10, 14), walk_ins=12)  # education, spring
    _held(session, _china(2026, 10, 2, 14), walk_ins=3)  # education, autumn (国庆)
    _held(session, _china(2026, 1, 20, 14))  # education, the 2025 autumn term
    _held(session, _china(2026, 5, 10, 9), office="civil_affairs")  # spring only
    _held(session, _china(2026, 11, 1, 9), office="civil_affairs", status="cancelled")
    township = make_user(
        session, role=Role.LECTURE_ORGANISER, office="township", township_code=GUSHI
    )
    _held(
        session,
        _china(2026, 4, 1, 9),
        office="township",
        township_code=GUSHI,
        created_by=township.id,
    )
    _held(
        session,
        _china(2027, 1, 30, 9),
        office="township",
        township_code=GUSHI,
        created_by=township.id,
    )
    county = make_user(session, role=Role.COUNTY_STAFF)
    with app.app_context():
        rows = {r.code: r for r in services.plan(session, county, 2026)}
    assert len(rows) == 4 + 19
    education = rows["education"]
    assert (education.held, education.attendance, education.met) == (2, 15, True)
    civil = rows["civil_affairs"]
    assert (civil.held, civil.spring, civil.autumn, civil.met) == (1, "met", "missed", False)
    assert rows[GUSHI].met and rows[GUSHI].held == 2
    assert rows["331124001"].missed and rows["youth_league"].held == 0

    client = app.test_client()
    login(client, county)
    text = page_text(client.get("/parents-school/plan", query_string={"year": "2026"}))
    assert "教育局" in text and "古市镇" in text
    assert "✓ 达标" in text and "✗ 未达标" in text and "达标：2 / 23" in text
    # An organiser sees their own office only.
    organiser = make_user(session, role=Role.LECTURE_ORGANISER, office="civil_affairs")
    client = app.test_client()
    login(client, organiser)
    text = page_text(client.get("/parents-school/plan", query_string={"year": "2026"}))
    assert "民政局" in text and "教育局" not in text and "未达标" in text
    # In the current plan year the autumn term has not started: not yet, not missed.
    text = page_text(client.get("/parents-school/plan", query_string={"year": "2027"}))
    assert "学期未开始" in text and "尚未完成" in text
    assert client.get("/parents-school/plan", query_string={"year": "abc"}).status_code == 200
