"""Logging in (security.md 2, 4, 18): throttling in the database, same answers, safe next=."""

import re

import pytest
from markupsafe import escape
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import LoginThrottle
from tests.conftest import PASSWORD, login, make_user, page_text, post

WRONG = "wrong password here"


def test_login_by_phone_and_by_email(client, session):
    by_phone = make_user(session, phone="13800000001")
    by_mail = make_user(session, email="Teacher@Example.cn")
    login(client, by_phone)
    assert "张三" in page_text(client.get("/"))
    other = client.application.test_client()
    response = post(other, "/auth/login", {"login": " teacher@example.cn ", "password": PASSWORD})
    assert response.status_code == 303
    assert by_mail.name in page_text(other.get("/"))


def test_login_phone_with_spaces_and_country_code(client, session):
    user = make_user(session, phone="13800000002")
    response = post(client, "/auth/login", {"login": "+86 138 0000 0002", "password": PASSWORD})
    assert response.status_code == 303
    assert user.name in page_text(client.get("/"))


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"login": "", "password": ""}, "请填写手机号码或电子邮箱"),
        ({"login": "13800000003", "password": ""}, "请填写密码"),
        ({"login": "x" * 300, "password": "p"}, "内容过长"),
        ({"login": "<script>alert(1)</script>", "password": "x' OR 1=1 --"}, "不正确"),
        ({"login": "𠮷🙂", "password": "𠮷🙂𠮷🙂𠮷🙂𠮷🙂"}, "不正确"),
    ],
)
def test_bad_login_input_gets_a_clear_error_and_keeps_the_login(client, form, message):
    response = post(client, "/auth/login", form)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in page_text(response)
    assert "<script>alert(1)</script>" not in html
    # What was typed is shown again (escaped) in the login field, whatever was wrong with it.
    field = re.search(r'<input[^>]*name="login"[^>]*>', html)
    assert field, html[:2000]
    assert f'value="{escape(form["login"])}"' in field.group(0)


def test_wrong_password_keeps_login_but_not_password(client, session):
    user = make_user(session)
    response = post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    html = response.get_data(as_text=True)
    assert f'value="{user.phone}"' in html
    assert WRONG not in html


def _error_text(response) -> str:
    return " ".join(
        re.findall(r'<p class="error"[^>]*>([^<]+)</p>', response.get_data(as_text=True))
    )


def test_unknown_and_known_accounts_get_the_same_answer(client, session):
    user = make_user(session)
    known = post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    unknown = post(client, "/auth/login", {"login": "13999999999", "password": WRONG})
    assert known.status_code == unknown.status_code == 200
    assert _error_text(known) == _error_text(unknown) == "手机号码、电子邮箱或密码不正确。"


def test_six_failures_lock_the_account_for_thirty_minutes(client, session, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    user = make_user(session)
    for _ in range(5):
        assert "不正确" in _error_text(
            post(client, "/auth/login", {"login": user.phone, "password": WRONG})
        )
    locked = post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    assert "失败次数过多" in _error_text(locked)
    # Even the right password is refused while locked; the lock is in the database.
    assert "失败次数过多" in _error_text(
        post(client, "/auth/login", {"login": user.phone, "password": PASSWORD})
    )
    session.expire_all()
    row = session.get(LoginThrottle, user.phone)
    assert row.failures == 6 and row.locked_until is not None
    time_machine.move_to("2026-11-29T02:29:00+00:00", tick=False)
    assert "失败次数过多" in _error_text(
        post(client, "/auth/login", {"login": user.phone, "password": PASSWORD})
    )
    time_machine.move_to("2026-11-29T02:31:00+00:00", tick=False)
    assert (
        post(client, "/auth/login", {"login": user.phone, "password": PASSWORD}).status_code == 303
    )


def test_unknown_accounts_lock_the_same_way(client, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    for _ in range(6):
        response = post(client, "/auth/login", {"login": "13999999998", "password": WRONG})
    assert "失败次数过多" in _error_text(response)


def test_failures_spread_over_time_do_not_lock(client, session, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    user = make_user(session)
    for minute in range(8):
        time_machine.move_to(f"2026-11-29T02:{minute * 2:02d}:00+00:00", tick=False)
        post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    assert (
        post(client, "/auth/login", {"login": user.phone, "password": PASSWORD}).status_code == 303
    )


def test_the_lock_is_seen_by_a_second_app_sharing_the_database(
    client, session, make_client, time_machine
):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    user = make_user(session)
    for _ in range(6):
        post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    second = make_client()  # another worker: a separate client, same database
    assert "失败次数过多" in _error_text(
        post(second, "/auth/login", {"login": user.phone, "password": PASSWORD})
    )


def test_disabled_account_cannot_log_in(client, session):
    user = make_user(session, is_active=False)
    response = post(client, "/auth/login", {"login": user.phone, "password": PASSWORD})
    assert "不正确" in _error_text(response)


def test_login_and_failures_are_audited_without_password(client, session):
    user = make_user(session)
    post(client, "/auth/login", {"login": user.phone, "password": WRONG})
    login(client, user)
    session.expire_all()
    actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["login.failed", "login"]
    for entry in session.exec(select(AuditEntry)):
        assert WRONG not in str(entry.detail) and PASSWORD not in str(entry.detail)
        assert user.phone not in str(entry.detail)  # the login name is masked


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "https:evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "http://localhost.evil.com/",
        "/\r\nLocation: http://evil.com",
        "/\t/evil.com",
        "",
    ],
)
def test_next_only_goes_to_local_paths(client, session, target):
    user = make_user(session)
    response = post(
        client,
        "/auth/login",
        {"login": user.phone, "password": PASSWORD},
        query_string={"next": target},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_to_a_local_page_is_followed(client, session):
    user = make_user(session)
    response = post(
        client,
        "/auth/login",
        {"login": user.phone, "password": PASSWORD},
        query_string={"next": "/volunteers/?tab=1"},
    )
    assert response.headers["Location"] == "/volunteers/?tab=1"
