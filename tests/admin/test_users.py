"""Staff accounts are created by an admin; reset links are one-time and last one hour."""

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from portal import audit
from portal.audit import AuditEntry
from portal.auth.models import PasswordReset, Role, User
from tests.conftest import login, make_user, page_text, post


@pytest.fixture()
def admin_client(client, session):
    login(client, make_user(session, role=Role.ADMIN, name="管理员"))
    return client


def _link(response) -> str:
    match = re.search(
        r'value="http://localhost(/auth/reset/[^"]+)"', response.get_data(as_text=True)
    )
    assert match, page_text(response)
    return match.group(1)


def test_admin_creates_township_staff_and_they_set_a_password(admin_client, session, app):
    response = post(
        admin_client,
        "/admin/users/new",
        {
            "name": "王督导",
            "phone": "139 0000 1111",
            "email": "",
            "role": "township_staff",
            "township_code": "331124101",
            "office": "",
        },
    )
    assert response.status_code == 200
    assert "账号已创建" in page_text(response)
    link = _link(response)
    user = session.exec(select(User).where(User.phone == "13900001111")).one()
    assert user.role == "township_staff" and user.township_code == "331124101"
    newcomer = app.test_client()
    form_page = newcomer.get(link)
    assert "设置新密码" in page_text(form_page)
    done = post(newcomer, link, {"new": "my own new phrase", "confirm": "my own new phrase"})
    assert done.status_code == 303
    assert (
        post(
            newcomer, "/auth/login", {"login": "13900001111", "password": "my own new phrase"}
        ).status_code
        == 303
    )
    # The link works once.
    assert app.test_client().get(link).status_code == 410


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "phone": "13900001112", "role": "editor"}, "请填写姓名"),
        ({"name": "某人", "phone": "", "email": "", "role": "editor"}, "请填写手机号码或电子邮箱"),
        ({"name": "某人", "phone": "12345", "role": "editor"}, "手机号码为 11 位数字"),
        ({"name": "某人", "phone": "23900001113", "role": "editor"}, "手机号码为 11 位数字"),
        ({"name": "某人", "email": "not-an-email", "role": "editor"}, "电子邮箱格式不正确"),
        (
            {"name": "某人", "phone": "13900001114", "role": "township_staff", "township_code": ""},
            "必须绑定",
        ),
        (
            {
                "name": "某人",
                "phone": "13900001114",
                "role": "township_staff",
                "township_code": "999999999",
            },
            "不是有效的选择",
        ),
        (
            {"name": "某人", "phone": "13900001115", "role": "lecture_organiser", "office": ""},
            "主办单位",
        ),
        ({"name": "某人", "phone": "13900001116", "role": "superuser"}, "不是有效的选择"),
        ({"name": "𠮷" * 41, "phone": "13900001117", "role": "editor"}, "最多 40 个字"),
    ],
)
def test_bad_account_input_is_explained_and_kept(admin_client, session, form, message):
    data = {"name": "", "phone": "", "email": "", "role": "", "township_code": "", "office": ""}
    data.update(form)
    response = post(admin_client, "/admin/users/new", data)
    assert response.status_code == 200
    text = page_text(response)
    assert message in text
    html = response.get_data(as_text=True)
    for name in ("name", "phone", "email"):  # what was typed is shown again, even when wrong
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
        assert field and f'value="{data[name]}"' in field.group(0), name
    assert session.exec(select(User).where(User.role != "admin")).first() is None


def test_duplicate_phone_is_refused(admin_client, session):
    make_user(session, phone="13900002222")
    response = post(
        admin_client,
        "/admin/users/new",
        {
            "name": "重复",
            "phone": "13900002222",
            "email": "",
            "role": "editor",
            "township_code": "",
            "office": "",
        },
    )
    assert response.status_code == 200
    assert "该手机号码已有账号" in page_text(response)
    assert len(session.exec(select(User).where(User.phone == "13900002222")).all()) == 1


def test_extra_fields_change_nothing(admin_client, session):
    post(
        admin_client,
        "/admin/users/new",
        {
            "name": "编辑甲",
            "phone": "13900003333",
            "email": "",
            "role": "editor",
            "township_code": "331124001",
            "office": "education",
            "is_active": "0",
            "session_version": "99",
            "password_hash": "x",
        },
    )
    user = session.exec(select(User).where(User.phone == "13900003333")).one()
    assert user.township_code is None and user.office is None  # bindings only for their roles
    assert user.is_active and user.session_version == 1


def test_reset_link_expires_after_an_hour(admin_client, session, app, time_machine):
    time_machine.move_to("2026-11-29T02:00:00+00:00", tick=False)
    target = make_user(session, role=Role.EDITOR)
    login(admin_client, session.exec(select(User).where(User.role == "admin")).one())
    link = _link(post(admin_client, f"/admin/users/{target.id}/reset-link"))
    time_machine.shift(timedelta(minutes=59))
    assert app.test_client().get(link).status_code == 200
    time_machine.shift(timedelta(minutes=2))
    response = app.test_client().get(link)
    assert response.status_code == 410 and "链接已失效" in page_text(response)


def test_unknown_used_and_expired_links_answer_alike(client):
    response = client.get("/auth/reset/not-a-real-token")
    assert response.status_code == 410
    assert "该链接已失效" in page_text(response)


def test_a_new_link_cancels_the_old_one(admin_client, session, app):
    target = make_user(session, role=Role.EDITOR)
    first = _link(post(admin_client, f"/admin/users/{target.id}/reset-link"))
    second = _link(post(admin_client, f"/admin/users/{target.id}/reset-link"))
    assert app.test_client().get(first).status_code == 410
    assert app.test_client().get(second).status_code == 200


def test_reset_stores_only_a_hash(admin_client, session):
    target = make_user(session, role=Role.EDITOR)
    link = _link(post(admin_client, f"/admin/users/{target.id}/reset-link"))
    token = link.rsplit("/", 1)[1]
    rows = session.exec(select(PasswordReset)).all()
    assert rows and all(token not in r.token_hash for r in rows)
    for entry in session.exec(select(AuditEntry)):
        assert token not in str(entry.detail)


def test_reset_form_errors(admin_client, session, app):
    target = make_user(session, role=Role.EDITOR)
    link = _link(post(admin_client, f"/admin/users/{target.id}/reset-link"))
    c = app.test_client()
    assert "不一致" in page_text(
        post(c, link, {"new": "first phrase here", "confirm": "second phrase"})
    )
    assert "太常见" in page_text(post(c, link, {"new": "12345678", "confirm": "12345678"}))


def test_admin_cannot_disable_themselves(admin_client, session):
    admin = session.exec(select(User).where(User.role == "admin")).one()
    response = post(admin_client, f"/admin/users/{admin.id}/active", {"active": "0"})
    assert response.status_code == 303
    assert "不能停用自己的账号" in page_text(admin_client.get(response.headers["Location"]))


def test_account_list_paginates_and_filters(admin_client, session):
    for i in range(30):
        make_user(session, role=Role.VOLUNTEER, name=f"志愿者{i}")
    first = page_text(admin_client.get("/admin/users"))
    assert "第 1 页，共 2 页" in first
    assert "第 2 页" in page_text(admin_client.get("/admin/users?page=2"))
    only_admins = page_text(admin_client.get("/admin/users?role=admin"))
    assert "志愿者0" not in only_admins and "管理员" in only_admins
    assert admin_client.get("/admin/users?page=abc").status_code == 200


def test_audit_log_page_lists_entries(admin_client, session):
    audit.record(session, action="test.other_event", ip="192.0.2.7")
    session.commit()
    everything = page_text(admin_client.get("/admin/audit"))
    # An action without a label yet shows its code rather than nothing.
    assert "登录" in everything and "test.other_event" in everything and "192.0.2.7" in everything
    logins = page_text(admin_client.get("/admin/audit?action=login"))
    assert "登录" in logins and "127.0.0.1" in logins  # the admin's own login
    assert "test.other_event" not in logins


def test_unknown_user_is_404(admin_client):
    assert admin_client.get("/admin/users/99999").status_code == 404


def test_no_reset_link_for_a_disabled_account(admin_client, session):
    target = make_user(session, role=Role.EDITOR, is_active=False)
    response = post(admin_client, f"/admin/users/{target.id}/reset-link")
    assert response.status_code == 303
    assert "请先启用账号" in page_text(admin_client.get(response.headers["Location"]))
    assert (
        session.exec(select(PasswordReset).where(PasswordReset.user_id == target.id)).first()
        is None
    )
