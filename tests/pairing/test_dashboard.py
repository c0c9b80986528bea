"""The pairing dashboards and the public overview: per township, children waiting, active
pairings, overdue visits and expiring checks; county staff see every township with a chart and
totals, township staff their own, other roles nothing; the public sees counts only, cached under
the pairing and volunteers content versions."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import select

from portal import cache
from portal.auth.models import Role
from portal.extensions import db
from portal.pairing import dashboard
from portal.pairing.models import ChildStatus, Pairing, PairingStatus, Visit, VisitStatus
from portal.places import Township
from portal.timeutil import SHANGHAI, china_today
from portal.volunteers.models import Status
from tests.conftest import login, make_user
from tests.pairing.conftest import GUSHI, XIPING, make_child
from tests.volunteers.conftest import make_volunteer

TODAY = china_today()
_numbers = iter(range(1, 10_000))


# Helpers ------------------------------------------------------------------------------------


def _volunteer(app, session, *, township: str = XIPING, status=Status.ACTIVE, expires=None):
    with app.test_request_context():
        volunteer = make_volunteer(session, next(_numbers), township_code=township)
    volunteer.status = status
    if status in (Status.VERIFIED, Status.ACTIVE) or expires is not None:
        volunteer.check_date = TODAY - timedelta(days=10)
        volunteer.check_expires = expires or volunteer.check_date + timedelta(days=365)
    session.add(volunteer)
    session.commit()
    return volunteer


def _pairing(
    app, session, child, *, status=PairingStatus.ACTIVE, activated_on=None, volunteer=None
) -> Pairing:
    volunteer = volunteer or _volunteer(app, session, township=child.township_code)
    if status == PairingStatus.ACTIVE and activated_on is None:
        activated_on = TODAY - timedelta(days=5)
    pairing = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=child.township_code,
        status=status,
        activated_on=activated_on,
        created_by=child.created_by,
    )
    session.add(pairing)
    session.commit()
    return pairing


def _visit(session, pairing, visited_on: date, status=VisitStatus.LOGGED) -> Visit:
    visit = Visit(pairing_id=pairing.id, visited_on=visited_on, mode="home", minutes=60)
    visit.status = status
    session.add(visit)
    session.commit()
    return visit


def _row(session, user, township: str = XIPING, **kwargs) -> dashboard.Figures:
    rows = {r.township: r for r in dashboard.figures(session, user, **kwargs)}
    return rows[township]


def _counts(row: dashboard.Figures) -> tuple[int, int, int, int]:
    return (row.waiting, row.active, row.overdue, row.expiring)


def _chart(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="pairing-chart">(.*?)</script>', html)
    assert match, "no chart figures on the page"
    return json.loads(match.group(1))


def _cells(html: str, section: str) -> list[list[str]]:
    """The rows of the table's tbody or tfoot, each as its cells' text."""
    body = re.search(rf"<{section}>(.*?)</{section}>", html, flags=re.S)
    assert body, f"no {section}"
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr)
        ]
        for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1), flags=re.S)
    ]


def _client(app, session, role: Role, **fields):
    client = app.test_client()
    login(client, make_user(session, role=role, **fields))
    return client


# The figures ---------------------------------------------------------------------------------


def test_children_waiting_and_active_pairings_per_township(app, session, county_staff):
    make_child(session)  # waiting
    suggested = make_child(session)  # a suggestion is not a pairing yet: still waiting
    _pairing(app, session, suggested, status=PairingStatus.SUGGESTED, activated_on=None)
    proposed = make_child(session)  # proposed to a volunteer: no longer waiting, not active
    _pairing(app, session, proposed, status=PairingStatus.PROPOSED)
    _pairing(app, session, make_child(session))  # active
    closed = make_child(session)  # the pairing closed: waiting again
    _pairing(app, session, closed, status=PairingStatus.CLOSED, activated_on=TODAY)
    make_child(session, status=ChildStatus.LEFT, left_on=TODAY)  # left the programme
    make_child(session, township=GUSHI)
    _pairing(app, session, make_child(session, township=GUSHI))
    _pairing(app, session, make_child(session, township=GUSHI))

    assert _counts(_row(session, county_staff, XIPING))[:2] == (3, 1)
    assert _counts(_row(session, county_staff, GUSHI))[:2] == (1, 2)


def test_a_visit_is_overdue_thirty_days_after_activation_or_the_last_visit(
    app, session, county_staff
):
    pairing = _pairing(app, session, make_child(session), activated_on=TODAY)

    def overdue(days: int) -> int:
        return _row(session, county_staff, today=TODAY + timedelta(days=days)).overdue

    assert (overdue(0), overdue(29), overdue(30), overdue(45)) == (0, 0, 1, 1)
    _visit(session, pairing, TODAY + timedelta(days=20))  # logged, not yet confirmed: counts
    assert (overdue(30), overdue(49), overdue(50)) == (0, 0, 1)
    _visit(session, pairing, TODAY + timedelta(days=40), VisitStatus.CONFIRMED)
    assert (overdue(50), overdue(69), overdue(70)) == (0, 0, 1)
    # A visit returned for correction does not count until it is sent again.
    _visit(session, pairing, TODAY + timedelta(days=65), VisitStatus.RETURNED)
    assert overdue(70) == 1


def test_only_active_pairings_can_be_overdue(app, session, county_staff):
    long_ago = TODAY - timedelta(days=90)
    _pairing(app, session, make_child(session), status=PairingStatus.CLOSED, activated_on=long_ago)
    _pairing(app, session, make_child(session), status=PairingStatus.AWAITING_CONSENT)
    _pairing(app, session, make_child(session, township=GUSHI), activated_on=long_ago)
    assert _row(session, county_staff, XIPING).overdue == 0
    assert _row(session, county_staff, GUSHI).overdue == 1


def test_checks_expiring_within_thirty_days_or_expired(app, session, county_staff):
    _volunteer(app, session, expires=TODAY + timedelta(days=30))  # the last day of the window
    _volunteer(app, session, expires=TODAY - timedelta(days=1))  # expired, still on duty
    _volunteer(app, session, status=Status.VERIFIED, expires=TODAY + timedelta(days=7))
    _volunteer(app, session, expires=TODAY + timedelta(days=31))  # not yet
    _volunteer(app, session, status=Status.SUSPENDED, expires=TODAY + timedelta(days=3))
    _volunteer(app, session, status=Status.WITHDRAWN, expires=TODAY - timedelta(days=3))
    _volunteer(app, session, status=Status.APPLIED)  # no check at all
    _volunteer(app, session, township=GUSHI, expires=TODAY + timedelta(days=2))
    assert _row(session, county_staff, XIPING).expiring == 3
    assert _row(session, county_staff, GUSHI).expiring == 1
    # A day later the check valid for 31 more days enters the window.
    assert _row(session, county_staff, today=TODAY + timedelta(days=1)).expiring == 4


def test_county_staff_see_every_township_and_township_staff_their_own(
    app, session, county_staff, township_staff
):
    make_child(session)
    make_child(session, township=GUSHI)
    codes = [t.code for t in session.exec(select(Township).order_by(Township.code))]
    assert [r.township for r in dashboard.figures(session, county_staff)] == codes
    assert [r.township for r in dashboard.figures(session, township_staff)] == [XIPING]


# The pages -----------------------------------------------------------------------------------


def _arrange_two_townships(app, session) -> None:
    """西屏街道: 2 waiting, 1 active and overdue, 1 check expiring; 古市镇: 1 waiting, 1 active."""
    make_child(session)
    make_child(session)
    _pairing(app, session, make_child(session), activated_on=TODAY - timedelta(days=40))
    _volunteer(app, session, expires=TODAY + timedelta(days=10))
    make_child(session, township=GUSHI)
    _pairing(app, session, make_child(session, township=GUSHI))


def test_the_county_dashboard_has_the_chart_figures_the_table_and_totals(
    app, session, county_client
):
    _arrange_two_townships(app, session)
    townships = session.exec(select(Township).order_by(Township.code)).all()
    names = {t.code: t.name for t in townships}

    response = county_client.get("/pairing/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="chart"' in html and "echarts" in html

    chart = _chart(html)
    assert chart["kind"] == "bar"
    assert chart["labels"] == [t.name for t in townships]
    series = {s["name"]: s["values"] for s in chart["series"]}
    assert list(series) == ["待结对儿童", "帮扶中的结对", "逾期未走访", "核查即将到期"]
    at = {t.code: i for i, t in enumerate(townships)}
    assert [v[at[XIPING]] for v in series.values()] == [2, 1, 1, 1]
    assert [v[at[GUSHI]] for v in series.values()] == [1, 1, 0, 0]
    assert sum(series["待结对儿童"]) == 3

    rows = _cells(html, "tbody")
    assert [r[0] for r in rows] == [t.name for t in townships]
    assert rows[at[XIPING]] == [names[XIPING], "2", "1", "1", "1"]
    assert rows[at[GUSHI]] == [names[GUSHI], "1", "1", "0", "0"]
    assert _cells(html, "tfoot") == [["全部乡镇（街道）", "3", "2", "1", "1"]]
    assert "各乡镇（街道）情况" in html


def test_township_staff_see_their_township_only_without_the_chart(app, session, township_client):
    _arrange_two_townships(app, session)
    gushi = session.get(Township, GUSHI).name

    response = township_client.get("/pairing/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="pairing-chart"' not in html and 'class="chart"' not in html
    assert "<tfoot>" not in html
    rows = _cells(html, "tbody")
    assert rows == [[session.get(Township, XIPING).name, "2", "1", "1", "1"]]
    assert gushi not in html
    assert "本乡镇（街道）" in html


@pytest.mark.parametrize(
    "role", sorted(set(Role) - {Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN})
)
def test_other_roles_are_refused(app, session, role):
    client = _client(app, session, Role(role))
    assert client.get("/pairing/dashboard").status_code == 403


def test_an_admin_sees_the_county_dashboard(app, session):
    make_child(session, township=GUSHI)
    client = _client(app, session, Role.ADMIN)
    html = client.get("/pairing/dashboard").get_data(as_text=True)
    assert _cells(html, "tfoot") == [["全部乡镇（街道）", "1", "0", "0", "0"]]
    assert 'id="pairing-chart"' in html


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/pairing/dashboard")
    assert response.status_code in (302, 303)
    assert "/auth/login" in response.headers["Location"]


def test_the_page_shows_overdue_pairings_once_thirty_days_have_passed(app, session, time_machine):
    _pairing(app, session, make_child(session), activated_on=TODAY)
    noon = datetime.combine(TODAY, time(12), tzinfo=SHANGHAI)

    def overdue_cell(days: int) -> str:
        time_machine.move_to(noon + timedelta(days=days), tick=False)
        client = _client(app, session, Role.TOWNSHIP_STAFF, township_code=XIPING)
        (row,) = _cells(client.get("/pairing/dashboard").get_data(as_text=True), "tbody")
        return row[3]

    assert overdue_cell(29) == "0"
    assert overdue_cell(30) == "1"


# The public overview --------------------------------------------------------------------------


def _overview(client) -> str:
    response = client.get("/pairing/overview")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _bump(app, area: str) -> None:
    with app.app_context(), db.transaction() as s:
        cache.bump(s, area)


def _now_line(active: int, townships: int, children: int) -> str:
    return f"目前：{townships} 个乡镇（街道）共有 {active} 对帮扶中的结对，在册儿童 {children} 名。"


def test_the_public_overview_shows_counts_and_never_a_child(app, session, client):
    a = make_child(session, name="王小明", guardian_phone="13911112222")
    b = make_child(session, name="赵春燕", township=GUSHI)
    make_child(session, name="钱多多")
    make_child(session, name="孙离开", status=ChildStatus.LEFT, left_on=TODAY)
    _pairing(app, session, a)
    _pairing(app, session, b)
    html = _overview(client)
    assert _now_line(active=2, townships=2, children=3) in html
    for child in (a, b):
        assert child.code not in html and child.guardian_phone not in html
    for name in ("王小明", "小明", "赵春燕", "春燕", "钱多多", "孙离开", "李奶奶"):
        assert name not in html


def test_the_overview_is_cached_until_pairing_or_volunteers_change(app, session, client):
    _pairing(app, session, make_child(session))
    # Signing a volunteer up bumps the volunteers version: the second one signs up first.
    second = _volunteer(app, session, township=GUSHI)
    first = client.get("/pairing/overview")
    assert "public" in first.headers["Cache-Control"]
    assert _now_line(active=1, townships=1, children=1) in first.get_data(as_text=True)

    # Written without a service (no version bump): the cached page is served.
    _pairing(app, session, make_child(session, township=GUSHI), volunteer=second)
    assert _overview(client) == first.get_data(as_text=True)
    _bump(app, "publicity")  # another area's change keeps the page
    assert _overview(client) == first.get_data(as_text=True)

    _bump(app, "pairing")
    assert _now_line(active=2, townships=2, children=2) in _overview(client)

    make_child(session)
    assert _now_line(active=2, townships=2, children=2) in _overview(client)
    _bump(app, "volunteers")
    assert _now_line(active=2, townships=2, children=3) in _overview(client)


def test_a_logged_in_visitor_gets_the_overview_fresh(app, session, client, township_client):
    _overview(client)  # cached for anonymous visitors
    make_child(session)
    assert _now_line(active=0, townships=0, children=1) in _overview(township_client)
    assert _now_line(active=0, townships=0, children=0) in _overview(client)
