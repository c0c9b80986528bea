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


def test_create_admin_takes_no_password_as_an_argument(fresh):
    # An argument would stay in the shell history and in the process list.
    for args in (["--password", "my admin phrase 1"], ["--password=my admin phrase 1"]):
        result = fresh.test_cli_runner().invoke(
            args=["portal", "create-admin", "--name", "叶主任", "--login", "13912340000", *args],
            input="my admin phrase 1\nmy admin phrase 1\n",
        )
        assert result.exit_code == 2
        assert "No such option" in result.output
    assert _users(fresh) == []


def test_create_admin_reads_the_password_from_stdin_only_when_asked(fresh):
    result = fresh.test_cli_runner().invoke(
        args=[
            "portal",
            "create-admin",
            "--name",
            "叶主任",
            "--login",
            "ye@songyang.gov.cn",
            "--password-stdin",
        ],
        input="my admin phrase 1\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output and "my admin phrase 1" not in result.output
    (admin,) = _users(fresh)
    assert admin.role == Role.ADMIN and admin.email == "ye@songyang.gov.cn"
    from portal.auth.services import verify_password

    assert verify_password(admin, "my admin phrase 1")


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (
            ["--password-stdin"],
            "my admin phrase 1\n",
            2,
            "--password-stdin needs --name and --login",
        ),
        (["--name", "叶主任", "--password-stdin"], "my admin phrase 1\n", 2, "needs --name"),
        (["--name", "叶主任", "--login", "13912340000", "--password-stdin"], "", 1, "No password"),
        (
            ["--name", "叶主任", "--login", "13912340000", "--password-stdin"],
            "\n",
            1,
            "No password",
        ),
        (
            ["--name", "叶主任", "--login", "13912340000", "--password-stdin"],
            "short\n",
            1,
            "at least 8",
        ),
    ],
)
def test_create_admin_from_stdin_refuses_bad_input(fresh, args, stdin, code, message):
    result = fresh.test_cli_runner().invoke(args=["portal", "create-admin", *args], input=stdin)
    assert result.exit_code == code
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
    with Session(fresh.extensions["portal_db"].engine) as s:
        after_first = s.exec(select(func.count()).select_from(User)).one()
    # The areas' demo sets add people of their own (the volunteers' demo volunteers), once.
    assert after_first >= len(DEMO_ACCOUNTS)
    second = runner.invoke(args=["portal", "demo"])
    assert "already exist" in second.output and "demo-" not in second.output
    with Session(fresh.extensions["portal_db"].engine) as s:
        assert s.exec(select(func.count()).select_from(User)).one() == after_first


def test_demo_passwords_log_in(fresh):
    output = fresh.test_cli_runner().invoke(args=["portal", "demo"]).output
    line = next(line for line in output.splitlines() if line.strip().startswith("volunteer"))
    _role, phone, password = line.split()[:3]
    from tests.conftest import post

    client = fresh.test_client()
    assert post(client, "/auth/login", {"login": phone, "password": password}).status_code == 303
