"""Staff accounts (created by an admin), reset links and the audit log."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select
from wtforms import SelectField, StringField

from portal import audit
from portal.admin.forms import UserCreateForm
from portal.auth import services
from portal.auth.models import Role, User
from portal.core.domain import DomainError
from portal.core.forms import PortalForm
from portal.db import get_session
from portal.notify import services as notify_services
from portal.pagination import Page, paginate
from portal.places import township_choices
from portal.security import reauth_required, roles_required
from portal.web import (
    absolute_url,
    flash_error,
    form_error,
    page_number,
    page_size,
    render,
    see_other,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(statement) -> Page:
    return paginate(get_session(), statement, page=page_number(), per_page=page_size())


@bp.route("/users")
@roles_required(Role.ADMIN)
def users():
    role = request.args.get("role", "")
    statement = select(User).order_by(User.id)
    if role in {r.value for r in Role}:
        statement = statement.where(User.role == role)
    return render(
        "admin/users.html",
        block="results",
        page=_page(statement),
        role=role,
        roles=list(Role),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
@reauth_required
def new_user():
    session = get_session()
    form = UserCreateForm()
    form.set_choices(township_choices(session))
    if form.validate_on_submit():
        try:
            # The new member sets a password through a one-time link; nobody else knows it.
            user = services.create_user(
                session,
                name=form.name.data,
                role=form.role.data,
                password=secrets.token_urlsafe(32),
                phone=form.phone.data or None,
                email=form.email.data or None,
                township_code=form.township_code.data or None,
                office=form.office.data or None,
                created_by=current_user.id,
                ip=request.remote_addr,
            )
            token = services.issue_reset_link(
                session, user=user, issued_by=current_user.id, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            return render(
                "admin/reset_link.html",
                user=user,
                link=absolute_url("auth.reset", token=token),
                created=True,
            )
    return render("admin/user_new.html", form=form)


def _user_or_404(user_id: int) -> User:
    user = get_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>")
@roles_required(Role.ADMIN)
def user_detail(user_id: int):
    user = _user_or_404(user_id)
    return render("admin/user_detail.html", user=user)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required(Role.ADMIN)
@reauth_required
def set_active(user_id: int):
    user = _user_or_404(user_id)
    active = request.form.get("active") == "1"
    try:
        services.set_active(
            get_session(),
            user=user,
            active=active,
            actor_id=current_user.id,
            ip=request.remote_addr,
        )
    except DomainError as error:
        flash_error(error)
    else:
        flash(
            _("The account is enabled.")
            if active
            else _("The account is disabled and all its sessions have ended."),
            "success",
        )
    return see_other("admin.user_detail", user_id=user.id)


@bp.route("/users/<int:user_id>/reset-link", methods=["POST"])
@roles_required(Role.ADMIN)
@reauth_required
def reset_link(user_id: int):
    user = _user_or_404(user_id)
    try:
        token = services.issue_reset_link(
            get_session(), user=user, issued_by=current_user.id, ip=request.remote_addr
        )
    except DomainError as error:
        flash_error(error)
        return see_other("admin.user_detail", user_id=user.id)
    return render(
        "admin/reset_link.html",
        user=user,
        link=absolute_url("auth.reset", token=token),
        created=False,
    )


class AuditFilterForm(PortalForm):
    """The audit log's filters: a GET form whose values `audit.parse_query` checks."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validate_choice=False)
    actor = StringField(
        _l("Account (name, mobile or e-mail)"), render_kw={"autocomplete": "off", "maxlength": 40}
    )
    township = SelectField(_l("Township of the account"), validate_choice=False)
    since = StringField(_l("From"), render_kw={"type": "date"})
    until = StringField(_l("To"), render_kw={"type": "date"})


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    """The audit log (审计日志) for people: words, names, links, filters, pages."""
    session = get_session()
    townships = township_choices(session)
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = [("", _("All actions"))] + sorted(
        ((code, str(label)) for code, label in audit.ACTION_LABELS.items()),
        key=lambda choice: choice[1],
    )
    form.township.choices = [("", _("All townships"))] + townships
    page = None
    try:
        query = audit.parse_query(
            action=form.action.data or "",
            actor=form.actor.data or "",
            township=form.township.data or "",
            since=form.since.data or "",
            until=form.until.data or "",
            townships=dict(townships),
        )
    except DomainError as error:
        form_error(form, error)
    else:
        page = audit.search(session, query, page=page_number(), per_page=page_size())
    return render("admin/audit.html", block="results", form=form, page=page)


@bp.route("/outbox")
@roles_required(Role.ADMIN)
def outbox():
    session = get_session()
    return render(
        "admin/outbox.html",
        counts=notify_services.status_counts(session),
        page=notify_services.failed_page(session, page=page_number(), per_page=page_size()),
    )


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@roles_required(Role.ADMIN)
def outbox_retry(message_id: int):
    if notify_services.retry_failed(get_session(), message_id=message_id):
        audit.record_request("outbox.retried", target_type="outbox_message", target_id=message_id)
        flash(_("The message is queued again and will be sent shortly."), "success")
    else:
        flash(_("Only failed messages can be retried."), "error")
    return see_other("admin.outbox")


@bp.route("/outbox/<int:message_id>/cancel", methods=["POST"])
@roles_required(Role.ADMIN)
def outbox_cancel(message_id: int):
    if notify_services.cancel_failed(get_session(), message_id=message_id):
        audit.record_request("outbox.cancelled", target_type="outbox_message", target_id=message_id)
        flash(_("The message is cancelled."), "success")
    else:
        flash(_("Only failed or waiting messages can be cancelled."), "error")
    return see_other("admin.outbox")
