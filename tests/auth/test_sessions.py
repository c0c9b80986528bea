"""Sessions (security.md 4-7): new session on login, cookie flags, revocation, timeouts, re-auth."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask

from portal.auth.models import Role
from tests.conftest import PASSWORD, login, make_user, page_text, post


def _logged_in(client) -> bool:
    return 'action="/auth/logout"' in client.get("/").get_data(as_text=True)


def test_login_starts_a_new_session(client, session):
    user = make_user(session)
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    login(client, user)
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"] == f"{user.id}:{user.session_version}"


def test_cookie_flags(client, session):
    user = make_user(session)
    response = login(client, user, remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", remember).group(1))
    assert timedelta(days=14) - timedelta(minutes=1) < expires - datetime.now(UTC)
    assert expires - datetime.now(UTC) <= timedelta(days=14)


def test_cookies_are_secure_when_configured(db_url, new_app):
    app = new_app(db_url)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    secure = new_app(db_url, SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    response = secure.test_client().get("/auth/login", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


def test_staff_get_no_remember_me_cookie(client, session):
    staff = make_user(session, role=Role.COUNTY_STAFF)
    response = login(client, staff, remember="y")
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))


def test_logout_ends_every_session_and_copied_cookies(app: Flask, session):
    user = make_user(session)
    phone, laptop = app.test_client(), app.test_client()
    login(phone, user)
    login(laptop, user)
    stolen = phone.get_cookie("session").value
    post(phone, "/auth/logout")
    assert not _logged_in(phone)
    assert not _logged_in(laptop)
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert not _logged_in(thief)


def test_logout_is_post_only(client, session):
    login(client, make_user(session))
    assert client.get("/auth/logout").status_code == 405
    assert _logged_in(client)


def test_password_change_ends_other_sessions_but_keeps_this_one(app: Flask, session):
    user = make_user(session)
    mine, other = app.test_client(), app.test_client()
    login(mine, user)
    login(other, user)
    response = post(
        mine,
        "/auth/password",
        {"current": PASSWORD, "new": "a brand new phrase", "confirm": "a brand new phrase"},
    )
    assert response.status_code == 303
    assert _logged_in(mine)
    assert not _logged_in(other)
    fresh = app.test_client()
    post(fresh, "/auth/login", {"login": user.phone, "password": "a brand new phrase"})
    assert _logged_in(fresh)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"current": "wrong one!", "new": "a brand new phrase", "confirm": "a brand new phrase"},
            "当前密码不正确",
        ),
        ({"current": PASSWORD, "new": "short", "confirm": "short"}, "至少需要 8 个字符"),
        ({"current": PASSWORD, "new": "password", "confirm": "password"}, "太常见"),
        ({"current": PASSWORD, "new": "a brand new phrase", "confirm": "another phrase"}, "不一致"),
        ({"current": "", "new": "", "confirm": ""}, "请填写当前密码"),
    ],
)
def test_password_change_errors_are_clear(client, session, form, message):
    login(client, make_user(session))
    response = post(client, "/auth/password", form)
    assert response.status_code == 200
    assert message in page_text(response)


def test_remember_me_cookie_is_refused_after_logout(app: Flask, session):
    user = make_user(session)
    device = app.test_client()
    login(device, user, remember="y")
    token = device.get_cookie("remember_token").value
    # Another device logs out: the remember cookie dies with the session version.
    other = app.test_client()
    login(other, user)
    post(other, "/auth/logout")
    restored = app.test_client()
    restored.set_cookie("remember_token", token)
    assert not _logged_in(restored)


def test_remember_me_restores_a_volunteer_session(app: Flask, session):
    user = make_user(session)
    device = app.test_client()
    login(device, user, remember="y")
    token = device.get_cookie("remember_token").value
    restored = app.test_client()
    restored.set_cookie("remember_token", token)
    assert _logged_in(restored)


def test_staff_idle_timeout_is_thirty_minutes(client, session, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    login(client, make_user(session, role=Role.COUNTY_STAFF))
    time_machine.shift(timedelta(minutes=29))
    assert _logged_in(client)
    time_machine.shift(timedelta(minutes=29))
    assert _logged_in(client)  # activity resets the idle clock
    time_machine.shift(timedelta(minutes=31))
    response = client.get("/")
    # The request that finds the session too old ends it and says so on the page it answers.
    assert "您的登录已过期，请重新登录。" in page_text(response)
    assert 'action="/auth/logout"' not in response.get_data(as_text=True)
    assert not _logged_in(client)


def test_staff_absolute_timeout_is_twelve_hours(client, session, time_machine):
    time_machine.move_to("2026-11-29T00:00:00+00:00", tick=False)
    login(client, make_user(session, role=Role.TOWNSHIP_STAFF))
    for _ in range(12 * 3 - 1):
        time_machine.shift(timedelta(minutes=20))
        assert _logged_in(client)
    time_machine.shift(timedelta(minutes=21))
    assert not _logged_in(client)


def test_volunteers_have_no_idle_timeout(client, session, time_machine):
    time_machine.move_to("2026-11-29T00:00:00+00:00", tick=False)
    login(client, make_user(session, role=Role.VOLUNTEER))
    time_machine.shift(timedelta(hours=2))
    assert _logged_in(client)


def test_disabling_an_account_ends_its_sessions(app: Flask, session):
    admin = make_user(session, role=Role.ADMIN)
    user = make_user(session, role=Role.EDITOR)
    admin_client, user_client = app.test_client(), app.test_client()
    login(admin_client, admin)
    login(user_client, user)
    response = post(admin_client, f"/admin/users/{user.id}/active", {"active": "0"})
    assert response.status_code == 303
    assert not _logged_in(user_client)


def test_sensitive_actions_ask_for_the_password_after_fifteen_minutes(
    client, session, time_machine
):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    admin = make_user(session, role=Role.ADMIN)
    login(client, admin)
    assert client.get("/admin/users/new").status_code == 200
    time_machine.shift(timedelta(minutes=16))
    response = client.get("/admin/users/new")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/auth/reauth?next=/admin/users/new")
    wrong = post(client, "/auth/reauth?next=/admin/users/new", {"password": "not it at all"})
    assert "密码不正确" in page_text(wrong)
    ok = post(client, "/auth/reauth?next=/admin/users/new", {"password": PASSWORD})
    assert ok.headers["Location"] == "/admin/users/new"
    assert client.get("/admin/users/new").status_code == 200


def test_sensitive_post_after_timeout_returns_to_the_form_page(client, session, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    admin = make_user(session, role=Role.ADMIN)
    target = make_user(session, role=Role.EDITOR)
    login(client, admin)
    time_machine.shift(timedelta(minutes=16))
    response = post(
        client,
        f"/admin/users/{target.id}/active",
        {"active": "0"},
        headers={"Referer": f"http://localhost/admin/users/{target.id}"},
    )
    assert response.headers["Location"] == f"/auth/reauth?next=/admin/users/{target.id}"
    session.expire_all()
    assert session.get(type(target), target.id).is_active
