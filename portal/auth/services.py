"""Account rules: passwords, login throttling, sessions, reset links. Request-free."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, func, select

from portal import audit
from portal.auth.models import STAFF_ROLES, LoginThrottle, Office, PasswordReset, Role, User
from portal.core.domain import DomainError
from portal.i18n import N_
from portal.places import Township
from portal.timeutil import SHANGHAI, utcnow

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PASSWORD_MIN = 8
PASSWORD_MAX = 256

hasher = PasswordHasher()
# A fixed hash verified when the account is unknown, so both answers take the same time.
_DUMMY_HASH = hasher.hash("not-a-real-password-0000")


class AccountError(DomainError):
    """A rule about accounts was broken; the message is a translatable English sentence."""


class LoginFailed(AccountError):
    """Wrong login name or password, or the account may not log in (one answer for all)."""

    keep_writes = True  # the failure is counted: that count is the rule


class LoginLocked(AccountError):
    """Too many failures: the login name is locked for a while."""

    keep_writes = True

    def __init__(self, until: datetime):
        super().__init__(N_("Too many failed attempts."), field="login")
        self.until = until


class WeakPassword(AccountError):
    """The new password breaks the password policy."""


class WrongPassword(AccountError):
    """The current password given to confirm a change is wrong."""


class InvalidResetLink(AccountError):
    """The reset link is unknown, used or expired."""


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 6
    window: timedelta = timedelta(minutes=1)
    lock: timedelta = timedelta(minutes=30)


def normalise_login(login: str) -> str:
    """Phone numbers keep their digits; e-mail addresses are lower-cased."""
    value = (login or "").strip()
    if "@" in value:
        return value.lower()
    digits = re.sub(r"[\s-]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("portal").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password_policy(password: str, *, user: User | None = None) -> None:
    """Length 8-256, not a common password, not the login name. No composition rules."""
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(N_("The password must have at least 8 characters."), field="new")
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(N_("The password may have at most 256 characters."), field="new")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) == 1:
        raise WeakPassword(N_("This password is too common; choose another."), field="new")
    if user is not None and lowered in {(user.phone or "").lower(), (user.email or "").lower()}:
        raise WeakPassword(
            N_("The password must not be your phone number or e-mail address."), field="new"
        )


def hash_password(password: str) -> str:
    return hasher.hash(password)


def find_user(session: Session, login: str) -> User | None:
    login = normalise_login(login)
    if not login:
        return None
    column = User.email if "@" in login else User.phone
    return session.exec(select(User).where(column == login)).first()


def _throttle_row(session: Session, login: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, login, with_for_update=True)


def authenticate(
    session: Session,
    *,
    login: str,
    password: str,
    ip: str | None = None,
    policy: ThrottlePolicy = ThrottlePolicy(),
    now: datetime | None = None,
) -> User:
    """Check a login; count failures per login name in the database; rehash when needed."""
    now = now or utcnow()
    key = normalise_login(login)[:254] or "-"
    throttle = _throttle_row(session, key)
    if throttle is not None and throttle.locked_until and throttle.locked_until > now:
        audit.record(session, action="login.locked", ip=ip, login=key)
        raise LoginLocked(throttle.locked_until)

    user = find_user(session, key)
    ok = False
    try:
        ok = hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if user is None or not user.is_active:
        ok = False

    if not ok:
        if throttle is None:
            throttle = LoginThrottle(login=key, window_start=now, failures=0)
            session.add(throttle)
        if now - throttle.window_start > policy.window:
            throttle.window_start, throttle.failures = now, 0
        throttle.failures += 1
        locked = throttle.failures >= policy.max_failures
        if locked:
            throttle.locked_until = now + policy.lock
        audit.record(
            session,
            action="login.failed",
            actor_id=user.id if user else None,
            ip=ip,
            login=key,
            failures=throttle.failures,
        )
        session.flush()
        if locked:
            audit.record(session, action="login.locked", ip=ip, login=key)
            raise LoginLocked(throttle.locked_until)
        raise LoginFailed(
            N_("The phone number, e-mail address or password is not correct."), field="password"
        )

    assert user is not None
    if throttle is not None:
        session.delete(throttle)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = now
    session.add(user)
    audit.record(session, action="login", actor_id=user.id, ip=ip)
    session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def end_all_sessions(session: Session, *, user: User) -> None:
    """Refuse every session and remember-me cookie issued so far to this user."""
    user.session_version += 1
    session.add(user)
    session.flush()


def change_password(
    session: Session, *, user: User, current: str, new: str, ip: str | None = None
) -> None:
    if not verify_password(user, current):
        raise WrongPassword(N_("The current password is not correct."), field="current")
    check_password_policy(new, user=user)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    end_all_sessions(session, user=user)
    audit.record(session, action="password.changed", actor_id=user.id, ip=ip)
    _tell_owner(session, user, "account.password_changed", "password-changed")


def _tell_owner(session: Session, user: User, template: str, event: str) -> None:
    """Let the account holder know, on their channels, that something changed on it."""
    from portal import notify

    when = user.password_changed_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    notify.enqueue(
        session,
        key=f"account:{user.id}:{event}:{user.session_version}",
        to=notify.Recipient.for_user(user),
        template=template,
        context={"when": when},
    )


def create_user(
    session: Session,
    *,
    name: str,
    role: Role,
    password: str,
    phone: str | None = None,
    email: str | None = None,
    township_code: str | None = None,
    office: Office | None = None,
    created_by: int | None = None,
    ip: str | None = None,
    is_demo: bool = False,
) -> User:
    """Create an account after checking the login names, binding and password."""
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise AccountError(N_("The name must have 1 to 40 characters."), field="name")
    phone = normalise_login(phone) if phone else None
    email = normalise_login(email) if email else None
    if not phone and not email:
        raise AccountError(N_("Give a mobile number or an e-mail address."), field="phone")
    if phone and not MOBILE_RE.match(phone):
        raise AccountError(
            N_("A mobile number has 11 digits and starts with 13-19."), field="phone"
        )
    if email and (not EMAIL_RE.match(email) or len(email) > 254):
        raise AccountError(N_("The e-mail address is not valid."), field="email")
    role = Role(role)
    if role == Role.LECTURE_ORGANISER:
        if office is None:
            raise AccountError(
                N_("A lecture organiser must be bound to an organising office."), field="office"
            )
        office = Office(office)
    else:
        office = None
    # Township staff, and lecture organisers of a township, are bound to one township.
    if role == Role.TOWNSHIP_STAFF or office == Office.TOWNSHIP:
        if not township_code or session.get(Township, township_code) is None:
            raise AccountError(
                N_("Township staff must be bound to one of the 19 townships."),
                field="township_code",
            )
    else:
        township_code = None
    if phone and session.exec(select(func.count()).where(User.phone == phone)).one():
        raise AccountError(N_("An account with this mobile number already exists."), field="phone")
    if email and session.exec(select(func.count()).where(User.email == email)).one():
        raise AccountError(N_("An account with this e-mail address already exists."), field="email")
    user = User(
        name=name,
        role=role,
        phone=phone,
        email=email,
        township_code=township_code,
        office=office,
        password_hash="",
        is_demo=is_demo,
    )
    check_password_policy(password, user=user)
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="user.created",
        actor_id=created_by,
        target_type="user",
        target_id=user.id,
        ip=ip,
        role=str(role),
    )
    return user


def set_active(
    session: Session, *, user: User, active: bool, actor_id: int, ip: str | None = None
) -> None:
    """Enable or disable an account; disabling ends all its sessions."""
    if user.id == actor_id and not active:
        raise AccountError(N_("You cannot disable your own account."))
    user.is_active = active
    if not active:
        end_all_sessions(session, user=user)
    session.add(user)
    audit.record(
        session,
        action="user.enabled" if active else "user.disabled",
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        ip=ip,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset_link(
    session: Session,
    *,
    user: User,
    issued_by: int,
    valid_for: timedelta = timedelta(hours=1),
    ip: str | None = None,
) -> str:
    """Create a one-time reset token; only its hash is stored. Older links stop working."""
    if not user.is_active:
        raise AccountError(N_("Enable the account before issuing a reset link."))
    now = utcnow()
    for old in session.exec(
        select(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    ):
        old.used_at = now
        session.add(old)
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=_token_hash(token),
            issued_by=issued_by,
            expires_at=now + valid_for,
        )
    )
    audit.record(
        session,
        action="password.reset_link_issued",
        actor_id=issued_by,
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    session.flush()
    return token


def reset_link_user(session: Session, *, token: str) -> tuple[PasswordReset, User]:
    """The valid reset record and its user, or InvalidResetLink."""
    row = session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == _token_hash(token or ""))
    ).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidResetLink(
            N_("This link is not valid any more. Ask an administrator for a new one.")
        )
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise InvalidResetLink(
            N_("This link is not valid any more. Ask an administrator for a new one.")
        )
    return row, user


def reset_password(session: Session, *, token: str, new: str, ip: str | None = None) -> User:
    row, user = reset_link_user(session, token=token)
    check_password_policy(new, user=user)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    row.used_at = utcnow()
    session.add(row)
    end_all_sessions(session, user=user)
    throttle = session.get(LoginThrottle, user.login_name)
    if throttle is not None:
        session.delete(throttle)
    audit.record(session, action="password.reset", actor_id=user.id, ip=ip)
    _tell_owner(session, user, "account.password_changed", "password-reset")
    return user


def is_staff_role(role: str) -> bool:
    return role in STAFF_ROLES


def pending_setup_count(session: Session, user: User | None = None) -> int:
    """Active accounts whose holder has never logged in (set-up link not used yet)."""
    return session.exec(
        select(func.count())
        .select_from(User)
        .where(User.is_active.is_(True), User.last_login_at.is_(None))
    ).one()
