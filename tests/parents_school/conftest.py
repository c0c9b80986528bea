"""Helpers for the parents' school tests: an organiser, their client, and a lecture."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from portal.auth.models import Role
from portal.parents_school.models import Lecture
from portal.timeutil import SHANGHAI, china_today
from tests.conftest import login, make_user

XIPING = "331124001"
GUSHI = "331124101"


@pytest.fixture()
def organiser(session):
    """A lecture organiser of the Education Bureau (教育局)."""
    return make_user(session, role=Role.LECTURE_ORGANISER, office="education", name="教育局组织者")


@pytest.fixture()
def organiser_client(app, organiser):
    client = app.test_client()
    login(client, organiser)
    return client


def make_lecture(session, **overrides) -> Lecture:
    """A scheduled lecture written directly (committed): three days ahead, 14:30-16:00 China
    time, 5 seats, the Education Bureau's in 西屏街道 unless told otherwise.

    At a fixed time of day: starting at the test's own time, a lecture begun after 22:30 in China
    would end the next day, which the lecture form refuses.
    """
    starts = overrides.pop("starts_at", None) or datetime.combine(
        china_today() + timedelta(days=3), time(14, 30), tzinfo=SHANGHAI
    ).astimezone(UTC)
    fields = dict(
        title="隔代教育讲座",
        topic="skipped_generation",
        speaker="王老师",
        township_code=XIPING,
        venue="城北社区儿童之家",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=90),
        capacity=5,
        office="education",
    )
    fields.update(overrides)
    if "created_by" not in fields:
        fields["created_by"] = make_user(
            session, role=Role.LECTURE_ORGANISER, office=fields["office"], name="讲座创建者"
        ).id
    lecture = Lecture(**fields)
    session.add(lecture)
    session.commit()
    return lecture


def lecture_form(**changes) -> dict:
    """What an organiser types for a new lecture: ten days ahead, 14:30-16:00 China time."""
    from portal.timeutil import china_today

    form = {
        "title": "防溺水安全教育",
        "topic": "safety",
        "speaker": "李医生",
        "speaker_bio": "县人民医院急诊科医生",
        "township_code": XIPING,
        "venue": "城北社区文化礼堂",
        "day": (china_today() + timedelta(days=10)).isoformat(),
        "start_time": "14:30",
        "end_time": "16:00",
        "capacity": "40",
        "audience": "祖父母",
        "description": "暑期前的防溺水讲座。",
    }
    form.update(changes)
    return form


def guardian(n: int, **overrides) -> dict:
    """A guardian's booking form (for `booking.book`)."""
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


def book(app, session, lecture, n: int, **overrides):
    """A booking made through the booking rules (committed)."""
    from portal.parents_school import booking

    with app.app_context():
        outcome = booking.book(session, lecture.id, guardian(n, **overrides))
    session.commit()
    return outcome.booking
