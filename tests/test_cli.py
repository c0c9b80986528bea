"""`flask portal` commands: init, create-admin (asks for the password), demo."""

import pytest
from sqlmodel import Session, func, select

from portal.auth.models import Role, User
from portal.cli import DEMO_ACCOUNTS


@pytest.fixture()
def fresh(tmp_path, new_app):
    app = new_app(f"sqlite:///{tmp_path / 'cli.db'}")
    result = app.test_cli_runner().invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    return app


def _users(app) -> list[User]:
    with Session(app.extensions["portal_db"].engine) as s:
        return list(s.exec(select(User)))


def test_a_fresh_database_has_no_account_at_all(fresh):
    assert _users(fresh) == []


def test_init_twice_changes_nothing(fresh):
    result = fresh.test_cli_runner().invoke(args=["portal", "init"])
    assert result.exit_code == 0
    assert "19 present, 0 added or updated" in result.output


def test_create_admin_asks_for_the_password_twice(fresh):
    runner = fresh.test_cli_runner()
    result = runner.invoke(
        args=["portal", "create-admin"],
        input="叶主任\n13912340000\nmy admin phrase 1\nmy admin phrase 1\n",
    )
    assert result.exit_code == 0, result.output
    assert "my admin phrase 1" not in result.output
    (admin,) = _users(fresh)
    assert admin.role == Role.ADMIN and admin.phone == "13912340000"
    assert admin.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ("叶主任\n13912340000\nshort\nshort\n", "at least 8"),
        ("叶主任\n12345\nmy admin phrase 1\nmy admin phrase 1\n", "11 digits"),
        ("叶主任\n13912340000\nmy admin phrase 1\nsomething else\n", "do not match"),
    ],
)
def test_create_admin_refuses_bad_input(fresh, answers, message):
    result = fresh.test_cli_runner().invoke(args=["portal", "create-admin"], input=answers)
    assert result.exit_code == 1
    assert message in result.output
    assert _users(fresh) == []


def test_demo_creates_one_account_per_role_once(fresh):
    runner = fresh.test_cli_runner()
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0
    assert "DEMO DATA" in first.output
    assert first.output.count("demo-") == len(DEMO_ACCOUNTS)
    users = _users(fresh)
    assert {u.role for u in users} == {r.value for r in Role}
    assert all(u.is_demo and u.name.startswith("演示") for u in users)
    second = runner.invoke(args=["portal", "demo"])
    assert "already exist" in second.output and "demo-" not in second.output
    with Session(fresh.extensions["portal_db"].engine) as s:
        assert s.exec(select(func.count()).select_from(User)).one() == len(DEMO_ACCOUNTS)


def test_demo_passwords_log_in(fresh):
    output = fresh.test_cli_runner().invoke(args=["portal", "demo"]).output
    line = next(line for line in output.splitlines() if line.strip().startswith("volunteer"))
    _role, phone, password = line.split()[:3]
    from tests.conftest import post

    client = fresh.test_client()
    assert post(client, "/auth/login", {"login": phone, "password": password}).status_code == 303
