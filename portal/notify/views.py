"""The inbox (站内消息) and contact preferences of the logged-in user."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.core.domain import DomainError
from portal.db import get_session
from portal.notify import services
from portal.notify.forms import ContactPreferencesForm
from portal.security import login_required
from portal.web import form_error, page_number, page_size, render, see_other

bp = Blueprint("notify", __name__)


@bp.app_context_processor
def inbox_context():
    if not current_user.is_authenticated:
        return {"unread_messages": 0}
    return {"unread_messages": services.unread_count(get_session(), user_id=current_user.id)}


@bp.route("/inbox")
@login_required
def inbox():
    found = services.inbox_page(
        get_session(), user_id=current_user.id, page=page_number(), per_page=page_size()
    )
    return render("notify/inbox.html", block="messages", page=found)


@bp.route("/inbox/<int:message_id>/read", methods=["POST"])
@login_required
def mark_read(message_id: int):
    if not services.mark_read(get_session(), user_id=current_user.id, message_id=message_id):
        abort(404)
    return see_other("notify.inbox", page=request.form.get("page", 1, type=int))


@bp.route("/inbox/read-all", methods=["POST"])
@login_required
def mark_all_read():
    count = services.mark_read(get_session(), user_id=current_user.id)
    flash(_("%(num)d messages marked as read.", num=count), "success")
    return see_other("notify.inbox")


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    user = current_user._get_current_object()
    form = ContactPreferencesForm(obj=user)
    if form.validate_on_submit():
        try:
            services.set_preferences(
                get_session(),
                user=user,
                by_email=form.notify_by_email.data,
                by_sms=form.notify_by_sms.data,
                language=form.language.data,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Your contact preferences are saved."), "success")
            return see_other("notify.preferences")
    return render("notify/preferences.html", form=form, user=user)
