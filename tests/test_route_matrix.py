"""Every route × every role (security.md 8), generated from app.url_map.

A route added later is covered automatically: it must declare its access with @public,
@login_required or @roles_required, or this test fails.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel
from werkzeug.routing.converters import NumberConverter

from portal.auth.models import Role
from portal.security import AUTHENTICATED, PUBLIC
from tests.conftest import csrf_token, login, make_user

ANONYMOUS = "anonymous"
OTHER_TOWNSHIP = "township_staff_other"
PROFILES = [ANONYMOUS, *[r.value for r in Role], OTHER_TOWNSHIP]
SKIP = {"static"}
# Run last: logging out would end the session the walk depends on.
LAST = {"auth.logout"}


def _routes(app):
    adapter = app.url_map.bind("localhost")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP]
    rules.sort(key=lambda r: (r.endpoint in LAST, r.rule))
    for rule in rules:
        values = {
            arg: 1 if isinstance(rule._converters.get(arg), NumberConverter) else "x"
            for arg in rule.arguments
        }
        url = adapter.build(rule.endpoint, values)
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule.endpoint, method, url


def _access(app, endpoint):
    view = app.view_functions[endpoint]
    access = getattr(view, "access", None)
    assert access is not None, (
        f"{endpoint} declares no access (@public, @login_required or @roles_required)"
    )
    return access


def _allowed(access, profile) -> bool:
    if access == PUBLIC:
        return True
    if profile == ANONYMOUS:
        return False
    if access == AUTHENTICATED:
        return True
    role = Role.TOWNSHIP_STAFF if profile == OTHER_TOWNSHIP else Role(profile)
    return role in access


def test_every_route_declares_its_access(app):
    endpoints = {endpoint for endpoint, _m, _u in _routes(app)}
    assert len(endpoints) >= 15
    for endpoint in endpoints:
        _access(app, endpoint)


@pytest.mark.parametrize("profile", PROFILES)
def test_route_matrix(app, session, profile):
    client = app.test_client()
    if profile != ANONYMOUS:
        role = Role.TOWNSHIP_STAFF if profile == OTHER_TOWNSHIP else Role(profile)
        township = "331124101" if profile == OTHER_TOWNSHIP else None
        login(client, make_user(session, role=role, township_code=township))
    failures = []
    for endpoint, method, url in _routes(app):
        access = _access(app, endpoint)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": csrf_token(client)})
        status = response.status_code
        to_login = status in (302, 303) and "/auth/login" in response.headers.get("Location", "")
        if _allowed(access, profile):
            if status in (401, 403) or to_login:
                failures.append(f"{profile} {method} {url}: allowed but got {status}")
            if status >= 500:
                failures.append(f"{profile} {method} {url}: server error {status}")
            if method == "GET":
                # The same page asked for by htmx (a fragment where the view has one).
                partial = client.get(url, headers={"HX-Request": "true"}).status_code
                if partial >= 500 or partial in (401, 403):
                    failures.append(f"{profile} GET {url} (htmx): got {partial}")
        elif profile == ANONYMOUS:
            if not to_login:
                failures.append(f"{method} {url}: anonymous should go to login, got {status}")
            partial = (
                client.get(url, headers={"HX-Request": "true"})
                if method == "GET"
                else client.post(
                    url, data={"csrf_token": csrf_token(client)}, headers={"HX-Request": "true"}
                )
            )
            if partial.status_code != 401 or "/auth/login" not in partial.headers.get(
                "HX-Redirect", ""
            ):
                failures.append(f"{method} {url}: htmx partial should get 401 + HX-Redirect")
        elif status != 403:
            failures.append(f"{profile} {method} {url}: should be 403, got {status}")
    assert not failures, "\n".join(failures)


def _row_counts(session) -> dict[str, int]:
    counts = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in {"audit_entry", "login_throttle"}:
            continue
        counts[table.name] = session.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


def test_no_get_changes_state(app, session):
    client = app.test_client()
    login(client, make_user(session, role=Role.ADMIN))
    before = _row_counts(session)
    session.commit()
    for _endpoint, method, url in _routes(app):
        if method == "GET":
            client.get(url)
    session.expire_all()
    assert _row_counts(session) == before
