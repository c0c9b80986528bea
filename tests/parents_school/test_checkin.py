"""Check-in at the door: find a booking by code, mobile or name, record the seats that came,
count walk-ins; the sign-in sheet on paper and in Excel."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role
from portal.parents_school.models import Booking, Lecture
from portal.timeutil import utcnow
from tests.conftest import login, make_user, page_text, post
from tests.parents_school.conftest import book, make_lecture


def _soon(session, **fields) -> Lecture:
    """A lecture starting in an hour: check-in is open."""
    starts = utcnow().replace(microsecond=0) + timedelta(hours=1)
    return make_lecture(session, starts_at=starts, ends_at=starts + timedelta(minutes=90), **fields)


def _path(lecture) -> str:
    return f"/parents-school/manage/{lecture.id}/checkin"


def test_find_a_booking_by_code_mobile_or_name(app, session, organiser_client):
    lecture = _soon(session)
    zhang = book(app, session, lecture, 1, name="张桂英", seats=2)
    book(app, session, lecture, 2, name="李建国", relation="father")
    page = organiser_client.get(_path(lecture))
    assert page.status_code == 200
    assert 'name="q"' in page.get_data(as_text=True) and "autofocus" in page.get_data(as_text=True)
    for query in (zhang.code, zhang.code.lower(), "13700000001", "137 0000 0001", "0001", "桂英"):
        text = page_text(organiser_client.get(_path(lecture), query_string={"q": query}))
        assert "张桂英" in text and "李建国" not in text, query
    assert "李建国" in page_text(organiser_client.get(_path(lecture), query_string={"q": "李"}))
    text = page_text(organiser_client.get(_path(lecture), query_string={"q": "王"}))
    assert "没有找到" in text
    # The mobile is shown masked at the door.
    assert "13700000001" not in text
    # htmx asks for the panel only.
    partial = organiser_client.get(
        _path(lecture), query_string={"q": zhang.code}, headers={"HX-Request": "true"}
    )
    html = partial.get_data(as_text=True)
    assert partial.status_code == 200 and "<html" not in html and 'id="panel"' in html


def test_attendance_per_seat_within_the_booking(app, session, organiser_client):
    lecture = _soon(session)
    two = book(app, session, lecture, 1, seats=2)
    for typed in ("3", "-1", "两"):
        response = post(organiser_client, _path(lecture), {"booking_id": two.id, "attended": typed})
        assert response.status_code == 422, typed
        assert "0至2" in page_text(response)
    response = post(organiser_client, _path(lecture), {"booking_id": two.id, "attended": "2"})
    assert response.status_code == 303
    session.expire_all()
    row = session.get(Booking, two.id)
    assert row.attended == 2 and row.checked_in_at is not None
    assert "2 人到场" in page_text(organiser_client.get(_path(lecture))).replace(
        "2人到场", "2 人到场"
    )
    post(organiser_client, _path(lecture), {"booking_id": two.id, "attended": "1"})
    session.expire_all()
    assert session.get(Booking, two.id).attended == 1
    post(organiser_client, _path(lecture), {"booking_id": two.id, "attended": "0"})
    session.expire_all()
    assert session.get(Booking, two.id).attended == 0
    assert session.get(Booking, two.id).checked_in_at is None
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.target_type == "lecture")
    ).all()
    assert actions.count("lecture.attendance") == 3


def test_waiting_and_other_lectures_bookings_are_not_checked_in(app, session, organiser_client):
    lecture = _soon(session, capacity=1)
    book(app, session, lecture, 1)
    waiting = book(app, session, lecture, 2)
    other = book(app, session, _soon(session), 3)
    for booking in (waiting, other):
        response = post(
            organiser_client, _path(lecture), {"booking_id": booking.id, "attended": "1"}
        )
        assert response.status_code == 422
    session.expire_all()
    assert session.get(Booking, waiting.id).attended == 0
    assert session.get(Booking, other.id).attended == 0


def test_walk_ins_are_counted(app, session, organiser_client):
    lecture = _soon(session)
    booked = book(app, session, lecture, 1, seats=3)
    for typed in ("-2", "501", "很多"):
        response = post(organiser_client, _path(lecture), {"action": "walk_ins", "walk_ins": typed})
        assert response.status_code == 422
        assert 'id="walk_ins-error"' in response.get_data(as_text=True)
    assert (
        post(organiser_client, _path(lecture), {"action": "walk_ins", "walk_ins": "７"}).status_code
        == 303
    )
    post(organiser_client, _path(lecture), {"booking_id": booked.id, "attended": "3"})
    session.expire_all()
    assert session.get(Lecture, lecture.id).walk_ins == 7
    text = page_text(organiser_client.get(_path(lecture)))
    assert "10 人到场" in text.replace("10人到场", "10 人到场")
    assert "7人未预约" in text


def test_check_in_opens_two_hours_before(app, session, organiser_client):
    lecture = make_lecture(session)  # in three days
    booked = book(app, session, lecture, 1)
    response = post(organiser_client, _path(lecture), {"booking_id": booked.id, "attended": "1"})
    assert response.status_code == 422 and "两小时" in page_text(response)
    session.expire_all()
    assert session.get(Booking, booked.id).attended == 0


def test_county_staff_read_the_check_in_but_do_not_record(app, session):
    lecture = _soon(session)
    booked = book(app, session, lecture, 1)
    client = app.test_client()
    login(client, make_user(session, role=Role.COUNTY_STAFF))
    text = page_text(client.get(_path(lecture), query_string={"q": booked.code}))
    assert "签到由讲座主办方记录" in text
    response = post(client, _path(lecture), {"booking_id": booked.id, "attended": "1"})
    assert response.status_code == 403


def test_the_sign_in_sheet_has_the_domain_columns(app, session, organiser_client):
    lecture = _soon(session)
    book(app, session, lecture, 1, name="张桂英", village='=HYPERLINK("http://x")', seats=2)
    book(app, session, lecture, 2, name="李建国", relation="father", village="城北社区")
    response = organiser_client.get(f"/parents-school/manage/{lecture.id}/sign-in-sheet.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "no-store" in response.headers["Cache-Control"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[2] == ["序号", "姓名", "与儿童的关系", "村（社区）", "联系电话", "座位数", "签名"]
    people = {row[1]: row for row in rows[3:] if row[1]}
    assert people["李建国"][2] == "父亲" or people["李建国"][2].startswith("父")
    assert people["李建国"][3:6] == ["城北社区", "13700000002", 1]
    # Text stays text: a village typed like a formula is not a formula.
    cell = sheet.cell(row=[r[1] for r in rows].index("张桂英") + 1, column=4)
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
    assert len(rows) >= 3 + 2 + 10  # blank rows for walk-ins
    assert session.exec(
        select(AuditEntry).where(AuditEntry.action == "lecture.sign_in_sheet")
    ).first()
    page = organiser_client.get(f"/parents-school/manage/{lecture.id}/sign-in-sheet")
    text = page_text(page)
    assert all(
        word in text
        for word in ("签到表", "姓名", "与儿童的关系", "村（社区）", "联系电话", "签名")
    )
    assert "13700000002" in text
