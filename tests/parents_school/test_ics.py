"""Calendar files: one lecture and the feed, valid iCalendar that common apps read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from portal.parents_school import calendar as ics
from portal.parents_school.models import LectureStatus
from tests.parents_school.test_public import GUSHI, make_lecture

LONG = "祖辈带孩子要注意的事情很多，" * 20 + "a;b,c\\d"


def events(body: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def test_a_lecture_file_parses_and_has_its_details_and_two_reminders(client, session):
    talk = make_lecture(
        session, starts_at=datetime(2030, 12, 5, 6, 30, tzinfo=UTC), description=LONG
    )
    response = client.get(f"/lectures/{talk.id}.ics")
    assert response.status_code == 200
    assert response.content_type == "text/calendar; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    (event,) = events(body)
    assert str(event["UID"]) == f"lecture-{talk.id}@localhost"
    assert event.decoded("DTSTART") == datetime(2030, 12, 5, 6, 30, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2030, 12, 5, 8, 0, tzinfo=UTC)
    assert event.decoded("DTSTAMP").tzinfo is not None
    assert str(event["SUMMARY"]) == talk.title
    assert str(event["LOCATION"]) == "西屏街道 城北社区儿童之家"
    description = str(event["DESCRIPTION"])
    assert LONG in description  # escaped, folded and read back whole
    assert "主讲人: 王丽华" in description and f"http://localhost/lectures/{talk.id}" in description
    assert str(event["STATUS"]) == "CONFIRMED"
    alarms = event.walk("VALARM")
    assert sorted(a.decoded("TRIGGER") for a in alarms) == [
        -timedelta(days=1),
        -timedelta(hours=2),
    ]
    assert all(str(a["ACTION"]) == "DISPLAY" and a.get("DESCRIPTION") for a in alarms)


def test_lines_end_with_crlf_and_fold_within_75_octets(client, session):
    talk = make_lecture(session, description=LONG, title="隔代教育" * 20)
    body = client.get(f"/lectures/{talk.id}.ics").get_data()
    assert body.endswith(b"\r\n") and b"\n" not in body.replace(b"\r\n", b"")
    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # long lines were folded
    for line in lines:
        line.decode("utf-8")  # never cut inside a character
    assert body.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")


def test_a_cancelled_lecture_is_marked_cancelled_without_reminders(client, session):
    talk = make_lecture(session, status=LectureStatus.CANCELLED, cancel_reason="主讲人生病。")
    (event,) = events(client.get(f"/lectures/{talk.id}.ics").get_data())
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("已取消")
    assert "主讲人生病" in str(event["DESCRIPTION"])
    assert event.walk("VALARM") == []


def test_the_feed_lists_coming_lectures_and_filters_by_township(client, session):
    xiping = make_lecture(session, title="西屏讲座")
    gushi = make_lecture(session, title="古市讲座", township_code=GUSHI)
    make_lecture(session, title="很久以前的讲座", starts_in=timedelta(days=-90))
    response = client.get("/lectures.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.get_data())
    assert "家长学校" in str(calendar["X-WR-CALNAME"])
    titles = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert titles == {"西屏讲座", "古市讲座"}
    assert all(len(e.walk("VALARM")) == 2 for e in calendar.walk("VEVENT"))
    only = events(client.get(f"/lectures.ics?township={GUSHI}").get_data())
    assert [str(e["SUMMARY"]) for e in only] == ["古市讲座"]
    # The same lecture has the same UID in the feed and in its own file.
    (own,) = events(client.get(f"/lectures/{gushi.id}.ics").get_data())
    assert str(own["UID"]) == str(only[0]["UID"]) != f"lecture-{xiping.id}@localhost"


def test_escape_and_fold_follow_the_rfc():
    assert ics.escape("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    folded = ics.fold("DESCRIPTION:" + "汉" * 40)
    pieces = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in pieces)
    assert "".join(p[1:] if i else p for i, p in enumerate(pieces)) == "DESCRIPTION:" + "汉" * 40
