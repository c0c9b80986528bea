"""Township scoping for services (security.md 9): the kernel's helpers every area uses."""

import pytest
from sqlmodel import select

from portal.auth.models import Role, User
from portal.core.domain import NotFound
from portal.core.scoping import Scope, check_township, scope_query, township_scope
from tests.conftest import make_user


def test_township_scope_by_role(session):
    assert township_scope(make_user(session, role=Role.ADMIN)) == Scope(everywhere=True)
    assert township_scope(make_user(session, role=Role.COUNTY_STAFF)) == Scope(everywhere=True)
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124205")
    assert township_scope(staff) == Scope(township="331124205")
    # Roles without a township see no township's records through a scoped query.
    assert township_scope(make_user(session, role=Role.VOLUNTEER)) == Scope()


def test_scope_query_filters_to_the_staff_members_township(session):
    xiping = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124001")
    gushi = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124101")
    county = make_user(session, role=Role.COUNTY_STAFF)
    volunteer = make_user(session, role=Role.VOLUNTEER)
    statement = select(User).where(User.role == Role.TOWNSHIP_STAFF)

    def seen(user):
        return {u.id for u in session.exec(scope_query(statement, User.township_code, user))}

    assert seen(xiping) == {xiping.id}
    assert seen(gushi) == {gushi.id}
    assert seen(county) == {xiping.id, gushi.id}
    assert seen(volunteer) == set()


def test_another_townships_record_is_not_found(session):
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124001")
    county = make_user(session, role=Role.COUNTY_STAFF)
    check_township(staff, "331124001")
    check_township(county, "331124101")
    with pytest.raises(NotFound) as raised:
        check_township(staff, "331124101")
    assert raised.value.detail == {"reason": "township", "township": "331124101"}
    with pytest.raises(NotFound):
        check_township(make_user(session, role=Role.VOLUNTEER), "331124001")
