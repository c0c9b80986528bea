"""Log in, log out, re-authenticate, change or reset a password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth import services
from portal.auth.forms import LoginForm, PasswordChangeForm, PasswordResetForm, ReauthForm
from portal.core.domain import DomainError
from portal.db import get_session
from portal.extensions import limiter
from portal.security import (
    configured_limit,
    end_session,
    login_required,
    mark_reauthenticated,
    public,
    start_session,
)
from portal.web import form_error, render, safe_next, see_other

bp = Blueprint("auth", __name__, url_prefix="/auth")


_login_limit = configured_limit("PORTAL_LOGIN_RATE_LIMIT")


def _throttle_policy() -> services.ThrottlePolicy:
    from datetime import timedelta

    cfg = current_app.config
    return services.ThrottlePolicy(
        max_failures=cfg["PORTAL_LOGIN_MAX_FAILURES"],
        window=timedelta(seconds=cfg["PORTAL_LOGIN_WINDOW_SECONDS"]),
        lock=timedelta(minutes=cfg["PORTAL_LOGIN_LOCK_MINUTES"]),
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login():
    form = LoginForm()
    next_url = request.args.get("next")
    if current_user.is_authenticated and request.method == "GET":
        return see_other(safe_next(next_url))
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                get_session(),
                login=form.login.data,
                password=form.password.data,
                ip=request.remote_addr,
                policy=_throttle_policy(),
            )
        except services.LoginLocked as locked:
            form.login.errors.append(
                _(
                    "Too many failed attempts. Try again after %(time)s, or call for help.",
                    time=format_datetime(locked.until, "HH:mm"),
                )
            )
        except services.LoginFailed as error:
            form_error(form, error)  # the failure stays counted (keep_writes)
        else:
            start_session(user, remember=form.remember.data)
            flash(_("Welcome, %(name)s.", name=user.name), "success")
            # Staff land on their workspace (工作台) unless they were on their way elsewhere.
            return see_other(
                safe_next(next_url, "core.workspace" if user.is_staff else "core.home")
            )
    form.password.data = ""
    return render("auth/login.html", form=form, next_url=next_url)


@bp.route("/logout", methods=["POST"])
@public
def logout():
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        session = get_session()
        services.end_all_sessions(session, user=user)
        from portal import audit

        audit.record(session, action="logout", actor_id=user.id, ip=request.remote_addr)
    end_session()
    flash(_("You have logged out."), "info")
    return see_other("core.home")


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
def reauth():
    form = ReauthForm()
    next_url = request.args.get("next")
    if form.validate_on_submit():
        if services.verify_password(current_user, form.password.data):
            mark_reauthenticated()
            return see_other(safe_next(next_url))
        from portal import audit

        audit.record_request("reauth.failed")
        form.password.errors.append(_("The password is not correct."))
    return render("auth/reauth.html", form=form, next_url=next_url)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(
                get_session(),
                user=user,
                current=form.current.data,
                new=form.new.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            # Every other session is now refused; this one continues under the new version.
            start_session(user, remember=False)
            flash(
                _("Your password has been changed. Other devices have been logged out."), "success"
            )
            return see_other("core.home")
    return render("auth/password.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset(token: str):
    session = get_session()
    try:
        _row, user = services.reset_link_user(session, token=token)
    except services.InvalidResetLink as error:
        return render("auth/reset_invalid.html", message=error.translated(), status=410)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(session, token=token, new=form.new.data, ip=request.remote_addr)
        except DomainError as error:
            form_error(form, error)
        else:
            end_session()
            flash(_("Your new password is set. Please log in."), "success")
            return see_other("auth.login")
    return render("auth/reset.html", form=form, user=user)
