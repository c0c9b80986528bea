"""Helpers for the volunteers area's tests: well-formed identities and a signed-up volunteer."""

from __future__ import annotations

from datetime import date

import pytest

from portal.volunteers import services
from portal.volunteers.idnumber import make_resident_id

XIPING = "331124001"
GUSHI = "331124101"
PASSWORD = "correct horse battery"


def signup_data(n: int = 1, **overrides) -> dict:
    """A complete sign-up as the form sends it (n makes the ID number and mobile unique)."""
    data = {
        "name": "王小明",
        "id_type": "resident_id",
        "id_number": make_resident_id("331124", date(1985, 6, 15), 10 + 2 * n),
        "mobile": f"139{n:08d}",
        "township_code": XIPING,
        "village": "城北社区",
        "political_status": "13",
        "category": "social",
        "skills": ["tutoring"],
        "availability": ["weekend"],
        "employer": "",
        "ethnicity": "汉族",
    }
    data.update(overrides)
    return data


def make_volunteer(session, n: int = 1, **overrides):
    """A volunteer signed up through the service (committed)."""
    volunteer = services.sign_up(
        session, signup_data(n, **overrides), password=PASSWORD, consent=True
    )
    session.commit()
    return volunteer


@pytest.fixture()
def volunteer(app, session):
    with app.test_request_context():
        return make_volunteer(session)
