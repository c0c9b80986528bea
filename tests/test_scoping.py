"""Role and township helpers every later area uses (security.md 9)."""

import pytest
from sqlmodel import select
from werkzeug.exceptions import NotFound

from portal.auth.models import Role, User
from portal.security import ensure_township, scope_query, township_scope
from tests.conftest import make_user


def test_township_scope_by_role(session):
    assert township_scope(make_user(session, role=Role.ADMIN)) is None
    assert township_scope(make_user(session, role=Role.COUNTY_STAFF)) is None
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124205")
    assert township_scope(staff) == "331124205"
    # Roles without a township see no township's records through a scoped query.
    assert township_scope(make_user(session, role=Role.VOLUNTEER)) == "-"


def test_scope_query_filters_to_the_staff_members_township(session):
    xiping = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124001")
    gushi = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124101")
    county = make_user(session, role=Role.COUNTY_STAFF)
    statement = select(User).where(User.role == Role.TOWNSHIP_STAFF)

    def seen(user):
        return {u.id for u in session.exec(scope_query(statement, User.township_code, user))}

    assert seen(xiping) == {xiping.id}
    assert seen(gushi) == {gushi.id}
    assert seen(county) == {xiping.id, gushi.id}


def test_another_townships_record_answers_404(app, session):
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124001")
    county = make_user(session, role=Role.COUNTY_STAFF)
    with app.test_request_context("/"):
        ensure_township(staff, "331124001")
        ensure_township(county, "331124101")
        with pytest.raises(NotFound):
            ensure_township(staff, "331124101")
