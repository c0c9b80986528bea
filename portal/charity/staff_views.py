"""Staff pages of emergency aid: the queue, a request and its steps, funds and their ledger,
the accountant's Excel workbooks.

Decorators check roles only; `requests.get_for_staff` scopes a request to the user's township
(404 otherwise) on every page, every step and every document download, and the buttons shown
come from `staff.permissions`, which asks the workflow's own rules.
"""

from __future__ import annotations

import io
from datetime import date

from flask import abort, flash, request, send_file
from flask_babel import gettext as _
from flask_login import current_user

from portal import audit
from portal.auth.models import Role, User
from portal.charity import export, funds, ledger, requests, staff
from portal.charity.models import AidRequest, Fund, RequestDocument
from portal.charity.staff_forms import (
    ApproveForm,
    AskForm,
    CheckForm,
    EntryForm,
    FundCloseForm,
    FundEditForm,
    FundForm,
    PayForm,
    ProposeForm,
    QueueFilterForm,
    RejectForm,
    ReverseForm,
    options,
)
from portal.charity.views import bp
from portal.core.domain import DomainError, NotAllowed, NotFound
from portal.db import get_session
from portal.i18n import N_, format_day
from portal.pagination import paginate
from portal.places import township_choices
from portal.security import reauth_required, roles_required
from portal.timeutil import SHANGHAI, china_today, utcnow
from portal.web import flash_error, form_error, page_number, page_size, render, see_other

READERS = staff.REQUEST_READERS
TOWNSHIP = (Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF)
ASKERS = (*TOWNSHIP, *staff.REVIEWERS)


def _labels() -> dict:
    return {
        "status_labels": requests.STATUS_LABELS,
        "kind_labels": requests.KIND_LABELS,
        "relation_labels": requests.RELATION_LABELS,
        "document_labels": requests.DOCUMENT_LABELS,
        "entry_labels": ledger.ENTRY_LABELS,
        "fund_kind_labels": funds.KIND_LABELS,
        "townships": dict(township_choices(get_session())),
        "yuan": ledger.yuan,
    }


# The queue ------------------------------------------------------------------------------------


@bp.route("/staff/")
@roles_required(*READERS)
def staff_queue():
    session = get_session()
    form = QueueFilterForm(request.args)
    status = form.status.data if form.validate() else ""
    page = paginate(
        session,
        requests.queue_statement(current_user, status=status or ""),
        page=page_number(),
        per_page=page_size(),
    )
    return render(
        "charity/staff_queue.html",
        block="results",
        form=form,
        page=page,
        now=utcnow(),
        overdue=staff.overdue,
        can_see_funds=current_user.role in staff.FUND_READERS,
        **_labels(),
    )


@bp.route("/staff/requests.xlsx")
@roles_required(*READERS)
def requests_export():
    form = QueueFilterForm(request.args)
    status = form.status.data if form.validate() else ""
    data = export.requests_xlsx(
        get_session(), actor=current_user, status=status or "", ip=request.remote_addr
    )
    return _xlsx(data, f"aid-requests-{china_today():%Y%m%d}.xlsx")


def _xlsx(data: bytes, name: str):
    response = send_file(
        io.BytesIO(data),
        mimetype=export.XLSX_TYPE,
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    return response


# A request ------------------------------------------------------------------------------------


def _request(request_id: int) -> AidRequest:
    return requests.get_for_staff(get_session(), current_user, request_id)


def _people(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    from sqlmodel import select

    return dict(session.exec(select(User.id, User.name).where(User.id.in_(ids))).all())


def _propose_form(session, aid: AidRequest, form: ProposeForm | None = None) -> ProposeForm:
    if form is None:
        form = ProposeForm(formdata=None)
        if aid.fund_id:
            form.fund_id.data = str(aid.fund_id)
        fen = aid.approved_fen or aid.requested_fen
        form.amount.data = f"{fen // 100}" if fen % 100 == 0 else f"{fen / 100:.2f}"
    form.fund_id.choices = options(
        [
            ("", "—"),
            *(
                (
                    f.id,
                    _(
                        "%(name)s (¥%(available)s available)",
                        name=f.name,
                        available=ledger.yuan(ledger.balance(session, f.id).available),
                    ),
                )
                for f in funds.active_funds(session)
            ),
        ]
    )
    return form


def _detail(aid: AidRequest, *, status: int = 200, **forms):
    session = get_session()
    from sqlmodel import select

    documents = session.exec(
        select(RequestDocument)
        .where(RequestDocument.request_id == aid.id)
        .order_by(RequestDocument.id)
    ).all()
    approvals = requests.approvals(session, aid)
    people = _people(
        session,
        [aid.entered_by, aid.checked_by, aid.reviewed_by, aid.paid_by]
        + [a.approver_id for a in approvals],
    )
    this_year = requests.aid_this_year(session, aid)
    cap = requests.yearly_cap()
    fund = session.get(Fund, aid.fund_id) if aid.fund_id else None
    return render(
        "charity/request_detail.html",
        aid=aid,
        can=staff.permissions(session, current_user, aid),
        overdue=staff.overdue(aid),
        documents=documents,
        earlier=requests.earlier_aid(session, aid),
        this_year=this_year,
        cap=cap,
        cap_reached=this_year >= cap,
        approvals=approvals,
        needed=requests.approvers_needed(aid),
        threshold=requests.two_approvers_above(),
        fund=fund,
        people=people,
        check_form=forms.get("check_form") or CheckForm(formdata=None),
        ask_form=forms.get("ask_form") or AskForm(formdata=None),
        reject_form=forms.get("reject_form") or RejectForm(formdata=None),
        propose_form=_propose_form(session, aid, forms.get("propose_form")),
        approve_form=forms.get("approve_form") or ApproveForm(formdata=None),
        pay_form=forms.get("pay_form") or PayForm(formdata=None),
        status=status,
        **_labels(),
    )


@bp.route("/staff/requests/<int:request_id>")
@roles_required(*READERS)
def request_detail(request_id: int):
    aid = _request(request_id)
    audit.record(
        get_session(),
        action="aid.viewed",
        actor_id=current_user.id,
        target_type="aid_request",
        target_id=aid.id,
        ip=request.remote_addr,
        township=aid.township_code,
    )
    return _detail(aid)


@bp.route("/staff/requests/<int:request_id>/documents/<int:document_id>")
@roles_required(*READERS)
def document(request_id: int, document_id: int):
    """A document of a request: access checked on every download, and audited."""
    session = get_session()
    aid = _request(request_id)
    doc = session.get(RequestDocument, document_id)
    if doc is None or doc.request_id != aid.id:
        raise NotFound(reason="not_found")
    path = requests.upload_folder() / doc.sha256
    if not path.is_file():
        raise NotFound(reason="file_missing")
    audit.record(
        session,
        action="aid.document_viewed",
        actor_id=current_user.id,
        target_type="aid_request",
        target_id=aid.id,
        ip=request.remote_addr,
        township=aid.township_code,
        document=doc.id,
    )
    response = send_file(
        path,
        mimetype=doc.content_type,
        as_attachment=True,
        download_name=doc.filename,
        max_age=0,
        etag=False,
    )
    # No cache keeps it (the kernel's headers make this `no-store` for every logged-in user).
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _step(request_id: int, form_name: str, form, do, done: str):
    """Run one step from its form: back to the request, or the form again with the error."""
    aid = _request(request_id)
    if form.validate_on_submit():
        try:
            message = do(aid, form)
        except (NotFound, NotAllowed):
            raise
        except DomainError as error:
            form_error(form, error)
        else:
            flash(message or _(done), "success")
            return see_other("charity.request_detail", request_id=aid.id)
    return _detail(aid, status=422, **{form_name: form})


@bp.route("/staff/requests/<int:request_id>/check", methods=["POST"])
@roles_required(*TOWNSHIP)
def request_check(request_id: int):
    def do(aid, form):
        requests.township_check(
            get_session(), aid, actor=current_user, note=form.note.data, ip=request.remote_addr
        )

    return _step(
        request_id,
        "check_form",
        CheckForm(),
        do,
        N_("Checked. The request goes to the charity federation for review."),
    )


@bp.route("/staff/requests/<int:request_id>/ask", methods=["POST"])
@roles_required(*ASKERS)
def request_ask(request_id: int):
    def do(aid, form):
        requests.ask_info(
            get_session(), aid, actor=current_user, what=form.what.data, ip=request.remote_addr
        )

    return _step(request_id, "ask_form", AskForm(), do, N_("The applicant is asked for more."))


@bp.route("/staff/requests/<int:request_id>/reject", methods=["POST"])
@roles_required(*ASKERS)
def request_reject(request_id: int):
    def do(aid, form):
        requests.reject(
            get_session(), aid, actor=current_user, reason=form.reason.data, ip=request.remote_addr
        )

    return _step(
        request_id,
        "reject_form",
        RejectForm(),
        do,
        N_("The request is rejected; the applicant is told."),
    )


@bp.route("/staff/requests/<int:request_id>/propose", methods=["POST"])
@roles_required(*staff.REVIEWERS)
def request_propose(request_id: int):
    session = get_session()

    def do(aid, form):
        fund = next(
            (f for f in funds.active_funds(session) if str(f.id) == form.fund_id.data), None
        )
        if fund is None:
            raise requests.AidError(N_("Choose the fund."), "fund_id")
        amount = ledger.parse_yuan(form.amount.data, field="amount")
        requests.propose(
            session,
            aid,
            actor=current_user,
            fund=fund,
            amount_fen=amount,
            cap_reason=form.cap_reason.data,
            ip=request.remote_addr,
        )

    form = ProposeForm()
    aid = _request(request_id)
    _propose_form(session, aid, form)  # the choices, for validation and for the page again
    return _step(request_id, "propose_form", form, do, N_("Proposed. The approvers are asked."))


@bp.route("/staff/requests/<int:request_id>/approve", methods=["POST"])
@roles_required(Role.CHARITY_APPROVER)
@reauth_required
def request_approve(request_id: int):
    def do(aid, _form):
        done = requests.approve(get_session(), aid, actor=current_user, ip=request.remote_addr)
        if done:
            return _(
                "Approved. The public notice runs until %(day)s.", day=format_day(aid.notice_until)
            )
        return _("Your approval is recorded. A second, different approver is needed.")

    return _step(request_id, "approve_form", ApproveForm(), do, N_("Approved."))


@bp.route("/staff/requests/<int:request_id>/pay", methods=["POST"])
@roles_required(Role.CHARITY_STAFF)
@reauth_required
def request_pay(request_id: int):
    def do(aid, form):
        requests.pay(
            get_session(),
            aid,
            actor=current_user,
            reference=form.reference.data,
            ip=request.remote_addr,
        )

    return _step(request_id, "pay_form", PayForm(), do, N_("The payment is recorded."))


@bp.route("/staff/requests/<int:request_id>/close", methods=["POST"])
@roles_required(*staff.REVIEWERS)
def request_close(request_id: int):
    aid = _request(request_id)
    try:
        requests.close(get_session(), aid, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        flash(_("The request is closed."), "success")
    return see_other("charity.request_detail", request_id=aid.id)


# Funds ----------------------------------------------------------------------------------------


@bp.route("/staff/funds/", endpoint="funds")
@roles_required(*staff.FUND_READERS)
def funds_list():
    return render(
        "charity/funds.html",
        rows=funds.fund_rows(get_session()),
        can_write=staff.can_write_funds(current_user),
        **_labels(),
    )


@bp.route("/staff/funds/new", methods=["GET", "POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_new():
    form = FundForm()
    if form.validate_on_submit():
        try:
            fund = funds.create_fund(
                get_session(), form.data, actor=current_user, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The fund is created."), "success")
            return see_other("charity.fund", fund_id=fund.id)
    return render(
        "charity/fund_new.html",
        form=form,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


def _entry_form(kind: str) -> EntryForm:
    form = EntryForm(formdata=None, prefix=kind)
    form.booked_on.data = china_today()
    return form


def _fund_page(fund: Fund, *, status: int = 200, **forms):
    session = get_session()
    return render(
        "charity/fund.html",
        block="ledger",
        fund=fund,
        figures=ledger.balance(session, fund.id),
        page=funds.entry_page(session, fund.id, page=page_number(), per_page=page_size()),
        can_write=staff.can_write_funds(current_user) and fund.active,
        can_manage=staff.can_write_funds(current_user),
        donation_form=forms.get("donation_form") or _entry_form("donation"),
        income_form=forms.get("income_form") or _entry_form("income"),
        today=china_today(),
        status=status,
        **_labels(),
    )


@bp.route("/staff/funds/<int:fund_id>")
@roles_required(*staff.FUND_READERS)
def fund(fund_id: int):
    return _fund_page(funds.get_fund(get_session(), fund_id))


@bp.route("/staff/funds/<int:fund_id>/<any(donation, income):kind>", methods=["POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_entry(fund_id: int, kind: str):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    form = EntryForm(prefix=kind)
    if form.validate_on_submit():
        record = ledger.record_donation if kind == "donation" else ledger.record_income
        try:
            amount = ledger.parse_yuan(form.amount.data, field="amount")
            record(
                session,
                fund,
                actor=current_user,
                amount_fen=amount,
                reference=form.reference.data,
                note=form.note.data,
                booked_on=form.booked_on.data,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if kind == "donation":
                flash(
                    _("The donation of ¥%(amount)s is recorded.", amount=ledger.yuan(amount)),
                    "success",
                )
            else:
                flash(
                    _("The income of ¥%(amount)s is recorded.", amount=ledger.yuan(amount)),
                    "success",
                )
            return see_other("charity.fund", fund_id=fund.id)
    return _fund_page(fund, status=422, **{f"{kind}_form": form})


@bp.route("/staff/funds/<int:fund_id>/edit", methods=["GET", "POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_edit(fund_id: int):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    form = FundEditForm(obj=fund)
    if form.validate_on_submit():
        try:
            changed = funds.update_fund(
                session, fund, form.data, actor=current_user, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if changed:
                flash(_("The fund's details are saved."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return see_other("charity.fund", fund_id=fund.id)
    return render(
        "charity/fund_edit.html",
        form=form,
        fund=fund,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


@bp.route("/staff/funds/<int:fund_id>/close", methods=["GET", "POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_close(fund_id: int):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    form = FundCloseForm()
    if form.validate_on_submit():
        try:
            funds.close_fund(
                session, fund, reason=form.reason.data, actor=current_user, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The fund is closed."), "success")
            return see_other("charity.fund", fund_id=fund.id)
    return render(
        "charity/fund_close.html",
        form=form,
        fund=fund,
        figures=ledger.balance(session, fund.id),
        waiting=funds.requests_waiting_on(session, fund),
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


@bp.route("/staff/funds/<int:fund_id>/reopen", methods=["POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_reopen(fund_id: int):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    try:
        funds.reopen_fund(session, fund, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        flash(_("The fund is open again."), "success")
    return see_other("charity.fund", fund_id=fund.id)


@bp.route("/staff/funds/<int:fund_id>/entries/<int:entry_id>/reverse", methods=["GET", "POST"])
@roles_required(*staff.FUND_WRITERS)
def fund_reverse(fund_id: int, entry_id: int):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    entry = funds.get_entry(session, fund, entry_id)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            ledger.reverse(session, entry, actor=current_user, note=form.note.data)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The entry is reversed."), "success")
            return see_other("charity.fund", fund_id=fund.id)
    return render(
        "charity/fund_reverse.html",
        form=form,
        fund=fund,
        entry=entry,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


def _day_arg(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        abort(400)
    if not 2000 <= day.year <= 2100:
        abort(400)
    return day


@bp.route("/staff/funds/<int:fund_id>/ledger.xlsx")
@roles_required(*staff.FUND_READERS)
def ledger_export(fund_id: int):
    session = get_session()
    fund = funds.get_fund(session, fund_id)
    start, end = _day_arg("from"), _day_arg("to")
    if start and end and start > end:
        abort(400)
    data = export.ledger_xlsx(
        session, fund, actor=current_user, start=start, end=end, ip=request.remote_addr
    )
    today = utcnow().astimezone(SHANGHAI).date()
    return _xlsx(data, f"fund-{fund.id}-ledger-{today:%Y%m%d}.xlsx")
