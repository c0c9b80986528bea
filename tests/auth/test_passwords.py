"""Password rules (security.md 1): argon2, rehash, 8+ characters, long allowed, common refused."""

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from portal.auth import services
from portal.auth.models import User
from tests.conftest import PASSWORD, login, make_user


def test_hashes_are_argon2id_with_library_defaults():
    hashed = services.hash_password("a long enough secret")
    assert hashed.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(hashed)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8"),
        ("1234567", "at least 8"),
        ("12345678", "too common"),
        ("password", "too common"),
        ("Woaini1314", "too common"),
        ("zzzzzzzzzz", "too common"),
        ("x" * 257, "at most 256"),
    ],
)
def test_weak_passwords_are_refused(password, message):
    with pytest.raises(services.WeakPassword, match=message):
        services.check_password_policy(password)


@pytest.mark.parametrize(
    "password", ["horse battery", "只用中文的密码也可以", "x1" * 64, "🙂😀🌱🙂😀🌱🙂😀"]
)
def test_long_and_plain_passwords_are_allowed(password):
    services.check_password_policy(password)


def test_password_equal_to_phone_is_refused():
    user = User(name="李四", role="volunteer", phone="13912345678", password_hash="")
    with pytest.raises(services.WeakPassword, match="phone number"):
        services.check_password_policy("13912345678", user=user)


def test_login_rehashes_when_parameters_change(client, session):
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user = make_user(session)
    user.password_hash = weak
    session.add(user)
    session.commit()
    login(client, user)
    session.expire_all()
    stored = session.exec(select(User).where(User.id == user.id)).one().password_hash
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)
