"""Children's records (staff only): the list, registration, the audited record, changes, leaving.

Township staff reach their own township's children only (another township's child answers
404); county staff and admins all; every other role is refused (403). Each showing of a record
is audited by `children.view`.
"""

from __future__ import annotations

from flask import current_app, flash, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.models import Role
from portal.core.domain import DomainError
from portal.db import get_session
from portal.pagination import paginate
from portal.pairing import children, services
from portal.pairing.forms import ChildFilterForm, ChildForm, LeaveForm, options
from portal.pairing.models import Child
from portal.pairing.views import bp
from portal.places import township_choices
from portal.security import roles_required
from portal.timeutil import china_today
from portal.volunteers.idnumber import age_on
from portal.web import form_error, page_number, page_size, render, see_other

STAFF = (Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN)


def _labels() -> dict:
    return {
        "status_labels": children.STATUS_LABELS,
        "sex_labels": children.SEX_LABELS,
        "volunteer_sex_labels": children.VOLUNTEER_SEX_LABELS,
        "need_labels": children.NEED_LABELS,
        "relation_labels": children.RELATION_LABELS,
        "consent_method_labels": children.CONSENT_METHOD_LABELS,
        "leave_labels": children.LEAVE_LABELS,
        "pairing_labels": services.STATUS_LABELS,
        "close_labels": services.CLOSE_LABELS,
        "townships": dict(township_choices(get_session())),
        "today": china_today(),
        "age_on": age_on,
        "pairing_url": pairing_url,
    }


def pairing_url(pairing_id: int) -> str:
    """The staff page of one pairing."""
    from flask import url_for

    if "pairing.detail" in current_app.view_functions:
        return url_for("pairing.detail", pairing_id=pairing_id)
    return f"{request.script_root}/pairing/{pairing_id}"


def _form_problems(session, form: ChildForm, current: Child | None) -> None:
    """The form's own checks failed: show the rules' verdict on the other fields too."""
    try:
        children.validate(session, current_user, form.data_for_service(), current=current)
    except children.InvalidChild as error:
        for problem in error.problems:
            field = form._fields.get(problem.field)
            if field is not None and not field.errors:
                form_error(form, problem)


# The list ------------------------------------------------------------------------------------


@bp.route("/children/", endpoint="children")
@roles_required(*STAFF)
def children_list():
    session = get_session()
    form = ChildFilterForm(request.args)
    form.township.choices = options(
        [("", _("All")), *children.township_options(session, current_user)]
    )
    form.validate()
    filters = children.ListFilters(
        q=(form.q.data or "")[:40],
        status=form.status.data or "",
        township=form.township.data or "",
        need=form.need.data or "",
    )
    page = paginate(
        session,
        children.list_statement(current_user, filters),
        page=page_number(),
        per_page=page_size(),
    )
    page = page.with_items(children.with_pairings(session, page.items))
    return render(
        "pairing/children.html",
        block="results",
        form=form,
        page=page,
        filters=filters,
        county_wide=children.township_scope(current_user).everywhere,
        **_labels(),
    )


# Registration and changes --------------------------------------------------------------------


@bp.route("/children/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def child_new():
    session = get_session()
    form = ChildForm()
    form.set_townships(children.township_options(session, current_user))
    if request.method == "GET" and current_user.township_code:
        form.township_code.data = current_user.township_code
    if form.validate_on_submit():
        try:
            child = children.create(
                session, form.data_for_service(), actor=current_user, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The child is registered as %(code)s.", code=child.code), "success")
            return see_other("pairing.child_detail", child_id=child.id)
    elif request.method == "POST":
        _form_problems(session, form, None)
    return render(
        "pairing/child_form.html",
        form=form,
        child=None,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


@bp.route("/children/<int:child_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def child_edit(child_id: int):
    session = get_session()
    if request.method == "GET":
        child = children.view(session, current_user, child_id, ip=request.remote_addr, page="edit")
        form = ChildForm(data=children.current_values(child))
    else:
        child = children.get_for_staff(session, current_user, child_id)
        form = ChildForm()
    form.set_townships(children.township_options(session, current_user))
    if form.validate_on_submit():
        try:
            changed = children.update(
                session, child, form.data_for_service(), actor=current_user, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _("The record is saved.") if changed else _("Nothing was changed."),
                "success" if changed else "info",
            )
            return see_other("pairing.child_detail", child_id=child.id)
    elif request.method == "POST":
        _form_problems(session, form, child)
    return render(
        "pairing/child_form.html",
        form=form,
        child=child,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


# The record ----------------------------------------------------------------------------------


@bp.route("/children/<int:child_id>")
@roles_required(*STAFF)
def child_detail(child_id: int):
    session = get_session()
    child = children.view(session, current_user, child_id, ip=request.remote_addr)
    history = children.history(session, child)
    open_pairing = next((p for p, _v in history if p.status in services.OPEN_STATUSES), None)
    return render(
        "pairing/child_detail.html",
        child=child,
        history=history,
        open_pairing=open_pairing,
        can=children.permissions(current_user, child),
        leave_form=LeaveForm(formdata=None),
        **_labels(),
    )


@bp.route("/children/<int:child_id>/leave", methods=["POST"])
@roles_required(*STAFF)
def child_leave(child_id: int):
    session = get_session()
    child = children.get_for_staff(session, current_user, child_id)
    form = LeaveForm()
    if form.validate_on_submit():
        if not form.confirm.data:
            form.confirm.errors = [*form.confirm.errors, _("Tick the box to confirm.")]
        else:
            try:
                counts = children.leave(
                    session,
                    child,
                    actor=current_user,
                    reason=form.reason.data or "",
                    note=form.note.data,
                    ip=request.remote_addr,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                message = _("%(code)s has left the programme.", code=child.code)
                if counts["closed"]:
                    message += " " + _("The active pairing is closed.")
                if counts["withdrawn"]:
                    message += " " + _("Open proposals are withdrawn.")
                flash(message, "success")
                return see_other("pairing.child_detail", child_id=child.id)
    return render(
        "pairing/child_leave.html",
        child=child,
        form=form,
        has_open=services.child_has_open_pairing(session, child.id),
        status=422,
        **_labels(),
    )
