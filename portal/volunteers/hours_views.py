"""Service hours and certificates: staff entry, the certificate page, public verification.

- `/volunteers/staff/<id>/hours`: the records of one volunteer, an activity to add, records
  to void and certificates to issue (staff of the volunteer's township, county staff, admins);
- `/volunteers/certificates/<number>`: the printable certificate, for its volunteer and staff;
- `/volunteers/certificates/verify`: anyone checks a number (rate-limited, never cached);
- `/volunteers/staff/party-record`: Party members' quarterly service record for employers.
"""

from __future__ import annotations

import io
from datetime import date

from flask import flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.core.domain import DomainError
from portal.core.forms import DateInRange, PortalForm
from portal.db import get_session
from portal.extensions import limiter
from portal.pagination import paginate
from portal.security import configured_limit, login_required, public, roles_required
from portal.timeutil import china_today
from portal.volunteers import hours, services
from portal.volunteers.forms import ChoiceField, options
from portal.volunteers.views import STAFF, _labels, bp
from portal.web import (
    absolute_url,
    form_error,
    page_number,
    page_size,
    render,
    see_other,
)

_MAX = _l("At most %(max)d characters.")
CONTENT_MAX, ISSUER_MAX = hours.CONTENT_MAX, hours.ISSUER_MAX


# Forms ---------------------------------------------------------------------------------------


class ActivityForm(PortalForm):
    served_on = DateField(
        _l("Date of the service"),
        validators=[DataRequired(_l("Enter the date of the service.")), DateInRange()],
    )
    hours = StringField(
        _l("Hours"),
        validators=[Optional(), Length(max=6, message=_MAX)],
        description=_l("Such as 1.5: at most one decimal. Or give the minutes instead."),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    minutes = StringField(
        _l("Or minutes"),
        validators=[Optional(), Length(max=5, message=_MAX)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    content = TextAreaField(
        _l("What was done"),
        validators=[
            DataRequired(_l("Describe the service.")),
            Length(max=CONTENT_MAX, message=_MAX),
        ],
        render_kw={"rows": 3, "maxlength": CONTENT_MAX},
    )


class ReasonForm(PortalForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Give the reason.")),
            Length(max=services.REASON_MAX, message=_MAX),
        ],
        render_kw={"rows": 3, "maxlength": services.REASON_MAX},
    )


class PeriodForm(PortalForm):
    """The period of a certificate, chosen first (a GET form: the page shows its hours)."""

    class Meta:
        csrf = False

    period_start = DateField(
        _l("From"), validators=[DataRequired(_l("Enter the date.")), DateInRange()]
    )
    period_end = DateField(
        _l("To"), validators=[DataRequired(_l("Enter the date.")), DateInRange()]
    )


class IssueForm(PeriodForm):
    class Meta:
        csrf = True

    content = TextAreaField(
        _l("Service content stated on the certificate"),
        validators=[
            DataRequired(_l("Describe the service.")),
            Length(max=CONTENT_MAX, message=_MAX),
        ],
        render_kw={"rows": 4, "maxlength": CONTENT_MAX},
    )
    issuer = StringField(
        _l("Issued by"),
        validators=[
            DataRequired(_l("Enter the issuing organisation.")),
            Length(max=ISSUER_MAX, message=_MAX),
        ],
        render_kw={"maxlength": ISSUER_MAX},
    )


class NumberForm(PortalForm):
    class Meta:
        csrf = False

    number = StringField(
        _l("Certificate number"),
        validators=[
            DataRequired(_l("Enter the certificate number.")),
            Length(max=30, message=_MAX),
        ],
        description=_l("As printed on the certificate, such as ZM2026000001."),
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )


QUARTERS = (
    ("1", _l("First quarter (January to March)")),
    ("2", _l("Second quarter (April to June)")),
    ("3", _l("Third quarter (July to September)")),
    ("4", _l("Fourth quarter (October to December)")),
)


class PartyForm(PortalForm):
    class Meta:
        csrf = False

    year = ChoiceField(_l("Year"))
    quarter = ChoiceField(_l("Quarter"), choices=options(QUARTERS))
    employer = StringField(
        _l("Employer (optional)"),
        validators=[Optional(), Length(max=60, message=_MAX)],
        description=_l("Only Party members whose employer contains this text."),
    )

    def set_years(self, today: date) -> None:
        self.year.choices = options((str(y), str(y)) for y in range(today.year, 1999, -1))

    def year_and_quarter(self) -> tuple[int, int]:
        """The chosen year and quarter, or a field error (raised by the services' check)."""

        def number(value) -> int | None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None

        return hours.check_quarter(number(self.year.data), number(self.quarter.data))


# Staff: one volunteer's hours ----------------------------------------------------------------


def _staff_record(volunteer_id: int):
    return services.get_for_staff(get_session(), current_user, volunteer_id)


def _hours_page(volunteer, form: ActivityForm, *, status: int = 200):
    session = get_session()
    return render(
        "volunteers/hours.html",
        volunteer=volunteer,
        summary=hours.summary(session, volunteer, recent=0),
        page=paginate(
            session,
            hours.records_statement(volunteer.id),
            page=page_number(),
            per_page=page_size(),
        ),
        can=services.permissions(current_user, volunteer),
        form=form,
        format_hours=hours.format_hours,
        status=status,
    )


@bp.route("/staff/<int:volunteer_id>/hours", methods=["GET", "POST"])
@roles_required(*STAFF)
def staff_hours(volunteer_id: int):
    session = get_session()
    volunteer = _staff_record(volunteer_id)
    if request.method == "GET":
        return _hours_page(
            volunteer, ActivityForm(formdata=None, data={"served_on": china_today()})
        )
    form = ActivityForm()
    valid = form.validate_on_submit()
    minutes = None
    if not form.hours.errors and not form.minutes.errors:
        try:  # shown with the form's own errors, so every wrong field is marked at once
            minutes = hours.parse_duration(form.hours.data, form.minutes.data)
        except DomainError as error:
            form_error(form, error)
    if valid and minutes is not None:
        try:
            hours.add_activity(
                session,
                volunteer,
                actor=current_user,
                served_on=form.served_on.data,
                minutes=minutes,
                content=form.content.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _("%(hours)s hours recorded.", hours=hours.format_hours(minutes)),
                "success",
            )
            return see_other("volunteers.staff_hours", volunteer_id=volunteer.id)
    return _hours_page(volunteer, form, status=422)


@bp.route("/staff/<int:volunteer_id>/hours/<int:record_id>/void", methods=["GET", "POST"])
@roles_required(*STAFF)
def staff_void_record(volunteer_id: int, record_id: int):
    """Confirm, with a reason, that a record is taken out of the hours."""
    session = get_session()
    volunteer = _staff_record(volunteer_id)
    record = hours.record_of(session, volunteer, record_id)
    form = ReasonForm(formdata=None) if request.method == "GET" else ReasonForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            hours.void_record(
                session, record, actor=current_user, reason=form.reason.data, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The record is voided; its hours no longer count."), "success")
            return see_other("volunteers.staff_hours", volunteer_id=volunteer.id)
    return render(
        "volunteers/hours_void.html",
        volunteer=volunteer,
        record=record,
        covering=hours.certificates_covering(session, record),
        form=form,
        format_hours=hours.format_hours,
        status=422 if request.method == "POST" else 200,
    )


# Staff: issuing and revoking certificates -----------------------------------------------------


def _period_form(volunteer) -> PeriodForm:
    """The period from the query, or from the first counted service day to today."""
    if "period_start" in request.args or "period_end" in request.args:
        form = PeriodForm(formdata=request.args)
        if form.validate():
            try:
                hours.check_period(form.period_start.data, form.period_end.data)
            except DomainError as error:
                form_error(form, error)
        return form
    today = china_today()
    first = hours.first_service_day(get_session(), volunteer.id) or today
    return PeriodForm(formdata=None, data={"period_start": min(first, today), "period_end": today})


@bp.route("/staff/<int:volunteer_id>/certificates/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def staff_issue_certificate(volunteer_id: int):
    session = get_session()
    volunteer = _staff_record(volunteer_id)
    if request.method == "POST":
        form = IssueForm()
        if form.validate_on_submit():
            try:
                certificate = hours.issue_certificate(
                    session,
                    volunteer,
                    actor=current_user,
                    period_start=form.period_start.data,
                    period_end=form.period_end.data,
                    content=form.content.data,
                    issuer=form.issuer.data,
                    ip=request.remote_addr,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                flash(_("Certificate %(number)s is issued.", number=certificate.number), "success")
                return see_other("volunteers.certificate_page", number=certificate.number)
        period = form
    else:
        period = _period_form(volunteer)
        form = None
    start, end = period.period_start.data, period.period_end.data
    minutes = None
    if (
        isinstance(start, date)
        and isinstance(end, date)
        and not (period.period_start.errors or period.period_end.errors)
    ):
        minutes = hours.total_minutes(session, volunteer.id, start=start, end=end)
    if form is None:
        form = IssueForm(
            formdata=None,
            data={
                "period_start": start,
                "period_end": end,
                "content": hours.default_content(session, volunteer, start, end) if minutes else "",
                "issuer": hours.default_issuer(session, current_user),
            },
        )
    return render(
        "volunteers/certificate_issue.html",
        volunteer=volunteer,
        period=period,
        form=form,
        minutes=minutes,
        can=services.permissions(current_user, volunteer),
        format_hours=hours.format_hours,
        status=422 if request.method == "POST" else 200,
    )


@bp.route("/certificates/<number>")
@login_required
def certificate_page(number: str):
    """The printable certificate: for its volunteer and for staff in scope (others 404)."""
    session = get_session()
    certificate = hours.certificate_for(session, current_user, number)
    staff = services.is_staff(current_user)  # certificate_for let only staff in scope through
    return render(
        "volunteers/certificate_page.html",
        certificate=certificate,
        is_staff=staff,
        can_revoke=staff and certificate.revoked_at is None,
        hours_text=hours.format_hours(certificate.minutes),
        verify_url=absolute_url("volunteers.verify_certificate"),
        id_type_labels=services.ID_TYPE_LABELS,
    )


@bp.route("/certificates/<number>/revoke", methods=["GET", "POST"])
@roles_required(*STAFF)
def certificate_revoke(number: str):
    """Confirm, with a reason, that a certificate no longer holds."""
    session = get_session()
    certificate = hours.certificate_for(session, current_user, number)
    form = ReasonForm(formdata=None) if request.method == "GET" else ReasonForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            hours.revoke_certificate(
                session,
                certificate,
                actor=current_user,
                reason=form.reason.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Certificate %(number)s is revoked.", number=certificate.number), "success")
            return see_other("volunteers.certificate_page", number=certificate.number)
    return render(
        "volunteers/certificate_revoke.html",
        certificate=certificate,
        form=form,
        hours_text=hours.format_hours(certificate.minutes),
        status=422 if request.method == "POST" else 200,
    )


# Public verification ---------------------------------------------------------------------------


_verify_limit = configured_limit("PORTAL_VERIFY_RATE_LIMIT")


@bp.route("/certificates/verify")
@limiter.limit(_verify_limit, exempt_when=lambda: not request.args.get("number"))
@public
def verify_certificate():
    """Anyone checks a certificate number; the answer shows a masked name and nothing more."""
    result = None
    asked = "number" in request.args
    form = NumberForm(formdata=request.args if asked else None)
    if asked and form.validate():
        try:
            result = hours.verify(get_session(), form.number.data)
        except DomainError as error:
            form_error(form, error)
    response = render("volunteers/verify.html", form=form, result=result)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# Party members' quarterly record ------------------------------------------------------------------


def _previous_quarter(today: date) -> tuple[int, int]:
    quarter = (today.month - 1) // 3 + 1
    return (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)


def _party_form() -> tuple[PartyForm, tuple[int, int] | None]:
    """The form from the query, and the (year, quarter) when it holds a valid choice."""
    today = china_today()
    asked = "year" in request.args or "quarter" in request.args
    if asked:
        form = PartyForm(formdata=request.args)
    else:
        year, quarter = _previous_quarter(today)
        form = PartyForm(formdata=None, data={"year": str(year), "quarter": str(quarter)})
    form.set_years(today)
    if not asked:
        return form, None
    valid = form.validate()
    try:
        chosen = form.year_and_quarter()
    except DomainError as error:
        form_error(form, error)
        return form, None
    return form, chosen if valid else None


@bp.route("/staff/party-record")
@roles_required(*STAFF)
def party_export():
    form, chosen = _party_form()
    members = None
    if chosen is not None:
        members = hours.party_quarter_rows(
            get_session(), current_user, *chosen, employer=form.employer.data
        )
    return render(
        "volunteers/party_export.html",
        form=form,
        chosen=chosen,
        members=members,
        total=sum(m.minutes for m in members or []),
        format_hours=hours.format_hours,
        scope=services.township_scope(current_user),
        **_labels(),
    )


@bp.route("/staff/party-record.xlsx")
@roles_required(*STAFF)
def party_export_xlsx():
    form, chosen = _party_form()
    if chosen is None:  # the choice is shown again with its errors
        return redirect(url_for("volunteers.party_export", **request.args.to_dict()), code=303)
    session = get_session()
    year, quarter = chosen
    employer = (form.employer.data or "").strip()
    members = hours.party_quarter_rows(session, current_user, year, quarter, employer=employer)
    data = _party_workbook(members, year, quarter)
    hours.record_party_export(
        session,
        current_user,
        year=year,
        quarter=quarter,
        employer=employer,
        members=len(members),
        ip=request.remote_addr,
    )
    response = send_file(
        io.BytesIO(data),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"party-record-{year}-Q{quarter}.xlsx",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _party_workbook(members: list[hours.PartyMember], year: int, quarter: int) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from portal.i18n import format_day

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Party members' service")[:31]
    first, last = hours.quarter_days(year, quarter)
    sheet.append(
        [
            _(
                "Party members' volunteer service, %(year)d quarter %(quarter)d (%(first)s to "
                "%(last)s)",
                year=year,
                quarter=quarter,
                first=format_day(first),
                last=format_day(last),
            )
        ]
    )
    sheet["A1"].font = Font(bold=True, size=13)
    headers = [
        _("Volunteer number"),
        _("Name"),
        _("Party organisation"),
        _("Employer"),
        _("Village or community where they report"),
        _("Date they reported"),
        _("Date of the service"),
        _("Service"),
        _("Hours"),
    ]
    sheet.append(headers)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for member in members:
        v = member.volunteer
        for record in member.records:
            _append_text(
                sheet,
                [
                    v.number,
                    v.name,
                    v.party_organisation or "",
                    v.employer or "",
                    v.residence_village or "",
                    v.report_date.isoformat() if v.report_date else "",
                    record.served_on.isoformat(),
                    record.content,
                ],
                round(record.minutes / 60, 2),
            )
        _append_text(
            sheet,
            [v.number, v.name, "", "", "", "", "", _("Total of %(name)s", name=v.name)],
            round(member.minutes / 60, 2),
        )
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    if not members:
        sheet.append([_("No Party member's service is recorded in this quarter.")])
    for column, width in zip("ABCDEFGHI", (15, 10, 24, 24, 20, 12, 12, 40, 8), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _append_text(sheet, texts: list[str], number: float) -> None:
    """A row of text cells (never read as formulas, whatever was typed) and the hours."""
    sheet.append([*texts, number])
    for cell in sheet[sheet.max_row][: len(texts)]:
        cell.data_type = "s"
