"""Sessions (security.md 4-7): new session on login, cookie flags, revocation, timeouts, re-auth."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask
from flask_login.utils import encode_cookie

from portal.auth.models import Role
from portal.config import load_config
from tests.conftest import PASSWORD, login, make_user, page_text, post


def _logged_in(client) -> bool:
    return 'action="/auth/logout"' in client.get("/").get_data(as_text=True)


def test_login_starts_a_new_session(client, session, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    user = make_user(session)
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    login(client, user)
    with client.session_transaction() as s:
        assert "planted" not in s
        issued = int(datetime(2026, 11, 29, 2, tzinfo=UTC).timestamp())
        assert s["_user_id"] == f"{user.id}:{user.session_version}:{issued}"


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


# Remember-me lasts 14 days on the server too (security.md 4) -----------------------------------

DAY0 = "2026-11-29T02:00:00+00:00"


def _remember_cookie(app: Flask, user) -> str:
    device = app.test_client()
    login(device, user, remember="y")
    return device.get_cookie("remember_token").value


def _replay(app: Flask, cookie: str):
    """A browser holding nothing but the remember-me cookie asks for a members' page."""
    browser = app.test_client()
    browser.set_cookie("remember_token", cookie)
    return browser, browser.get("/auth/password")


def _deletes_remember_cookie(response) -> bool:
    return any(
        c.startswith("remember_token=;") and "Expires=Thu, 01 Jan 1970" in c
        for c in response.headers.getlist("Set-Cookie")
    )


@pytest.mark.parametrize(("days", "accepted"), [(13, True), (15, False), (200, False)])
def test_remember_me_cookie_lasts_fourteen_days_on_the_server(
    app: Flask, session, time_machine, days, accepted
):
    time_machine.move_to(DAY0, tick=False)
    cookie = _remember_cookie(app, make_user(session))
    time_machine.shift(timedelta(days=days))
    browser, response = _replay(app, cookie)
    if accepted:
        assert response.status_code == 200
        assert _logged_in(browser)
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/auth/login?next=/auth/password"
        assert _deletes_remember_cookie(response)
        assert not _logged_in(browser)


def test_a_session_restored_from_the_cookie_ends_with_it(app: Flask, session, time_machine):
    time_machine.move_to(DAY0, tick=False)
    cookie = _remember_cookie(app, make_user(session))
    time_machine.shift(timedelta(days=13, hours=20))
    browser, response = _replay(app, cookie)
    assert response.status_code == 200
    time_machine.shift(timedelta(hours=3))  # day 13, 23:00: the restored session goes on
    assert _logged_in(browser)
    time_machine.shift(timedelta(hours=3))  # day 14, 02:00: in use, but the login is too old
    assert not _logged_in(browser)


def test_a_volunteer_login_lasts_fourteen_days_even_in_constant_use(client, session, time_machine):
    time_machine.move_to(DAY0, tick=False)
    login(client, make_user(session))
    for _ in range(30):  # back every 11 hours, within the 12-hour session cookie
        time_machine.shift(timedelta(hours=11))
        assert _logged_in(client)
    time_machine.shift(timedelta(hours=5))  # 13 days 23 hours after the login
    assert _logged_in(client)
    time_machine.shift(timedelta(hours=2))
    assert not _logged_in(client)


@pytest.mark.parametrize("how", ["logout", "password change"])
def test_remember_me_cookie_is_refused_within_fourteen_days_after(
    app: Flask, session, time_machine, how
):
    time_machine.move_to(DAY0, tick=False)
    user = make_user(session)
    cookie = _remember_cookie(app, user)
    time_machine.shift(timedelta(days=3))
    other = app.test_client()
    login(other, user)
    if how == "logout":
        post(other, "/auth/logout")
    else:
        new = {"current": PASSWORD, "new": "a brand new phrase", "confirm": "a brand new phrase"}
        assert post(other, "/auth/password", new).status_code == 303
    browser, response = _replay(app, cookie)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert not _logged_in(browser)


def test_remember_me_cookie_without_a_login_time_is_refused(app: Flask, session):
    """Cookies issued before logins carried their time (`id:version`) never expired: refused."""
    user = make_user(session)
    with app.test_request_context():
        cookie = encode_cookie(f"{user.id}:{user.session_version}")
    browser, response = _replay(app, cookie)
    assert response.status_code == 302
    assert not _logged_in(browser)


def test_remember_me_days_come_from_one_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_REMEMBER_DAYS", "7")
    config = load_config(str(tmp_path))
    assert config["PORTAL_REMEMBER_DAYS"] == 7
    assert config["REMEMBER_COOKIE_DURATION"] == timedelta(days=7)


def test_a_visitor_without_a_session_is_anonymous_without_the_address_hash(
    app, client, session, monkeypatch
):
    """No session and no remember-me cookie: Flask-Login's session protection is skipped
    (nothing to protect); a session or a remember-me cookie still goes through it."""
    manager = app.login_manager
    hashed = []
    real = manager._session_identifier_generator
    monkeypatch.setattr(
        manager, "_session_identifier_generator", lambda: hashed.append(1) or real()
    )
    assert not _logged_in(client)
    assert hashed == []
    user = make_user(session)
    login(client, user, remember="y")
    hashed.clear()
    assert _logged_in(client)
    assert hashed
    # The remember-me cookie alone (the browser was closed) still logs in.
    fresh = app.test_client()
    fresh.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert _logged_in(fresh)


def test_the_session_cookie_is_sent_again_once_a_minute_not_on_every_request(
    client, session, time_machine
):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    login(client, make_user(session, role=Role.COUNTY_STAFF))

    def session_cookie_sent() -> bool:
        response = client.get("/")
        assert 'action="/auth/logout"' in response.get_data(as_text=True)
        return any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))

    session_cookie_sent()  # shows, and so removes, the welcome message from the session
    time_machine.shift(timedelta(seconds=30))
    assert not session_cookie_sent()  # nothing in the session changed
    time_machine.shift(timedelta(seconds=31))
    assert session_cookie_sent()  # last seen a minute ago: moved, and the expiry slides
    assert not session_cookie_sent()


def test_the_minute_s_lag_never_ends_a_session_idle_less_than_thirty_minutes(
    client, session, time_machine
):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    login(client, make_user(session, role=Role.COUNTY_STAFF))
    time_machine.shift(timedelta(seconds=59))
    assert _logged_in(client)  # last-seen time not moved (under a minute)
    time_machine.shift(timedelta(minutes=30))
    assert _logged_in(client)  # idle 30 min, last seen moved 30 min 59 s ago: within the lag
    time_machine.shift(timedelta(minutes=31))
    assert not _logged_in(client)
