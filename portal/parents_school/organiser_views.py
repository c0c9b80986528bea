"""Organisers' pages of the parents' school: lectures, check-in, the sign-in sheet, feedback,
the annual plan; and the public feedback form reached from a text message.

Lecture organisers, county staff and admins open the pages; only organisers change anything
(the routes that only write are theirs alone). Which lectures each one reaches is decided by
`services.scope` / `services.get_lecture` (another office's lecture answers 404).
"""

from __future__ import annotations

import io

from flask import flash, request, send_file
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal.auth.labels import office_label
from portal.auth.models import Role
from portal.core.domain import DomainError
from portal.db import discard_writes, get_session
from portal.i18n import N_
from portal.pagination import paginate
from portal.parents_school import booking as booking_rules
from portal.parents_school import services
from portal.parents_school.forms import (
    AttendanceForm,
    CancelForm,
    CapacityForm,
    FeedbackForm,
    LectureForm,
    PlanForm,
    RepeatForm,
    SearchForm,
    WalkInForm,
    options,
)
from portal.parents_school.views import bp
from portal.places import township_choices
from portal.security import public, roles_required
from portal.timeutil import SHANGHAI, utcnow
from portal.web import flash_error, form_error, page_number, page_size, render, see_other

VIEWERS = (Role.LECTURE_ORGANISER, Role.COUNTY_STAFF, Role.ADMIN)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _labels() -> dict:
    return {
        "topic_labels": services.TOPIC_LABELS,
        "lecture_status_labels": services.LECTURE_STATUS_LABELS,
        "booking_status_labels": booking_rules.STATUS_LABELS,
        "relation_labels": booking_rules.RELATION_LABELS,
        "townships": dict(township_choices(get_session())),
        "office_label": office_label,
        "now": utcnow(),
    }


def _status(default: int = 200) -> int:
    return 422 if request.method == "POST" else default


# The list -----------------------------------------------------------------------------------


@bp.route("/parents-school/manage/")
@roles_required(*VIEWERS)
def manage():
    session = get_session()
    past = request.args.get("show") == "past"
    page = paginate(
        session,
        services.list_statement(current_user, upcoming=not past),
        page=page_number(),
        per_page=page_size(),
    )
    page = page.with_items(services.rows(session, page.items))
    return render(
        "parents_school/manage.html",
        block="results",
        page=page,
        past=past,
        organiser=services.is_organiser(current_user),
        county_wide=services.sees_all(current_user),
        **_labels(),
    )


# Creating and changing ---------------------------------------------------------------------


def _lecture_form(form: LectureForm) -> LectureForm:
    form.township_code.choices = options(
        [("", "—"), *services.township_options(get_session(), current_user)]
    )
    return form


def _form_page(form, *, lecture=None, status: int = 200):
    return render(
        "parents_school/lecture_form.html",
        form=form,
        lecture=lecture,
        office=office_label(current_user.office),
        status=status,
        **_labels(),
    )


@bp.route("/parents-school/manage/new", methods=["GET", "POST"])
@roles_required(Role.LECTURE_ORGANISER)
def lecture_new():
    session = get_session()
    services.require_organiser(current_user)
    form = _lecture_form(LectureForm())
    if request.method == "GET":
        choices = services.township_options(session, current_user)
        if len(choices) == 1:
            form.township_code.data = choices[0][0]
    if form.validate_on_submit():
        try:
            lecture = services.create(
                session, current_user, form.data_for_service(), ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The lecture is scheduled; guardians can book it now."), "success")
            return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    return _form_page(form, status=_status())


@bp.route("/parents-school/manage/<int:lecture_id>")
@roles_required(*VIEWERS)
def manage_lecture(lecture_id: int):
    session = get_session()
    lecture = services.get_lecture(session, current_user, lecture_id)
    page = paginate(
        session,
        services.bookings_statement(lecture.id),
        page=page_number(),
        per_page=page_size(),
    )
    return render(
        "parents_school/manage_lecture.html",
        block="bookings",
        lecture=lecture,
        page=page,
        can=services.permissions(current_user, lecture),
        waiting=booking_rules.waiting_count(session, lecture.id),
        attendance=services.attendance(session, lecture),
        feedback=services.feedback_summary(session, lecture),
        series=_series(session, lecture),
        ended=services.ended(lecture),
        **_labels(),
    )


def _series(session, lecture) -> list:
    if lecture.series_id is None:
        return []
    from sqlmodel import select

    from portal.parents_school.models import Lecture

    statement = services.scope(
        select(Lecture).where(Lecture.series_id == lecture.series_id, Lecture.id != lecture.id),
        current_user,
    ).order_by(Lecture.starts_at)
    return list(session.exec(statement.limit(50)))


@bp.route("/parents-school/manage/<int:lecture_id>/edit", methods=["GET", "POST"])
@roles_required(Role.LECTURE_ORGANISER)
def lecture_edit(lecture_id: int):
    session = get_session()
    lecture = services.get_for_change(session, current_user, lecture_id)
    if not services.permissions(current_user, lecture).change:
        flash(_("A lecture that has started or is cancelled can no longer be changed."), "error")
        return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    form = _lecture_form(
        LectureForm(data=services.form_values(lecture))
        if request.method == "GET"
        else LectureForm()
    )
    if form.validate_on_submit():
        try:
            told = services.update_lecture(
                session, current_user, lecture, form.data_for_service(), ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if told:
                flash(
                    ngettext(
                        "The lecture is changed; a text message is recorded for %(num)d guardian "
                        "(text messages are not sent to phones yet).",
                        "The lecture is changed; text messages are recorded for %(num)d guardians "
                        "(text messages are not sent to phones yet).",
                        told,
                    ),
                    "success",
                )
            else:
                flash(_("The lecture is changed."), "success")
            return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    return _form_page(form, lecture=lecture, status=_status())


@bp.route("/parents-school/manage/<int:lecture_id>/repeat", methods=["GET", "POST"])
@roles_required(Role.LECTURE_ORGANISER)
def lecture_repeat(lecture_id: int):
    session = get_session()
    lecture = services.get_for_change(session, current_user, lecture_id)
    form = RepeatForm()
    choices = options([("", "—"), *services.township_options(session, current_user)])
    for row in form.rows:
        row.township_code.choices = choices
    if form.validate_on_submit():
        try:
            made = services.repeat(
                session, current_user, lecture, form.rows_for_service(), ip=request.remote_addr
            )
        except DomainError as error:
            _put_row_problems(form, error)
        else:
            flash(
                ngettext(
                    "%(num)d more lecture is scheduled.",
                    "%(num)d more lectures are scheduled.",
                    len(made),
                ),
                "success",
            )
            return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    return render(
        "parents_school/lecture_form_repeat.html",
        form=form,
        lecture=lecture,
        start_text=f"{lecture.starts_at.astimezone(SHANGHAI):%H:%M}",
        end_text=f"{lecture.ends_at.astimezone(SHANGHAI):%H:%M}",
        status=_status(),
        **_labels(),
    )


def _put_row_problems(form: RepeatForm, error: DomainError) -> None:
    """A row's problem on its field (`rows-2-day`); others above the form. Nothing is kept."""
    for problem in getattr(error, "problems", [error]):
        message = problem.translated()
        target = None
        if problem.field and problem.field.startswith("rows-"):
            _rows, index, name = problem.field.split("-", 2)
            target = form.rows[int(index)][name]
        if target is not None:
            target.errors = [*target.errors, message]
        else:
            form.form_errors.append(message)
    discard_writes()


@bp.route("/parents-school/manage/<int:lecture_id>/capacity", methods=["GET", "POST"])
@roles_required(Role.LECTURE_ORGANISER)
def lecture_capacity(lecture_id: int):
    session = get_session()
    lecture = services.get_for_change(session, current_user, lecture_id)
    if not services.permissions(current_user, lecture).change:
        flash(_("A lecture that has started or is cancelled can no longer be changed."), "error")
        return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    form = (
        CapacityForm(data={"capacity": str(lecture.capacity)})
        if request.method == "GET"
        else CapacityForm()
    )
    if form.validate_on_submit():
        try:
            promoted = services.change_capacity(
                session, current_user, lecture, form.capacity.data, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if promoted:
                flash(
                    ngettext(
                        "The capacity is changed; %(num)d booking on the waiting list is confirmed.",
                        "The capacity is changed; %(num)d bookings on the waiting list are confirmed.",
                        len(promoted),
                    ),
                    "success",
                )
            else:
                flash(_("The capacity is changed."), "success")
            return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    return render(
        "parents_school/lecture_form_capacity.html",
        form=form,
        lecture=lecture,
        waiting=booking_rules.waiting_count(session, lecture.id),
        status=_status(),
        **_labels(),
    )


@bp.route("/parents-school/manage/<int:lecture_id>/cancel", methods=["GET", "POST"])
@roles_required(Role.LECTURE_ORGANISER)
def lecture_cancel(lecture_id: int):
    session = get_session()
    lecture = services.get_for_change(session, current_user, lecture_id)
    if not services.permissions(current_user, lecture).change:
        flash(_("A lecture that has started or is cancelled can no longer be changed."), "error")
        return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            told = services.cancel_lecture(
                session, current_user, lecture, form.reason.data, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                ngettext(
                    "The lecture is cancelled; a text message is recorded for %(num)d guardian "
                    "(text messages are not sent to phones yet).",
                    "The lecture is cancelled; text messages are recorded for %(num)d guardians "
                    "(text messages are not sent to phones yet).",
                    told,
                ),
                "success",
            )
            return see_other("parents_school.manage_lecture", lecture_id=lecture.id)
    return render(
        "parents_school/manage_cancel.html",
        form=form,
        lecture=lecture,
        live=len(services.live_bookings(session, lecture.id)),
        status=_status(),
        **_labels(),
    )


# Check-in -------------------------------------------------------------------------------------


def _checkin_page(
    lecture, *, query=None, attendance_form=None, walk_in_form=None, status: int = 200
):
    session = get_session()
    search = SearchForm(request.args) if query is None else SearchForm(data={"q": query})
    query = (search.q.data or "").strip()[:40]
    found = services.find_bookings(session, lecture, query) if query else []
    walk_in_form = walk_in_form or WalkInForm(
        formdata=None, data={"walk_ins": str(lecture.walk_ins)}
    )
    return render(
        "parents_school/checkin.html",
        block="panel",
        lecture=lecture,
        search=search,
        query=query,
        found=found,
        attendance_form=attendance_form,
        walk_in_form=walk_in_form,
        attendance=services.attendance(session, lecture),
        checked_in=_checked_in(session, lecture),
        can=services.permissions(current_user, lecture),
        status=status,
        **_labels(),
    )


def _checked_in(session, lecture) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from portal.parents_school.models import Booking

    return session.exec(
        select(func.count()).where(Booking.lecture_id == lecture.id, Booking.attended > 0)
    ).one()


@bp.route("/parents-school/manage/<int:lecture_id>/checkin", methods=["GET", "POST"])
@roles_required(*VIEWERS)
def checkin(lecture_id: int):
    session = get_session()
    lecture = services.get_lecture(session, current_user, lecture_id)
    if request.method == "GET":
        return _checkin_page(lecture)
    services.require_organiser(current_user)
    query = (request.form.get("q") or "").strip()[:40]
    if request.form.get("action") == "walk_ins":
        form = WalkInForm()
        if form.validate_on_submit():
            try:
                services.set_walk_ins(
                    session, current_user, lecture, form.walk_ins.data, ip=request.remote_addr
                )
            except DomainError as error:
                form_error(form, error)
            else:
                flash(_("Walk-ins recorded."), "success")
                return see_other("parents_school.checkin", lecture_id=lecture.id)
        return _checkin_page(lecture, walk_in_form=form, status=422)
    form = AttendanceForm()
    if form.validate_on_submit():
        try:
            booking = services.set_attended(
                session,
                current_user,
                lecture,
                form.booking_id.data,
                form.attended.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _(
                    "%(name)s: %(seats)d of %(booked)d seats checked in.",
                    name=booking.name,
                    seats=booking.attended,
                    booked=booking.seats,
                ),
                "success",
            )
            return see_other("parents_school.checkin", lecture_id=lecture.id)
    return _checkin_page(lecture, query=query, attendance_form=form, status=422)


# The sign-in sheet (签到表) ----------------------------------------------------------------------


@bp.route("/parents-school/manage/<int:lecture_id>/sign-in-sheet")
@roles_required(*VIEWERS)
def checkin_sheet(lecture_id: int):
    session = get_session()
    lecture = services.get_lecture(session, current_user, lecture_id)
    return render(
        "parents_school/checkin_sheet.html",
        lecture=lecture,
        rows=services.sheet_rows(session, lecture),
        blank_rows=10,
        **_labels(),
    )


@bp.route("/parents-school/manage/<int:lecture_id>/sign-in-sheet.xlsx")
@roles_required(*VIEWERS)
def checkin_sheet_xlsx(lecture_id: int):
    session = get_session()
    lecture = services.get_lecture(session, current_user, lecture_id)
    data = services.sign_in_sheet_xlsx(session, current_user, lecture, ip=request.remote_addr)
    day = lecture.starts_at.astimezone(SHANGHAI)
    response = send_file(
        io.BytesIO(data),
        mimetype=XLSX_TYPE,
        as_attachment=True,
        download_name=f"sign-in-sheet-{lecture.id}-{day:%Y%m%d}.xlsx",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    return response


# The annual plan ------------------------------------------------------------------------------


@bp.route("/parents-school/plan")
@roles_required(*VIEWERS)
def plan():
    now = utcnow()
    years = services.plan_years(now)
    form = PlanForm(request.args)
    form.year.choices = options([(y, str(y)) for y in years])
    try:
        year = int(request.args.get("year", ""))
    except ValueError:
        year = 0
    if not services.FIRST_YEAR <= year <= services.LAST_YEAR:
        this_year = now.astimezone(SHANGHAI).date()
        year = services.term_of(this_year)[0]
    form.year.data = str(year)
    rows = services.plan(get_session(), current_user, year, now=now)
    spring, autumn = services.terms(year)
    return render(
        "parents_school/plan.html",
        form=form,
        year=year,
        rows=rows,
        offices=[r for r in rows if r.kind == "office"],
        township_rows=[r for r in rows if r.kind == "township"],
        spring=spring,
        autumn=autumn,
        met=sum(1 for r in rows if r.met),
    )


# Feedback (public, from the text message) -------------------------------------------------------


@bp.route("/lectures/feedback/<token>", methods=["GET", "POST"])
@public
def feedback(token: str):
    session = get_session()
    booking = services.booking_for_token(session, token)
    from portal.parents_school.models import Lecture

    lecture = session.get(Lecture, booking.lecture_id)
    given = services.feedback_for(session, booking.id)
    form = FeedbackForm()
    if given is None and form.validate_on_submit():
        try:
            services.give_feedback(
                session,
                booking,
                rating=form.rating.data,
                comment=form.comment.data,
                topics=form.topics.data,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Thank you: the organisers will read your opinion."), "success")
            return see_other("parents_school.feedback", token=token)
    elif given is not None and request.method == "POST":
        flash_error(services.LectureError(N_("Your opinion on this lecture was already received.")))
    return render(
        "parents_school/feedback.html",
        form=form,
        lecture=lecture,
        given=given,
        token=token,
        status=_status() if given is None else 200,
        **_labels(),
    )
