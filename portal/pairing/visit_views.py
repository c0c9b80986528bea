"""Pages of visits and of the volunteer's own pairings (routes on the area's blueprint).

The volunteer's pages (/pairing/mine/…) show only what the visits need of the child
(`visits.child_for_volunteer`); the templates never receive the child's record.
"""

from __future__ import annotations

from flask import flash, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.models import Role
from portal.core.domain import DomainError
from portal.db import get_session
from portal.pagination import paginate
from portal.pairing import services, visits
from portal.pairing.models import Child, PairingStatus, Visit, VisitStatus
from portal.pairing.views import bp
from portal.pairing.visit_forms import DeclineForm, ReturnForm, VisitFilterForm, VisitForm
from portal.security import roles_required
from portal.timeutil import china_today
from portal.volunteers.hours import format_hours
from portal.volunteers.models import Volunteer
from portal.web import flash_error, form_error, page_number, page_size, render, see_other

STAFF = (Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN)


def _labels() -> dict:
    return {
        "status_labels": services.STATUS_LABELS,
        "visit_status_labels": visits.VISIT_STATUS_LABELS,
        "mode_labels": visits.MODE_LABELS,
        "help_labels": visits.HELP_LABELS,
        "condition_labels": visits.CONDITION_LABELS,
        "need_labels": visits.NEED_LABELS,
        "relation_labels": visits.RELATION_LABELS,
        "format_hours": format_hours,
    }


# The volunteer's pairings -------------------------------------------------------------------


@bp.route("/mine/")
@roles_required(Role.VOLUNTEER)
def mine():
    rows = visits.mine(get_session(), current_user)
    return render(
        "pairing/mine.html",
        rows=rows,
        open_rows=[r for r in rows if r.pairing.status != PairingStatus.CLOSED],
        closed_rows=[r for r in rows if r.pairing.status == PairingStatus.CLOSED],
        **_labels(),
    )


def _mine_detail(pairing_id: int, *, decline_form=None, status: int = 200):
    detail = visits.mine_detail(get_session(), current_user, pairing_id)
    next_due = (
        visits.in_days(detail.gap_start, visits.reminder_days()) if detail.gap_start else None
    )
    return render(
        "pairing/mine_detail.html",
        detail=detail,
        pairing=detail.pairing,
        child=detail.child,
        next_due=next_due,
        today=china_today(),
        decline_form=decline_form or DeclineForm(formdata=None),
        status=status,
        **_labels(),
    )


@bp.route("/mine/<int:pairing_id>")
@roles_required(Role.VOLUNTEER)
def mine_detail(pairing_id: int):
    return _mine_detail(pairing_id)


@bp.route("/mine/<int:pairing_id>/answer", methods=["POST"])
@roles_required(Role.VOLUNTEER)
def mine_answer(pairing_id: int):
    session = get_session()
    pairing = services.get_pairing_for_volunteer(session, current_user, pairing_id)
    accept = request.form.get("decision") == "accept"
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            services.answer(
                session,
                pairing,
                user=current_user,
                accept=accept,
                reason=None if accept else form.reason.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if accept:
                flash(
                    _(
                        "Thank you for accepting. Township staff will now ask the guardian's "
                        "consent; you will be told when the pairing is active."
                    ),
                    "success",
                )
            else:
                flash(_("You declined the proposal. Township staff are told."), "success")
            return see_other("pairing.mine_detail", pairing_id=pairing.id)
    return _mine_detail(pairing_id, decline_form=form, status=422)


# Logging and correcting visits -----------------------------------------------------------------


def _visit_form_page(form, *, pairing, visit=None, status: int = 200):
    child = visits.child_for_volunteer(get_session().get(Child, pairing.child_id), pairing)
    return render(
        "pairing/visit_form.html",
        form=form,
        pairing=pairing,
        visit=visit,
        child=child,
        status=status,
        **_labels(),
    )


@bp.route("/mine/<int:pairing_id>/visits/new", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def visit_new(pairing_id: int):
    session = get_session()
    pairing = services.get_pairing_for_volunteer(session, current_user, pairing_id)
    if not visits.can_log(pairing):
        flash(_("Visits are logged for an active pairing only."), "error")
        return see_other("pairing.mine_detail", pairing_id=pairing.id)
    form = VisitForm()
    if request.method == "GET":
        form.visited_on.data = china_today()
    if form.validate_on_submit():
        try:
            visit = visits.log(
                session,
                pairing,
                user=current_user,
                values=form.data_for_service(),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if visit.safety_concern:
                flash(
                    _(
                        "The visit is logged. Township staff have been alerted to the safety problem."
                    ),
                    "success",
                )
            else:
                flash(_("The visit is logged. Township staff will confirm it."), "success")
            return see_other("pairing.mine_detail", pairing_id=pairing.id)
    return _visit_form_page(form, pairing=pairing, status=422 if request.method == "POST" else 200)


@bp.route("/mine/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def visit_edit(visit_id: int):
    session = get_session()
    visit, pairing = visits.get_visit_for_volunteer(session, current_user, visit_id)
    if visit.status != VisitStatus.RETURNED:
        flash(_("Only a visit returned by township staff can be corrected."), "error")
        return see_other("pairing.mine_detail", pairing_id=pairing.id)
    form = VisitForm(data=visits.form_values(visit)) if request.method == "GET" else VisitForm()
    if form.validate_on_submit():
        try:
            visits.resubmit(
                session,
                visit,
                user=current_user,
                values=form.data_for_service(),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The corrected visit is sent. Township staff will confirm it."), "success")
            return see_other("pairing.mine_detail", pairing_id=pairing.id)
    return _visit_form_page(
        form, pairing=pairing, visit=visit, status=422 if request.method == "POST" else 200
    )


# Township staff ----------------------------------------------------------------------------------


@bp.route("/visits/", endpoint="visits")
@roles_required(*STAFF)
def visits_list():
    session = get_session()
    form = VisitFilterForm(request.args)
    status = form.status.data if form.status.data in (*VisitStatus, "all") else "logged"
    form.status.data = status
    page = paginate(
        session,
        visits.staff_statement(current_user, status="" if status == "all" else status),
        page=page_number(),
        per_page=page_size(),
    )
    page = page.with_items(visits.staff_rows(session, page.items))
    return render(
        "pairing/visits.html", block="results", form=form, page=page, shown=status, **_labels()
    )


def _visit_page(visit: Visit, pairing, *, return_form=None, status: int = 200):
    session = get_session()
    child = session.get(Child, pairing.child_id)
    volunteer = session.get(Volunteer, pairing.volunteer_id)
    return render(
        "pairing/visit_detail.html",
        visit=visit,
        pairing=pairing,
        child=child,
        volunteer=volunteer,
        return_form=return_form or ReturnForm(formdata=None),
        can_decide=visit.status == VisitStatus.LOGGED,
        status=status,
        **_labels(),
    )


@bp.route("/visits/<int:visit_id>")
@roles_required(*STAFF)
def visit_detail(visit_id: int):
    visit, pairing = visits.get_visit_for_staff(get_session(), current_user, visit_id)
    return _visit_page(visit, pairing)


@bp.route("/visits/<int:visit_id>/confirm", methods=["POST"])
@roles_required(*STAFF)
def visit_confirm(visit_id: int):
    session = get_session()
    visit, pairing = visits.get_visit_for_staff(session, current_user, visit_id)
    try:  # a button with nothing typed (CSRF is checked for every POST)
        record = visits.confirm(session, visit, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        flash(
            _(
                "The visit is confirmed; %(hours)s hours are credited to the volunteer.",
                hours=format_hours(record.minutes),
            ),
            "success",
        )
    return see_other("pairing.visit_detail", visit_id=visit.id)


@bp.route("/visits/<int:visit_id>/return", methods=["POST"])
@roles_required(*STAFF)
def visit_return(visit_id: int):
    session = get_session()
    visit, pairing = visits.get_visit_for_staff(session, current_user, visit_id)
    form = ReturnForm()
    if form.validate_on_submit():
        try:
            visits.return_visit(
                session,
                visit,
                actor=current_user,
                comment=form.comment.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The visit is returned to the volunteer with your comment."), "success")
            return see_other("pairing.visit_detail", visit_id=visit.id)
    return _visit_page(visit, pairing, return_form=form, status=422)
