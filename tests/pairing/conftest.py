"""Helpers for the pairing area's tests: a child's record and township staff."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from portal.auth.models import Role, User
from portal.pairing import children
from portal.pairing.models import Child
from portal.timeutil import china_today
from tests.conftest import login, make_user

XIPING = "331124001"
GUSHI = "331124101"


def _registrar(session) -> int:
    """The account recorded as having created test children (one per test database)."""
    user = session.exec(select(User).where(User.name == "登记员")).first()
    if user is None:
        user = make_user(session, role=Role.COUNTY_STAFF, name="登记员")
    return user.id


def make_child(session, township: str = XIPING, **overrides) -> Child:
    """A child's record written directly (committed); nine years old unless told otherwise."""
    today = china_today()
    fields = dict(
        name="李小花",
        sex="F",
        birth_date=date(today.year - 9, 3, 15),
        township_code=township,
        village="城北社区",
        guardian_name="李奶奶",
        guardian_relation="grandparent",
        guardian_phone="13800000000",
        needs=["study"],
        consent_by="李奶奶",
        consent_relation="grandparent",
        consent_on=today - timedelta(days=3),
        consent_method="written",
        consent_to_pairing=True,
    )
    fields.update(overrides)
    fields.setdefault("code", children.next_code(session, today.year))
    fields.setdefault("created_by", _registrar(session))
    child = Child(**fields)
    session.add(child)
    session.commit()
    return child


@pytest.fixture()
def township_staff(session):
    return make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏督导")


@pytest.fixture()
def township_client(app, township_staff):
    c = app.test_client()
    login(c, township_staff)
    return c


@pytest.fixture()
def county_staff(session):
    return make_user(session, role=Role.COUNTY_STAFF, name="县妇联")


@pytest.fixture()
def county_client(app, county_staff):
    c = app.test_client()
    login(c, county_staff)
    return c
