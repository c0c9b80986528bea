"""Access control, session lifetimes, re-authentication and security headers."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from functools import wraps

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from portal import audit
from portal.auth.models import Role, User
from portal.db import get_session
from portal.i18n import N_
from portal.logs import is_secret_variable
from portal.web import current_path, login_redirect, referrer_path

PUBLIC = "public"
AUTHENTICATED = "authenticated"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def public(view: Callable) -> Callable:
    """Mark a view as open to everyone (the route matrix test reads the mark)."""
    view.access = PUBLIC
    return view


def login_required(view: Callable) -> Callable:
    """Any logged-in account."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_redirect()
        return view(*args, **kwargs)

    wrapped.access = AUTHENTICATED
    return wrapped


def deny(reason: str = "role") -> None:
    """Audit the denial (in its own transaction) and answer 403."""
    audit.record_denial(reason)
    abort(403)


def roles_required(*roles: Role) -> Callable:
    """Only accounts holding one of these roles; anonymous users are sent to log in."""
    allowed = frozenset(Role(r) for r in roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_redirect()
            if current_user.role not in allowed:
                deny()
            return view(*args, **kwargs)

        wrapped.access = allowed
        return wrapped

    return decorator


def configured_limit(name: str) -> Callable[[], str]:
    """A Flask-Limiter limit read from the setting `name` at each request (config.py reads and
    checks every PORTAL_*_RATE_LIMIT): `@limiter.limit(configured_limit("PORTAL_AID_RATE_LIMIT"))`.
    """

    def limit() -> str:
        return current_app.config[name]

    return limit


def has_role(*roles: Role) -> bool:
    return current_user.is_authenticated and current_user.role in set(roles)


# Sessions -------------------------------------------------------------------------------


def start_session(user: User, *, remember: bool) -> None:
    """A new session on login: nothing from before survives (fixation)."""
    from flask_login import login_user

    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()
    session.update(keep)
    now = int(time.time())
    session["login_at"] = now
    session["auth_at"] = now
    session["seen_at"] = now
    session.permanent = True
    login_user(user, remember=remember and not user.is_staff)


def end_session() -> None:
    logout_user()
    session.clear()


def _session_expired(user: User, now: int) -> bool:
    cfg = current_app.config
    login_at = session.get("login_at")
    seen_at = session.get("seen_at")
    if login_at is None:  # restored from a remember-me cookie (volunteers only)
        if user.is_staff:
            return True
        session["login_at"] = session["auth_at"] = now
        return False
    if not user.is_staff:
        return False
    absolute = cfg["PORTAL_SESSION_ABSOLUTE_HOURS"] * 3600
    idle = cfg["PORTAL_STAFF_IDLE_MINUTES"] * 60
    # The last-seen time lags by up to SEEN_STEP: a session ends 30 to 31 minutes idle.
    return now - login_at > absolute or (seen_at is not None and now - seen_at >= idle + SEEN_STEP)


# How far the session's last-seen time may lag: moving it changes the session, whose cookie is
# then signed and sent again. The idle timeout is exact to this many seconds.
SEEN_STEP = 60


def check_session_lifetime() -> None:
    """Before each request: end staff sessions idle 30 min or older than 12 h."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    now = int(time.time())
    if _session_expired(current_user._get_current_object(), now):
        end_session()
        flash(_l("Your session has ended. Please log in again."), "info")
        return
    seen_at = session.get("seen_at")
    if seen_at is None or now - seen_at >= SEEN_STEP:
        session["seen_at"] = now


def reauth_required(view: Callable) -> Callable:
    """Sensitive actions need the password again when it was last given 15+ minutes ago."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_redirect()
        limit = current_app.config["PORTAL_REAUTH_MINUTES"] * 60
        if int(time.time()) - session.get("auth_at", 0) > limit:
            # After a POST, come back to the page that holds the form.
            back = current_path() if request.method == "GET" else referrer_path()
            return redirect(url_for("auth.reauth", next=back), code=303)
        return view(*args, **kwargs)

    wrapped.access = getattr(view, "access", AUTHENTICATED)
    return wrapped


def mark_reauthenticated() -> None:
    session["auth_at"] = int(time.time())


# Headers --------------------------------------------------------------------------------


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


def security_headers(response):
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}  # one pass, not one per header
    headers.extend((k, v) for k, v in SECURITY_HEADERS if k.lower() not in present)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint != "static" and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    if _has_secret_in_url():
        # A reset link's token never leaves in a Referer, nor stays in a cache.
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-store"
    return response


def _has_secret_in_url() -> bool:
    """Whether the matched route carries a secret in its path (`/auth/reset/<token>`)."""
    rule = request.url_rule
    return rule is not None and any(is_secret_variable(name) for name in rule.arguments)


def load_user(user_id: str) -> User | None:
    """Flask-Login loader for the id `User.get_id()` made at login: `id:session_version:issued`.

    The session and the remember-me cookie carry the same id, so a login is refused, however it
    comes back, once it is older than PORTAL_REMEMBER_DAYS (14) or once the user has logged out,
    changed the password or been disabled since (the session version moved on).
    """
    try:
        raw_id, raw_version, raw_issued = user_id.split(":")
        uid, version, issued = int(raw_id), int(raw_version), int(raw_issued)
    except (ValueError, AttributeError):
        return _refuse_login()
    max_age = current_app.config["PORTAL_REMEMBER_DAYS"] * 86400
    if not 0 < uid < 2**63 or time.time() - issued > max_age:
        return _refuse_login()
    user = get_session().get(User, uid)
    if user is None or not user.is_active or user.session_version != version:
        return _refuse_login()
    return user


def _refuse_login() -> None:
    """The visitor stays anonymous, and a refused remember-me cookie is deleted."""
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie on the way out
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_session_lifetime)
    app.after_request(security_headers)
    warn_if_rate_limit_not_shared(app)


# Login limiting across workers -------------------------------------------------------------

RATE_LIMIT_NOT_SHARED = N_(
    "Each worker process counts login attempts on its own, so the limit per address is "
    "multiplied by the number of workers: set REDIS_URL so that all workers share one count."
)
_GUNICORN_WORKERS_RE = re.compile(r"(?:^|\s)(?:-w|--workers)(?:=|\s*)(\d+)")


def _several_workers(app: Flask) -> str | None:
    """Why this deployment looks like several worker processes (or None when it does not)."""
    for name in ("PORTAL_WORKERS", "WEB_CONCURRENCY"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 1:
            return f"{name}={value}"
    match = _GUNICORN_WORKERS_RE.search(os.environ.get("GUNICORN_CMD_ARGS", ""))
    if match and int(match.group(1)) > 1:
        return f"GUNICORN_CMD_ARGS --workers {match.group(1)}"
    if app.config.get("PORTAL_ENV") == "production":
        return "PORTAL_ENV=production"
    return None


def rate_limit_status(app: Flask) -> dict:
    """Where the per-address login limit is counted, and whether every worker shares the count.

    `{"storage": "memory" | "redis" | <other scheme>, "shared": bool, "several_workers": why the
    deployment looks like several workers or None, "warning": None or a msgid to show with
    `gettext`}`: the warning is set when several workers each count in their own memory.
    """
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    scheme = uri.split(":", 1)[0].lower()
    storage = "redis" if scheme.startswith("redis") else scheme
    shared = storage != "memory"
    several = _several_workers(app)
    return {
        "storage": storage,
        "shared": shared,
        "several_workers": several,
        "warning": RATE_LIMIT_NOT_SHARED if several and not shared else None,
    }


def warn_if_rate_limit_not_shared(app: Flask) -> None:
    """At start: one log line when several workers would each count login attempts alone."""
    status = rate_limit_status(app)
    if status["warning"]:
        logging.getLogger("portal.security").warning(
            "login rate limit counted per worker: set REDIS_URL",
            extra={
                "fields": {
                    "storage": status["storage"],
                    "several_workers": status["several_workers"],
                }
            },
        )


def roles_of(view: Callable) -> str | Iterable[Role] | None:
    """The declared access of a view function (for the route matrix test)."""
    return getattr(view, "access", None)


def limit_before_views_only_when_needed(app: Flask) -> None:
    """Run Flask-Limiter's check before every request only while a limit needs it there.

    The portal's limits are on views (`@limiter.limit`), which check in their own wrapper;
    the before-request check is for default, application, blueprint and meta limits, and
    costs every page a walk through the limiter's tables when there are none. Checked at each
    request, so a limit of those kinds added later is enforced as before.
    """
    from portal.extensions import limiter

    hooks = app.before_request_funcs.setdefault(None, [])
    if limiter._check_request_limit not in hooks:
        return
    position = hooks.index(limiter._check_request_limit)

    def check_request_limit() -> None:
        manager = limiter.limit_manager
        if (
            manager._application_limits
            or manager._default_limits
            or manager._blueprint_limits
            or manager._endpoint_hints
            or limiter._meta_limits
        ):
            limiter._check_request_limit()

    hooks[position] = check_request_limit
