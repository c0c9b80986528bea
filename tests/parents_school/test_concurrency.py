"""Forty guardians book ten seats at the same moment through a real HTTP server.

The portal runs in a threaded werkzeug server on a scratch database (a SQLite file, or a
database of its own on the PostgreSQL server when TEST_DATABASE_URL is set). Each guardian is
a browser of its own: it opens the booking form (its cookie and CSRF token), waits for the
others, and then all forty send the form at once.
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from werkzeug.serving import make_server

from portal.auth.models import Role
from portal.parents_school import booking
from portal.parents_school.models import Booking, BookingStatus, Lecture
from portal.timeutil import utcnow
from tests.conftest import make_user, reset_schema

XIPING = "331124001"
GUARDIANS = 40
SEATS = 10
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture()
def server(scratch_database, new_app, tmp_path) -> Iterator[tuple[str, object]]:
    reset_schema(scratch_database)
    app = new_app(
        scratch_database,
        PORTAL_SEARCH_DIR=str(tmp_path / "search"),
        PORTAL_UPLOAD_DIR=str(tmp_path / "uploads"),
        PORTAL_BOOKING_RATE_LIMIT="1000 per hour",  # every guardian comes from 127.0.0.1
    )
    live = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=live.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{live.server_port}", app
    finally:
        live.shutdown()
        thread.join(5)
        live.server_close()


def make_lecture(app, capacity: int) -> int:
    with Session(app.extensions["portal_db"].engine, expire_on_commit=False) as s:
        organiser = make_user(s, role=Role.LECTURE_ORGANISER, office="education", name="组织者")
        starts = utcnow().replace(microsecond=0) + timedelta(days=3)
        lecture = Lecture(
            title="隔代教育讲座",
            topic="skipped_generation",
            speaker="王老师",
            township_code=XIPING,
            venue="城北社区儿童之家",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=90),
            capacity=capacity,
            office="education",
            created_by=organiser.id,
        )
        s.add(lecture)
        s.commit()
        return lecture.id


def test_forty_guardians_booking_ten_seats_at_once(server):
    base, app = server
    lecture_id = make_lecture(app, SEATS)
    url = f"{base}/lectures/{lecture_id}/book"
    barrier = threading.Barrier(GUARDIANS, timeout=60)
    statuses: dict[int, int] = {}
    errors: list[BaseException] = []

    def guardian(n: int) -> None:
        try:
            browser = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
            )
            browser.addheaders = [("Accept-Language", "zh-CN")]
            form = browser.open(url, timeout=60).read().decode()
            token = CSRF_RE.search(form).group(1)
            data = urllib.parse.urlencode(
                {
                    "csrf_token": token,
                    "name": "张奶奶",
                    "mobile": f"137{n:08d}",
                    "relation": "grandparent",
                    "township_code": XIPING,
                    "village": "城北社区",
                    "seats": "1",
                }
            ).encode()
            barrier.wait()
            try:
                status = browser.open(url, data=data, timeout=60).status
            except urllib.error.HTTPError as answer:  # the 303 to the booking page, not followed
                status = answer.code
            statuses[n] = status
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=guardian, args=(n,)) for n in range(GUARDIANS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(statuses) == list(range(GUARDIANS))
    assert set(statuses.values()) == {303}  # every one was booked and sent to the booking page

    with Session(app.extensions["portal_db"].engine) as s:
        rows = s.exec(select(Booking).where(Booking.lecture_id == lecture_id)).all()
        lecture = s.get(Lecture, lecture_id)
        confirmed = [r for r in rows if r.status == BookingStatus.CONFIRMED]
        waiting = [r for r in rows if r.status == BookingStatus.WAITLISTED]
        positions = sorted(booking.waitlist_position(s, r) for r in waiting)
    assert len(rows) == GUARDIANS
    assert len({r.mobile for r in rows}) == GUARDIANS
    assert len(confirmed) == SEATS
    assert len(waiting) == GUARDIANS - SEATS
    assert positions == list(range(1, GUARDIANS - SEATS + 1))
    assert lecture.seats_taken == SEATS == sum(r.seats for r in confirmed)
