"""Service hours: star levels, activities staff enter, visits credited once, voided records."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role
from portal.core.domain import DomainError
from portal.timeutil import china_today
from portal.volunteers import hours
from portal.volunteers.models import ServiceRecord
from tests.conftest import login, make_user, page_text, post
from tests.volunteers.conftest import GUSHI, PASSWORD, make_volunteer

# Star levels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "stars"),
    [
        (0, 0),
        (100 * 60 - 6, 0),  # 99.9 hours
        (100 * 60, 1),
        (300 * 60 - 6, 1),
        (300 * 60, 2),
        (600 * 60 - 6, 2),
        (600 * 60, 3),
        (1000 * 60 - 6, 3),
        (1000 * 60, 4),
        (1500 * 60 - 6, 4),
        (1500 * 60, 5),
        (5000 * 60, 5),
    ],
)
def test_star_level_at_each_threshold(minutes, stars):
    assert hours.star_level(minutes) == stars


def test_next_star_and_hours_text():
    assert hours.next_star_hours(0) == 100
    assert hours.next_star_hours(100 * 60) == 300
    assert hours.next_star_hours(1500 * 60) is None
    assert [hours.format_hours(m) for m in (60, 90, 20, 6, 6000)] == [
        "1",
        "1.5",
        "0.3",
        "0.1",
        "100",
    ]


# Parsing the duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed_hours", "typed_minutes", "minutes"),
    [
        ("1.5", "", 90),
        ("2", "", 120),
        (".5", "", 30),
        ("24", "", 1440),
        ("", "45", 45),
        ("１.５", "", 90),
    ],
)
def test_duration_from_hours_or_minutes(typed_hours, typed_minutes, minutes):
    assert hours.parse_duration(typed_hours, typed_minutes) == minutes


@pytest.mark.parametrize(
    ("typed_hours", "typed_minutes", "field"),
    [
        ("0", "", "hours"),
        ("25", "", "hours"),
        ("24.1", "", "hours"),
        ("1.25", "", "hours"),
        ("-1", "", "hours"),
        ("abc", "", "hours"),
        ("", "", "hours"),
        ("", "0", "minutes"),
        ("", "1441", "minutes"),
        ("", "1.5", "minutes"),
        ("1", "30", "minutes"),
    ],
)
def test_bad_durations_name_their_field(typed_hours, typed_minutes, field):
    with pytest.raises(DomainError) as caught:
        hours.parse_duration(typed_hours, typed_minutes)
    assert caught.value.field == field


# Activities through the staff page ----------------------------------------------------------------


def _staff(session, **fields):
    return make_user(session, role=Role.TOWNSHIP_STAFF, **fields)


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _volunteer(app, session, n=1, **overrides):
    with app.test_request_context():
        return make_volunteer(session, n, **overrides)


def _activity(**changes) -> dict:
    form = {
        "served_on": (china_today() - timedelta(days=1)).isoformat(),
        "hours": "1.5",
        "minutes": "",
        "content": "暑期课业辅导",
    }
    form.update(changes)
    return form


def test_staff_record_an_activity_in_hours(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    client = _signed_in(app, staff)
    url = f"/volunteers/staff/{volunteer.id}/hours"
    page = client.get(url)
    assert page.status_code == 200 and "暂无服务记录" in page_text(page)
    response = post(client, url, _activity())
    assert response.status_code == 303
    record = session.exec(
        select(ServiceRecord).where(ServiceRecord.volunteer_id == volunteer.id)
    ).one()
    assert (record.minutes, record.kind, record.entered_by) == (90, "activity", staff.id)
    assert session.exec(
        select(AuditEntry).where(AuditEntry.action == "volunteer.hours_added")
    ).first()
    text = page_text(client.get(url))
    assert "暑期课业辅导" in text and "1.5" in text


def test_an_activity_in_minutes_is_stored_in_whole_minutes(app, session):
    volunteer = _volunteer(app, session)
    client = _signed_in(app, _staff(session))
    response = post(
        client, f"/volunteers/staff/{volunteer.id}/hours", _activity(hours="", minutes="45")
    )
    assert response.status_code == 303
    assert hours.total_minutes(session, volunteer.id) == 45


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"served_on": (china_today() + timedelta(days=1)).isoformat()},
            "served_on",
            "不能晚于今天",
        ),
        ({"served_on": "1999-12-31"}, "served_on", "2000"),
        ({"hours": "0"}, "hours", "1 分钟到 24 小时"),
        ({"hours": "25"}, "hours", "1 分钟到 24 小时"),
        ({"hours": "1.25"}, "hours", "一位小数"),
        ({"hours": ""}, "hours", "请填写小时数"),
        ({"content": ""}, "content", "请说明服务内容"),
        ({"content": "辅" * 201}, "content", "最多 200 个字"),
    ],
)
def test_bad_activities_are_field_errors_that_keep_what_was_typed(
    app, session, changes, field, words
):
    volunteer = _volunteer(app, session)
    client = _signed_in(app, _staff(session))
    form = _activity(**changes)
    response = post(client, f"/volunteers/staff/{volunteer.id}/hours", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html).group(1)
    assert words in error
    if field != "content":
        assert "暑期课业辅导" in html  # what was typed stays
    assert hours.total_minutes(session, volunteer.id) == 0


def test_a_withdrawn_volunteer_gets_no_new_hours(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    volunteer.status = "withdrawn"
    session.add(volunteer)
    session.commit()
    with pytest.raises(DomainError):
        hours.add_activity(
            session,
            volunteer,
            actor=staff,
            served_on=china_today(),
            minutes=60,
            content="活动",
        )


# Visits -------------------------------------------------------------------------------------------


def test_credit_visit_twice_credits_once(app, session):
    volunteer = _volunteer(app, session)
    day = china_today() - timedelta(days=2)
    first = hours.credit_visit(
        session,
        volunteer_id=volunteer.id,
        visit_id=7,
        served_on=day,
        minutes=60,
        content="入户走访",
    )
    again = hours.credit_visit(
        session,
        volunteer_id=volunteer.id,
        visit_id=7,
        served_on=day,
        minutes=90,
        content="入户走访",
    )
    session.commit()
    assert again.id == first.id and first.source_key == "visit:7" and first.kind == "visit"
    assert hours.total_minutes(session, volunteer.id) == 60
    hours.credit_visit(
        session, volunteer_id=volunteer.id, visit_id=8, served_on=day, minutes=30, content="电话"
    )
    assert hours.total_minutes(session, volunteer.id) == 90


def test_credit_visit_refuses_bad_minutes_before_writing(app, session):
    volunteer = _volunteer(app, session)
    for minutes in (0, 24 * 60 + 1):
        with pytest.raises(DomainError):
            hours.credit_visit(
                session,
                volunteer_id=volunteer.id,
                visit_id=9,
                served_on=china_today(),
                minutes=minutes,
                content="走访",
            )
    assert session.exec(select(ServiceRecord)).first() is None


# Voiding --------------------------------------------------------------------------------------------


def test_voided_records_are_kept_but_not_counted(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    day = china_today() - timedelta(days=3)
    keep = hours.add_activity(
        session, volunteer, actor=staff, served_on=day, minutes=120, content="活动一"
    )
    wrong = hours.add_activity(
        session, volunteer, actor=staff, served_on=day, minutes=60, content="录错了"
    )
    session.commit()
    client = _signed_in(app, staff)
    url = f"/volunteers/staff/{volunteer.id}/hours/{wrong.id}/void"
    confirm = client.get(url)
    assert confirm.status_code == 200 and "录错了" in page_text(confirm)
    refused = post(client, url, {"reason": ""})
    assert refused.status_code == 422 and 'id="reason-error"' in refused.get_data(as_text=True)
    assert post(client, url, {"reason": "重复录入"}).status_code == 303
    session.expire_all()
    voided = session.get(ServiceRecord, wrong.id)
    assert voided is not None and voided.voided_at is not None
    assert (voided.void_reason, voided.voided_by) == ("重复录入", staff.id)
    assert hours.total_minutes(session, volunteer.id) == keep.minutes
    assert hours.summary(session, volunteer).minutes == 120
    with pytest.raises(DomainError):
        hours.void_record(session, voided, actor=staff, reason="again")


def test_a_record_of_another_volunteer_is_not_found(app, session):
    one = _volunteer(app, session, 1)
    two = _volunteer(app, session, 2)
    staff = _staff(session)
    record = hours.add_activity(
        session, two, actor=staff, served_on=china_today(), minutes=30, content="活动"
    )
    session.commit()
    client = _signed_in(app, staff)
    assert client.get(f"/volunteers/staff/{one.id}/hours/{record.id}/void").status_code == 404


# Scope and the dashboard ------------------------------------------------------------------------------


def test_staff_of_another_township_get_404(app, session):
    volunteer = _volunteer(app, session)
    own = _staff(session)
    record = hours.add_activity(
        session, volunteer, actor=own, served_on=china_today(), minutes=30, content="活动"
    )
    session.commit()
    other = _signed_in(app, _staff(session, township_code=GUSHI))
    base = f"/volunteers/staff/{volunteer.id}"
    for url in (f"{base}/hours", f"{base}/hours/{record.id}/void", f"{base}/certificates/new"):
        assert other.get(url).status_code == 404, url
    assert post(other, f"{base}/hours", _activity()).status_code == 404
    assert hours.total_minutes(session, volunteer.id) == 30
    county = _signed_in(app, make_user(session, role=Role.COUNTY_STAFF))
    assert county.get(f"{base}/hours").status_code == 200


def test_the_volunteer_sees_hours_and_stars_on_the_dashboard(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    hours.add_activity(
        session, volunteer, actor=staff, served_on=china_today(), minutes=90, content="读书会"
    )
    hours.credit_visit(
        session,
        volunteer_id=volunteer.id,
        visit_id=1,
        served_on=china_today() - timedelta(days=1),
        minutes=60,
        content="入户走访",
    )
    session.commit()
    client = app.test_client()
    post(client, "/auth/login", {"login": f"139{1:08d}", "password": PASSWORD})
    text = page_text(client.get("/volunteers/me"))
    assert "2.5" in text and "读书会" in text and "入户走访" in text


def test_hours_page_lists_records_in_pages(app, session):
    app.config["PORTAL_PAGE_SIZE"], size = 2, app.config["PORTAL_PAGE_SIZE"]
    try:
        volunteer = _volunteer(app, session)
        staff = _staff(session)
        for n in range(3):
            hours.add_activity(
                session,
                volunteer,
                actor=staff,
                served_on=date(2026, 1, 1) + timedelta(days=n),
                minutes=30,
                content=f"活动{n}",
            )
        session.commit()
        client = _signed_in(app, staff)
        first = page_text(client.get(f"/volunteers/staff/{volunteer.id}/hours"))
        second = page_text(client.get(f"/volunteers/staff/{volunteer.id}/hours?page=2"))
        assert "活动2" in first and "活动0" not in first
        assert "活动0" in second
    finally:
        app.config["PORTAL_PAGE_SIZE"] = size
