"""Booking a seat without an account, and finding or cancelling it with the code and mobile.

A booking is never readable from an address alone: the answer page shows the booking this
browser was given (right after booking, or after the code and mobile were typed)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from portal.notify.models import MessageStatus, OutboxMessage
from portal.parents_school.models import Booking, BookingStatus, Lecture, LectureStatus
from tests.conftest import csrf_token, page_text
from tests.parents_school.test_public import GUSHI, XIPING, book_directly, guardian, make_lecture

CODE_RE = re.compile(r'<strong class="code">([A-Z0-9]{8})</strong>')


def send(client, lecture: Lecture, data: dict, **kwargs):
    form = {"csrf_token": csrf_token(client, f"/lectures/{lecture.id}/book"), **data}
    return client.post(f"/lectures/{lecture.id}/book", data=form, **kwargs)


def find(client, code: str, mobile: str):
    form = {
        "csrf_token": csrf_token(client, "/lectures/my-booking"),
        "code": code,
        "mobile": mobile,
    }
    return client.post("/lectures/my-booking", data=form)


def live(session, lecture: Lecture) -> list[Booking]:
    session.expire_all()
    return list(
        session.exec(
            select(Booking)
            .where(Booking.lecture_id == lecture.id, Booking.status != BookingStatus.CANCELLED)
            .order_by(Booking.id)
        )
    )


# Booking --------------------------------------------------------------------------------------


def test_booking_form_is_a_plain_form_prefilled_with_the_lecture_township(client, session):
    talk = make_lecture(session, township_code=GUSHI)
    response = client.get(f"/lectures/{talk.id}/book")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'method="post" action="/lectures/{talk.id}/book"' in html
    assert f'<option selected value="{GUSHI}">' in html
    for relation in ("父亲", "母亲", "其他受委托监护人"):
        assert relation in page_text(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_confirmed_booking_shows_its_code_large_with_a_qr_code(client, session):
    talk = make_lecture(session, capacity=5)
    response = send(client, talk, guardian(1, seats="2"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/lectures/booking"
    page = client.get("/lectures/booking")
    html, text = page.get_data(as_text=True), page_text(page)
    (row,) = live(session, talk)
    assert row.status == BookingStatus.CONFIRMED and row.seats == 2
    assert row.name == "张秀英" and row.township_code == XIPING and row.village == "城北社区"
    assert "预约成功" in text and "您的 2 个座位已确认" in text
    assert CODE_RE.search(html).group(1) == row.code
    qr = re.search(r'<img class="qr" src="(data:image/svg\+xml[^"]+)"', html)
    assert qr is not None and 'alt="预约码 ' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert row.code not in page.request.url
    # Said once: the page seen again is "your booking".
    assert "我的预约" in page_text(client.get("/lectures/booking"))
    session.refresh(talk)
    assert talk.seats_taken == 2
    assert session.exec(
        select(OutboxMessage).where(OutboxMessage.key == f"booking:{row.id}:booked")
    ).one()


def test_the_qr_code_holds_the_booking_code(app, session):
    import segno

    from portal.parents_school.public_views import qr_data_uri

    uri = qr_data_uri("ACEF3479")
    assert uri.startswith("data:image/svg+xml")
    # The same QR symbol as segno makes for the code (what a check-in scanner reads back).
    assert segno.make("ACEF3479", error="m", micro=False).svg_data_uri(scale=8, border=2) == uri


def test_a_full_lecture_puts_bookings_on_the_waiting_list_with_their_position(app, client, session):
    talk = make_lecture(session, capacity=1)
    book_directly(app, session, talk, 1)
    assert send(client, talk, guardian(2)).status_code == 303
    text = page_text(client.get("/lectures/booking"))
    assert "您已进入候补名单" in text and "候补名单第 1 位" in text
    other = app.test_client()
    assert send(other, talk, guardian(3, seats="2")).status_code == 303
    assert "候补名单第 2 位" in page_text(other.get("/lectures/booking"))
    assert [b.status for b in live(session, talk)] == [
        BookingStatus.CONFIRMED,
        BookingStatus.WAITLISTED,
        BookingStatus.WAITLISTED,
    ]


def test_the_same_mobile_booking_again_is_told_it_has_booked_and_nothing_leaks(
    app, client, session
):
    talk = make_lecture(session)
    first = book_directly(app, session, talk, 1)
    response = send(client, talk, guardian(1, name="李四", seats="3"))
    text, html = page_text(response), response.get_data(as_text=True)
    assert response.status_code == 200
    assert "您已经预约过这场讲座" in text and "座位已确认" in text
    # Whoever types a known mobile learns neither the code nor the guardian's details.
    assert first.booking.code not in html and "张秀英" not in html and "城北社区" not in html
    assert len(live(session, talk)) == 1
    assert client.get("/lectures/booking").status_code == 303  # nothing held for this browser


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "请填写监护人姓名"),
        ({"name": "<script>alert(1)</script>"}, "name", "姓名"),
        ({"mobile": "12345"}, "mobile", "手机号"),
        ({"mobile": ""}, "mobile", "手机号"),
        ({"township_code": "999999999"}, "township_code", "乡镇"),
        ({"seats": "0"}, "seats", "3"),
        ({"seats": "4"}, "seats", "3"),
        ({"seats": "很多"}, "seats", "3"),
        ({"relation": "neighbour"}, "relation", "关系"),
        ({"village": ""}, "village", "村"),
        ({"for_someone_else": "y", "booked_by": ""}, "booked_by", "姓名"),
    ],
)
def test_every_bad_input_is_a_chinese_field_error_keeping_what_was_typed(
    client, session, changes, field, message
):
    talk = make_lecture(session)
    data = guardian(5, **{"village": "城北社区𠮷", **changes})
    response = send(client, talk, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field}(-0)?-error">([^<]+)</p>', html)
    assert error is not None, html[html.find("error-summary") :][:1500]
    assert message in error.group(2)
    assert re.search(r"[\u4e00-\u9fff]", error.group(2))  # in Chinese
    if field != "name":
        assert 'value="张秀英"' in html
    if field != "mobile":
        assert f'value="{data["mobile"]}"' in html
    if field != "village":
        assert "城北社区𠮷" in html
    assert "&lt;script&gt;" in html or "<script>alert" not in html
    assert live(session, talk) == []


@pytest.mark.parametrize(
    ("lecture_fields", "message"),
    [
        ({"starts_in": timedelta(hours=-1)}, "已经开始"),
        ({"status": LectureStatus.CANCELLED}, "已取消"),
    ],
)
def test_a_past_or_cancelled_lecture_cannot_be_booked(client, session, lecture_fields, message):
    talk = make_lecture(session, **lecture_fields)
    page = page_text(client.get(f"/lectures/{talk.id}/book"))
    assert message in page and "姓名" not in page  # no form to fill in
    form = {"csrf_token": csrf_token(client), **guardian(1)}
    response = client.post(f"/lectures/{talk.id}/book", data=form)
    assert response.status_code == 422 and message in page_text(response)
    assert live(session, talk) == []


def test_an_unknown_lecture_is_not_found(client):
    assert client.get("/lectures/999999/book").status_code == 404


def test_booking_for_someone_else_records_the_booker(client, session):
    talk = make_lecture(session)
    data = guardian(1, for_someone_else="y", booked_by="周主任")
    assert send(client, talk, data).status_code == 303
    (row,) = live(session, talk)
    assert row.for_someone_else and row.booked_by == "周主任"
    assert "周主任" in page_text(client.get("/lectures/booking"))


def test_a_missing_csrf_token_is_refused_and_the_rules_still_speak(client, session):
    talk = make_lecture(session)
    client.get(f"/lectures/{talk.id}/book")
    response = client.post(f"/lectures/{talk.id}/book", data=guardian(1, mobile="1"))
    assert response.status_code in (400, 422)
    assert live(session, talk) == []


def test_booking_posts_are_rate_limited_per_address(app, client, session, monkeypatch):
    talk = make_lecture(session)
    monkeypatch.setitem(app.config, "PORTAL_BOOKING_RATE_LIMIT", "2 per hour")
    codes = [send(client, talk, guardian(n, mobile="1")).status_code for n in range(3)]
    assert codes == [422, 422, 429]


# Finding and cancelling a booking ------------------------------------------------------------


def test_no_booking_is_readable_from_an_address_alone(app, client, session):
    talk = make_lecture(session)
    row = book_directly(app, session, talk, 1).booking
    stranger = app.test_client()
    for path in (
        "/lectures/booking",
        f"/lectures/booking?code={row.code}",
        f"/lectures/my-booking?code={row.code}",
        f"/lectures/bookings/{row.code}",
        "/lectures/booking/cancel",
    ):
        response = stranger.get(path, follow_redirects=True)
        html = response.get_data(as_text=True)
        assert "张秀英" not in html and "城北社区" not in html, path
        assert f'<strong class="code">{row.code}' not in html
        assert "13700000001" not in html


def test_a_wrong_code_or_mobile_reveals_nothing_and_says_the_same(app, client, session):
    talk = make_lecture(session)
    row = book_directly(app, session, talk, 1).booking
    answers = []
    for code, mobile in (
        (row.code, "13799999999"),  # the right code, another mobile
        ("ACEFHJKM" if row.code != "ACEFHJKM" else "ACEFHJKN", row.mobile),  # a wrong code
        ("", ""),
        ("<b>x</b>", "abc"),
    ):
        response = find(client, code, mobile)
        assert response.status_code == 422
        text = page_text(response)
        assert "张秀英" not in text and "城北社区" not in text
        answers.append(text.split("查询或取消我的预约", 2)[-1][:80])
    assert "没有找到与这个预约码和手机号相符的预约" in answers[0]
    assert len(set(answers)) == 1
    assert client.get("/lectures/booking").status_code == 303


def test_the_right_code_and_mobile_show_the_booking(app, client, session):
    talk = make_lecture(session)
    row = book_directly(app, session, talk, 1).booking
    response = find(client, row.code.lower()[:4] + " " + row.code.lower()[4:], "137-0000-0001")
    assert response.status_code == 303 and response.headers["Location"] == "/lectures/booking"
    page = client.get("/lectures/booking")
    html = page.get_data(as_text=True)
    assert CODE_RE.search(html).group(1) == row.code
    assert "张秀英" in page_text(page) and 'class="qr"' in html
    assert "/lectures/booking/cancel" in html


def test_cancelling_asks_first_then_promotes_the_first_waiting(app, client, session):
    talk = make_lecture(session, capacity=1)
    mine = book_directly(app, session, talk, 1).booking
    first_waiting = book_directly(app, session, talk, 2).booking
    book_directly(app, session, talk, 3)
    find(client, mine.code, mine.mobile)
    question = client.get("/lectures/booking/cancel")
    assert question.status_code == 200 and "确定取消这个预约吗" in page_text(question)
    assert live(session, talk)[0].status == BookingStatus.CONFIRMED  # asking changes nothing
    form = {"csrf_token": csrf_token(client, "/lectures/booking/cancel")}
    done = client.post("/lectures/booking/cancel", data=form)
    assert done.status_code == 303
    after = page_text(client.get("/lectures/booking"))
    assert "您的预约已取消" in after and "这个预约已取消" in after
    session.expire_all()
    assert session.get(Booking, mine.id).status == BookingStatus.CANCELLED
    promoted = session.get(Booking, first_waiting.id)
    assert promoted.status == BookingStatus.CONFIRMED
    message = session.exec(
        select(OutboxMessage).where(OutboxMessage.key == f"booking:{promoted.id}:promoted")
    ).one()
    assert message.status != MessageStatus.CANCELLED
    assert message.address == promoted.mobile
    # Cancelling twice is refused without harm.
    again = client.post("/lectures/booking/cancel", data=form)
    assert again.status_code == 303
    assert "已经取消" in page_text(client.get("/lectures/booking"))


def test_a_shared_phone_can_stop_showing_the_booking(app, client, session):
    talk = make_lecture(session)
    row = book_directly(app, session, talk, 1).booking
    find(client, row.code, row.mobile)
    form = {"csrf_token": csrf_token(client, "/lectures/booking")}
    assert client.post("/lectures/booking/forget", data=form).status_code == 303
    assert client.get("/lectures/booking").status_code == 303


def test_finding_a_booking_is_rate_limited(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_BOOKING_RATE_LIMIT", "2 per hour")
    codes = [find(client, "ACEFHJKM", "13700000001").status_code for _ in range(3)]
    assert codes == [422, 422, 429]
