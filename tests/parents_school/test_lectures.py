"""Organisers manage their office's lectures: the form's rules, scoping, repeating, seats,
changes and cancellation, each told to the guardians and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role
from portal.notify.models import MessageStatus, OutboxMessage
from portal.parents_school.models import Booking, BookingStatus, Lecture, LectureStatus
from portal.timeutil import SHANGHAI, china_today
from tests.conftest import login, make_user, page_text, post
from tests.parents_school.conftest import GUSHI, XIPING, book, lecture_form, make_lecture


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _outbox(session, prefix: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.key.startswith(prefix))))


def _lectures(session) -> list[Lecture]:
    session.expire_all()
    return list(session.exec(select(Lecture).order_by(Lecture.id)))


# Creating ------------------------------------------------------------------------------------


def test_an_organiser_schedules_a_lecture_in_china_time(organiser_client, organiser, session):
    response = organiser_client.get("/parents-school/manage/new")
    assert response.status_code == 200
    assert "隔代教育" in page_text(response)  # topics in Chinese
    response = post(organiser_client, "/parents-school/manage/new", lecture_form())
    assert response.status_code == 303, page_text(response)[:800]
    (lecture,) = _lectures(session)
    day = china_today() + timedelta(days=10)
    assert lecture.starts_at == datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)
    assert lecture.ends_at - lecture.starts_at == timedelta(minutes=90)
    assert (lecture.office, lecture.created_by, lecture.capacity) == ("education", organiser.id, 40)
    assert response.headers["Location"].endswith(f"/parents-school/manage/{lecture.id}")
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "lecture.created")).one()
    assert (entry.target_type, entry.target_id) == ("lecture", str(lecture.id))
    page = page_text(organiser_client.get(f"/parents-school/manage/{lecture.id}"))
    assert "防溺水安全教育" in page and "14:30" in page


PAST = (china_today() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"day": PAST}, "day", "已经过去"),
        ({"day": "1999-05-01"}, "day", "2000"),
        ({"end_time": "14:00"}, "end_time", "结束"),
        ({"end_time": "14:30"}, "end_time", "结束"),
        ({"capacity": "0"}, "capacity", "500"),
        ({"capacity": "501"}, "capacity", "500"),
        ({"capacity": "四十"}, "capacity", "500"),
        ({"topic": "astrology"}, "topic", "主题"),
        ({"township_code": "331124999"}, "township_code", "乡镇"),
        ({"title": "讲" * 81}, "title", "81"),
        ({"venue": ""}, "venue", "填写"),
        ({"speaker_bio": "简" * 301}, "speaker_bio", "300"),
    ],
)
def test_each_bad_input_is_a_field_error_keeping_what_was_typed(
    organiser_client, session, changes, field, message
):
    form = lecture_form(**changes)
    response = post(organiser_client, "/parents-school/manage/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html, page_text(response)[:1500]
    error = html.split(f'id="{field}-error">', 1)[1].split("<", 1)[0]
    if message != "81":
        assert message in error, error
    assert "城北社区文化礼堂" in html or field == "venue"  # typed input kept
    assert _lectures(session) == []


def test_a_time_earlier_today_is_refused(app, organiser, session, time_machine):
    time_machine.move_to(datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI), tick=False)
    organiser_client = _client(app, organiser)
    form = lecture_form(day="2026-12-01", start_time="07:30", end_time="09:00")
    response = post(organiser_client, "/parents-school/manage/new", form)
    assert response.status_code == 422, response.headers.get("Location")
    assert 'id="start_time-error"' in response.get_data(as_text=True)


def test_a_township_organiser_schedules_in_their_township_only(app, session):
    user = make_user(session, role=Role.LECTURE_ORGANISER, office="township", township_code=GUSHI)
    client = _client(app, user)
    assert "西屏街道" not in page_text(client.get("/parents-school/manage/new"))
    response = post(client, "/parents-school/manage/new", lecture_form(township_code=XIPING))
    assert response.status_code == 422
    assert 'id="township_code-error"' in response.get_data(as_text=True)
    assert (
        post(client, "/parents-school/manage/new", lecture_form(township_code=GUSHI)).status_code
        == 303
    )
    (lecture,) = _lectures(session)
    assert (lecture.office, lecture.township_code) == ("township", GUSHI)


# Scoping -----------------------------------------------------------------------------------


def test_another_office_gets_404_and_viewers_cannot_write(app, session, organiser_client):
    mine = make_lecture(session)
    theirs = make_lecture(session, office="womens_federation", title="妇联讲座")
    # Another township's organiser, and a township organiser in the lecture's township but
    # of an office lecture (not theirs).
    for other in (
        make_user(session, role=Role.LECTURE_ORGANISER, office="civil_affairs"),
        make_user(session, role=Role.LECTURE_ORGANISER, office="township", township_code=XIPING),
    ):
        client = _client(app, other)
        for path in (
            "",
            "/edit",
            "/checkin",
            "/sign-in-sheet",
            "/sign-in-sheet.xlsx",
            "/capacity",
            "/cancel",
            "/repeat",
        ):
            assert client.get(f"/parents-school/manage/{mine.id}{path}").status_code == 404, path
        assert (
            post(client, f"/parents-school/manage/{mine.id}/cancel", {"reason": "改期"}).status_code
            == 404
        )
    listing = page_text(organiser_client.get("/parents-school/manage/"))
    assert mine.title in listing and "妇联讲座" not in listing
    assert organiser_client.get(f"/parents-school/manage/{theirs.id}").status_code == 404

    county = _client(app, make_user(session, role=Role.COUNTY_STAFF))
    assert county.get(f"/parents-school/manage/{theirs.id}").status_code == 200
    assert "妇联讲座" in page_text(county.get("/parents-school/manage/"))
    assert county.get(f"/parents-school/manage/{mine.id}/edit").status_code == 403
    assert (
        post(
            county,
            f"/parents-school/manage/{mine.id}/checkin",
            {"walk_ins": "3", "action": "walk_ins"},
        ).status_code
        == 403
    )
    volunteer = _client(app, make_user(session, role=Role.VOLUNTEER))
    assert volunteer.get("/parents-school/manage/").status_code == 403
    assert volunteer.get(f"/parents-school/manage/{mine.id}").status_code == 403
    anonymous = app.test_client().get("/parents-school/manage/")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]


# Repeating ----------------------------------------------------------------------------------


def _repeat_form(rows: list[dict]) -> dict:
    form = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            form[f"rows-{i}-{name}"] = value
    return form


def test_repeat_is_all_or_nothing(organiser_client, session):
    lecture = make_lecture(session)
    good = (china_today() + timedelta(days=20)).isoformat()
    rows = [
        {"township_code": GUSHI, "day": good, "venue": "古市镇中心小学"},
        {"township_code": GUSHI, "day": PAST, "venue": "古市镇中心小学"},
    ]
    path = f"/parents-school/manage/{lecture.id}/repeat"
    response = post(organiser_client, path, _repeat_form(rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="rows-1-day-error"' in html and "古市镇中心小学" in html
    assert len(_lectures(session)) == 1
    # A venue is needed in another township.
    response = post(organiser_client, path, _repeat_form([{"township_code": GUSHI, "day": good}]))
    assert 'id="rows-0-venue-error"' in response.get_data(as_text=True)
    rows[1]["day"] = (china_today() + timedelta(days=27)).isoformat()
    rows.append({"township_code": XIPING, "day": good, "start_time": "09:00", "end_time": "10:30"})
    response = post(organiser_client, path, _repeat_form(rows))
    assert response.status_code == 303, page_text(response)[:1000]
    original, *copies = _lectures(session)
    assert len(copies) == 3
    assert {c.series_id for c in [original, *copies]} == {original.id}
    assert copies[2].venue == original.venue  # same township: the venue is kept
    assert copies[2].starts_at.astimezone(SHANGHAI).strftime("%H:%M") == "09:00"
    assert all(c.title == original.title and c.office == "education" for c in copies)
    assert all(c.seats_taken == 0 and c.status == LectureStatus.SCHEDULED for c in copies)


# Seats -------------------------------------------------------------------------------------


def test_more_seats_promote_the_waiting_list_in_order(app, organiser_client, session):
    lecture = make_lecture(session, capacity=2)
    book(app, session, lecture, 1, seats=2)
    first = book(app, session, lecture, 2, seats=1)
    second = book(app, session, lecture, 3, seats=2)
    third = book(app, session, lecture, 4, seats=1)
    assert {b.status for b in (first, second, third)} == {BookingStatus.WAITLISTED}
    path = f"/parents-school/manage/{lecture.id}/capacity"
    response = post(organiser_client, path, {"capacity": "4"})
    assert response.status_code == 303
    session.expire_all()
    # 1 seat for the first, 2 do not fit for the second: the line stops (nobody jumps it).
    assert session.get(Booking, first.id).status == BookingStatus.CONFIRMED
    assert session.get(Booking, second.id).status == BookingStatus.WAITLISTED
    assert session.get(Booking, third.id).status == BookingStatus.WAITLISTED
    assert session.get(Lecture, lecture.id).seats_taken == 3
    assert _outbox(session, f"booking:{first.id}:promoted")
    response = post(organiser_client, path, {"capacity": "6"})
    session.expire_all()
    assert session.get(Booking, second.id).status == BookingStatus.CONFIRMED
    assert session.get(Booking, third.id).status == BookingStatus.CONFIRMED
    assert session.get(Lecture, lecture.id).seats_taken == 6


def test_fewer_seats_than_booked_are_refused(app, organiser_client, session):
    lecture = make_lecture(session, capacity=5)
    book(app, session, lecture, 1, seats=3)
    path = f"/parents-school/manage/{lecture.id}/capacity"
    for typed in ("2", "0", "501", "many"):
        response = post(organiser_client, path, {"capacity": typed})
        assert response.status_code == 422
        assert 'id="capacity-error"' in response.get_data(as_text=True)
    assert "3" in page_text(post(organiser_client, path, {"capacity": "2"}))
    session.expire_all()
    assert session.get(Lecture, lecture.id).capacity == 5
    assert post(organiser_client, path, {"capacity": "3"}).status_code == 303
    session.expire_all()
    assert session.get(Lecture, lecture.id).capacity == 3
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "lecture.capacity")).one()
    assert entry.detail["old"] == 5 and entry.detail["new"] == 3


# Changing and cancelling -----------------------------------------------------------------------


def _form_of(lecture, **changes) -> dict:
    starts = lecture.starts_at.astimezone(SHANGHAI)
    ends = lecture.ends_at.astimezone(SHANGHAI)
    form = lecture_form(
        title=lecture.title,
        topic=lecture.topic,
        speaker=lecture.speaker,
        venue=lecture.venue,
        township_code=lecture.township_code,
        day=starts.date().isoformat(),
        start_time=f"{starts:%H:%M}",
        end_time=f"{ends:%H:%M}",
        capacity=str(lecture.capacity),
    )
    form.update(changes)
    return form


def test_a_new_time_is_told_and_reminders_follow(app, organiser_client, session):
    lecture = make_lecture(session, capacity=1)
    booked = book(app, session, lecture, 1)
    waiting = book(app, session, lecture, 2)
    (reminder,) = _outbox(session, f"booking:{booked.id}:reminder:")
    later = (lecture.starts_at + timedelta(days=2)).astimezone(SHANGHAI).date().isoformat()
    path = f"/parents-school/manage/{lecture.id}/edit"
    assert organiser_client.get(path).status_code == 200
    response = post(organiser_client, path, _form_of(lecture, day=later, venue="城北社区文化礼堂"))
    assert response.status_code == 303, page_text(response)[:1000]
    for b in (booked, waiting):
        (told,) = _outbox(session, f"booking:{b.id}:changed:")
        assert "城北社区文化礼堂" in told.body
    reminders = _outbox(session, f"booking:{booked.id}:reminder:")
    assert {m.status for m in reminders} == {MessageStatus.CANCELLED, MessageStatus.PENDING}
    (pending,) = [m for m in reminders if m.status == MessageStatus.PENDING]
    session.expire_all()
    moved = session.get(Lecture, lecture.id)
    assert pending.due_at == moved.starts_at - timedelta(hours=24)
    assert "城北社区文化礼堂" in pending.body
    assert not _outbox(session, f"booking:{waiting.id}:reminder:")
    # A change of the description alone tells nobody.
    response = post(organiser_client, path, _form_of(moved, description="新的说明"))
    assert response.status_code == 303
    assert len(_outbox(session, f"booking:{booked.id}:changed:")) == 1
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.target_type == "lecture")
    ).all()
    assert actions.count("lecture.changed") == 2


def test_cancelling_tells_everyone_and_cancels_bookings(app, organiser_client, session):
    lecture = make_lecture(session, capacity=1)
    booked = book(app, session, lecture, 1)
    waiting = book(app, session, lecture, 2)
    path = f"/parents-school/manage/{lecture.id}/cancel"
    page = organiser_client.get(path)
    assert page.status_code == 200 and "2" in page_text(page)
    response = post(organiser_client, path, {"reason": ""})
    assert response.status_code == 422 and 'id="reason-error"' in response.get_data(as_text=True)
    response = post(organiser_client, path, {"reason": "主讲老师生病，讲座改期"})
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Lecture, lecture.id).status == LectureStatus.CANCELLED
    for b in (booked, waiting):
        assert session.get(Booking, b.id).status == BookingStatus.CANCELLED
        (told,) = _outbox(session, f"booking:{b.id}:lecture-cancelled")
        assert "主讲老师生病" in told.body and told.address == b.mobile
    assert {m.status for m in _outbox(session, f"booking:{booked.id}:reminder:")} == {
        MessageStatus.CANCELLED
    }
    assert session.get(Lecture, lecture.id).seats_taken == 0
    # Nothing more can change.
    assert post(organiser_client, path, {"reason": "再次取消"}).status_code == 303
    assert (
        post(
            organiser_client, f"/parents-school/manage/{lecture.id}/capacity", {"capacity": "9"}
        ).status_code
        == 303
    )
    session.expire_all()
    assert session.get(Lecture, lecture.id).capacity == 1
