"""Public pages of emergency aid (应急救助): the landing page, applying without an account, and
following a request by its tracking number and the applicant's mobile.

A request is never readable from an address alone. Right after submitting, and after the
tracking number and mobile were entered, the pair is kept in the visitor's signed session and
the browser is sent to `/charity/apply/done` or `/charity/track/request`, which look the request
up again with that pair (`requests.track`) and show it to nobody else. A wrong pair gets one
answer, whichever half was wrong. The rules live in `requests`.

A double click or a resubmission creates one request: the form carries an idempotency key made
when it is first shown and kept when it is shown again; the service answers the request already
made with that key.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, flash, request, url_for
from flask import session as browser_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from portal.cache import cached_page
from portal.charity import ledger, requests
from portal.charity.models import AidRequest, DocumentKind, RequestDocument, RequestStatus
from portal.charity.public_forms import (
    ADD_SLOTS,
    MAX_FILE_MB,
    SEX_LABELS,
    AddDocumentsForm,
    ApplyForm,
    TrackForm,
)
from portal.charity.requests import (
    DOCUMENT_LABELS,
    KIND_LABELS,
    OPEN,
    PAID_OR_APPROVED,
    RELATION_LABELS,
    STATUS_LABELS,
    AidError,
    InvalidRequest,
    Upload,
)
from portal.charity.views import bp
from portal.core import uploads
from portal.core.domain import DomainError
from portal.core.registry import area
from portal.db import get_session
from portal.extensions import limiter
from portal.i18n import N_
from portal.places import township_choices
from portal.security import configured_limit, public
from portal.web import form_error, render, see_other

HELD = "charity_request"  # the session key of the request this browser may see
KEY_RE_LENGTH = (16, 64)

# Plain words on what happens next, for the applicant.
NEXT_STEP = {
    RequestStatus.SUBMITTED: _l(
        "The township (street) office checks the facts with your village, usually within three "
        "working days (24 hours for an emergency). You may be phoned."
    ),
    RequestStatus.INFO_NEEDED: _l(
        "The staff need more from you before they can go on: see what is asked below and add "
        "it here. The request waits until then."
    ),
    RequestStatus.CHECKED: _l(
        "The township has checked the request. The county charity federation now reviews it "
        "and proposes an amount and a fund."
    ),
    RequestStatus.APPROVING: _l(
        "The charity federation's approvers are deciding on the amount (larger amounts need two "
        "approvers)."
    ),
    RequestStatus.APPROVED: _l(
        "The aid is approved. A public notice without names runs for about seven days; then "
        "the money is paid into the account given. An emergency is paid at once."
    ),
    RequestStatus.REJECTED: _l(
        "The request was not approved; the reason is below. You may ask your township office "
        "or the charity federation about it, or apply again if things change."
    ),
    RequestStatus.PAID: _l("The money has been paid into the account given."),
    RequestStatus.CLOSED: _l("The request is closed."),
}


_aid_limit = configured_limit("PORTAL_AID_RATE_LIMIT")


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def disclosure_url() -> str:
    """The disclosure page (funds, spending, anonymised cases), by endpoint once it exists."""
    if "charity.disclosure" in current_app.view_functions:
        return url_for("charity.disclosure")
    return "/charity/disclosure"


def _labels() -> dict:
    return {
        "kind_labels": KIND_LABELS,
        "relation_labels": RELATION_LABELS,
        "document_labels": DOCUMENT_LABELS,
        "status_labels": STATUS_LABELS,
        "sex_labels": SEX_LABELS,
        "yuan": ledger.yuan,
        "max_file_mb": MAX_FILE_MB,
        "max_total_mb": current_app.config.get("MAX_CONTENT_LENGTH", 0) // (1024 * 1024),
        "disclosure_url": disclosure_url(),
    }


# Landing page --------------------------------------------------------------------------------


@bp.route("/")
@public
@cached_page("charity")
def index():
    return render(
        "charity/index.html",
        card=area("charity").card,
        **_labels(),
    )


# Holding a request in this browser -------------------------------------------------------------


def _hold(found: AidRequest) -> None:
    """Let this browser see the request (its number and mobile were just given)."""
    browser_session[HELD] = {"number": found.number, "mobile": found.applicant_mobile}


def _held(session: Session) -> AidRequest | None:
    held = browser_session.get(HELD)
    if not isinstance(held, dict):
        return None
    number, mobile = held.get("number"), held.get("mobile")
    if not isinstance(number, str) or not isinstance(mobile, str):
        return None
    return requests.track(session, number, mobile)


def _documents(session: Session, found: AidRequest) -> list[RequestDocument]:
    return list(
        session.exec(
            select(RequestDocument)
            .where(RequestDocument.request_id == found.id)
            .order_by(RequestDocument.id)
        )
    )


def _missing_documents(session: Session, found: AidRequest) -> list:
    """The documents a request without an emergency would need and this one lacks."""
    have = {d.kind for d in _documents(session, found)}
    return [
        DOCUMENT_LABELS[DocumentKind(k)]
        for k in sorted(requests.required_documents(found.kind, False) - have)
    ]


# Files -----------------------------------------------------------------------------------------


def _read_documents(form) -> tuple[list[Upload], bool]:
    """The files chosen on the form; each unusable file is marked on its own input."""
    documents: list[Upload] = []
    bad = False
    kinds = {k.value for k in DocumentKind}
    for slot, kind, storage in form.chosen_files():
        data = storage.stream.read(uploads.MAX_FILE_BYTES + 1)
        if kind not in kinds:
            form_error(form, AidError(N_("Choose what each document is."), f"doc_kind_{slot}"))
            bad = True
        try:
            uploads.check(data, error_class=AidError)
        except DomainError as error:
            form_error(form, AidError(error.message, f"doc_file_{slot}", params=error.params))
            bad = True
        documents.append(Upload(kind, storage.filename or "", data))
    return documents, bad


def _fresh_key(key: str | None) -> str:
    key = (key or "").strip()
    low, high = KEY_RE_LENGTH
    if low <= len(key) <= high and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return secrets.token_urlsafe(24)


# Applying ---------------------------------------------------------------------------------------


@bp.route("/apply", methods=["GET", "POST"])
@limiter.limit(_aid_limit, methods=["POST"])
@public
def apply():
    session = get_session()
    form = ApplyForm()
    form.set_townships(township_choices(session))
    if request.method == "POST":
        data = form.data_for_service()
        valid = form.validate()  # first: validating resets the errors of every field
        documents, bad_files = _read_documents(form)
        if valid and not bad_files:
            try:
                found, _created = requests.submit(
                    session,
                    data,
                    documents=documents,
                    idempotency_key=form.idempotency_key.data or "",
                    ip=request.remote_addr,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                _hold(found)
                return see_other("charity.applied")
        else:
            # The form's own checks or a file failed: show the rules' verdict on the rest too.
            try:
                requests.check_request(session, data, documents)
            except InvalidRequest as error:
                form_error(form, error)
    form.idempotency_key.data = _fresh_key(form.idempotency_key.data)
    return _private(
        render(
            "charity/apply.html",
            form=form,
            status=422 if request.method == "POST" else 200,
            **_labels(),
        )
    )


@bp.route("/apply/done")
@public
def applied():
    session = get_session()
    found = _held(session)
    if found is None:
        return see_other("charity.track")
    return _private(
        render(
            "charity/apply_done.html",
            aid=found,
            documents=_documents(session, found),
            missing=_missing_documents(session, found),
            **_labels(),
        )
    )


# Following a request ------------------------------------------------------------------------------


@bp.route("/track", methods=["GET", "POST"])
@limiter.limit(_aid_limit, methods=["POST"])
@public
def track():
    session = get_session()
    form = TrackForm()
    if request.method == "POST":
        found = None
        if form.validate():
            found = requests.track(session, form.number.data or "", form.mobile.data or "")
        if found is not None:
            _hold(found)
            return see_other("charity.tracked")
        # One answer for a wrong number, a wrong mobile and both: nothing about which was wrong.
        form.form_errors.append(
            _(
                "No request matches this tracking number and mobile number. Check both and try again."
            )
        )
    return _private(
        render(
            "charity/track.html",
            form=form,
            status=422 if request.method == "POST" else 200,
            **_labels(),
        )
    )


def _tracked_page(session: Session, found: AidRequest, form: AddDocumentsForm, *, status: int):
    return _private(
        render(
            "charity/track_request.html",
            aid=found,
            form=form,
            next_step=NEXT_STEP.get(found.status, ""),
            documents=_documents(session, found),
            missing=_missing_documents(session, found),
            can_add=found.status in (*OPEN, RequestStatus.APPROVED),
            show_amount=found.status in PAID_OR_APPROVED and found.approved_fen is not None,
            add_slots=ADD_SLOTS,
            status=status,
            **_labels(),
        )
    )


@bp.route("/track/request")
@public
def tracked():
    session = get_session()
    found = _held(session)
    if found is None:
        return see_other("charity.track")
    return _tracked_page(session, found, AddDocumentsForm(formdata=None), status=200)


@bp.route("/track/documents", methods=["POST"])
@limiter.limit(_aid_limit, methods=["POST"])
@public
def track_documents():
    session = get_session()
    found = _held(session)
    if found is None:
        return see_other("charity.track")
    form = AddDocumentsForm()
    valid = form.validate()  # first: validating resets the errors of every field
    documents, bad_files = _read_documents(form)
    if valid and not bad_files:
        try:
            requests.add_documents(
                session, found, documents, note=form.note.data, ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Thank you: the documents were added to your request."), "success")
            return see_other("charity.tracked")
    return _tracked_page(session, found, form, status=422)


@bp.route("/track/forget", methods=["POST"])
@public
def forget():
    """Stop showing the request on this device (a phone shared in the family)."""
    browser_session.pop(HELD, None)
    flash(
        _("This phone no longer shows the request. Keep the tracking number to find it again."),
        "info",
    )
    return see_other("charity.index")
