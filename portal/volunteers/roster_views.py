"""Roster import and export: Excel in, Excel out, for township staff."""

from __future__ import annotations

import io

from flask import flash, request, send_file
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired

from portal.auth.models import Role
from portal.core.domain import DomainError
from portal.core.forms import PortalForm
from portal.db import get_session
from portal.pagination import Page
from portal.places import township_choices
from portal.security import reauth_required, roles_required
from portal.timeutil import china_today
from portal.volunteers import roster, services
from portal.volunteers.views import STAFF, bp
from portal.web import flash_error, form_error, page_number, page_size, render, see_other


class RosterForm(PortalForm):
    file = FileField(
        _l("Roster (Excel .xlsx, at most 5 MB and 20,000 rows)"),
        validators=[FileRequired(_l("Choose a file."))],
        description=_l("Fill in the template: one volunteer per row, the column names unchanged."),
    )


def _xlsx(data: bytes, name: str):
    response = send_file(
        io.BytesIO(data),
        mimetype=roster.XLSX_TYPE,
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    return response


def _filters() -> services.ListFilters:
    """The staff list's filters, read from the same query arguments."""
    args = request.args
    return services.ListFilters(
        q=args.get("q", "")[:40],
        status=args.get("status", ""),
        township=args.get("township", ""),
        category=args.get("category", ""),
        check=args.get("check", ""),
    )


# Export --------------------------------------------------------------------------------------


@bp.route("/staff/export.xlsx")
@roles_required(*STAFF)
def staff_export():
    data, _count = roster.export(get_session(), current_user, _filters(), ip=request.remote_addr)
    return _xlsx(data, f"志愿者名册-{china_today():%Y%m%d}.xlsx")


@bp.route("/staff/export-full.xlsx")
@roles_required(Role.ADMIN)
@reauth_required
def admin_export():
    data, _count = roster.export(
        get_session(), current_user, _filters(), full_ids=True, ip=request.remote_addr
    )
    return _xlsx(data, f"志愿者名册-含证件号码-{china_today():%Y%m%d}.xlsx")


# Import --------------------------------------------------------------------------------------


@bp.route("/staff/import-template.xlsx")
@roles_required(*STAFF)
def roster_template():
    return _xlsx(roster.template_workbook(get_session()), "志愿者名册导入模板.xlsx")


@bp.route("/staff/import", methods=["GET", "POST"])
@roles_required(*STAFF)
def roster_import():
    session = get_session()
    form = RosterForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            checked = roster.check_roster(
                session,
                actor=current_user,
                data=upload.read(roster.MAX_FILE_BYTES + 1),
                filename=upload.filename or "",
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            return see_other("volunteers.roster_report", import_id=checked.id)
    return render(
        "volunteers/roster_import.html",
        form=form,
        imports=roster.recent_imports(session, current_user),
        status=422 if request.method == "POST" else 200,
    )


@bp.route("/staff/import/<int:import_id>")
@roles_required(*STAFF)
def roster_report(import_id: int):
    session = get_session()
    checked = roster.get_import(session, current_user, import_id)
    errors = checked.errors or []
    per_page = max(page_size(), 50)
    pages = max(1, -(-len(errors) // per_page))
    number = min(page_number(), pages)
    start = (number - 1) * per_page
    page = Page(
        items=errors[start : start + per_page], page=number, per_page=per_page, total=len(errors)
    )
    return render(
        "volunteers/roster_report.html",
        roster=checked,
        page=page,
        headers=roster.HEADERS,
        shown=len(errors),
        townships=dict(township_choices(session)),
    )


@bp.route("/staff/import/<int:import_id>/confirm", methods=["POST"])
@roles_required(*STAFF)
def roster_confirm(import_id: int):
    session = get_session()
    checked = roster.get_import(session, current_user, import_id)
    try:  # a button with nothing typed (CSRF is checked for every POST)
        result = roster.confirm(session, checked, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        if result.errors:
            # The report is updated (and kept): some rows have become wrong since the check.
            flash(
                _(
                    "Nothing was imported: since the check, some rows have become wrong (for "
                    "example, the same person registered meanwhile). See the report."
                ),
                "error",
            )
        else:
            flash(
                ngettext(
                    "%(num)d volunteer is imported (%(verified)d of them verified).",
                    "%(num)d volunteers are imported (%(verified)d of them verified).",
                    result.imported,
                    verified=result.verified,
                ),
                "success",
            )
    return see_other("volunteers.roster_report", import_id=import_id)
