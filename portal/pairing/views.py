"""Pages of the pairing area: staff suggestions and decisions, and the public overview.

Children's records live in `children_views`, visits and the volunteer's own pages in
`visit_views`, the dashboards in `dashboard_views`; they register their routes on this blueprint.
"""

from __future__ import annotations

from flask import Blueprint, flash, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.auth.models import Role
from portal.cache import cached_page
from portal.core.domain import DomainError
from portal.core.scoping import township_scope
from portal.db import get_session
from portal.i18n import N_
from portal.pairing import services
from portal.pairing.flow_forms import (
    ByHandForm,
    CapacityForm,
    CloseForm,
    ConsentForm,
    SwapForm,
    options,
)
from portal.pairing.models import Child, Pairing, PairingStatus
from portal.places import township_choices
from portal.security import public, roles_required
from portal.timeutil import china_today
from portal.volunteers import services as volunteers
from portal.volunteers.idnumber import age_on
from portal.volunteers.models import Volunteer
from portal.web import flash_error, form_error, render, see_other

bp = Blueprint("pairing", __name__, url_prefix="/pairing")
STAFF = (Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN)

NEED_LABELS = {
    "study": _l("study"),
    "psych": _l("psychological support"),
    "safety": _l("safety"),
    "life": _l("daily life"),
    "health": _l("health"),
}
REASON_LABELS = {
    "need_met": _l("a skill meets the child's need: %(detail)s"),
    "same_village": _l("same village"),
    "preferred_township": _l("the volunteer prefers this township"),
    "gender_preference": _l("matches the preferred volunteer sex"),
}


def reason_label(reason: dict) -> str:
    """A suggestion's reason in words: `need_met:study` → a skill meets the need: study."""
    code = str(reason.get("code", ""))
    base, _sep, detail = code.partition(":")
    label = REASON_LABELS.get(base)
    if label is None:
        return code
    text = str(label)
    if "%(detail)s" in text:
        return text % {"detail": NEED_LABELS.get(detail, detail or reason.get("detail") or "")}
    return text


bp.add_app_template_global(reason_label, "pairing_reason")


def _township_arg() -> str:
    """The township the page is about: township staff their own, others choose (?township=)."""
    scope = township_scope(current_user)
    if scope.township:
        return scope.township
    chosen = request.values.get("township", "")
    codes = dict(township_choices(get_session()))
    return chosen if chosen in codes else ""


def _labels() -> dict:
    return {
        "status_labels": services.STATUS_LABELS,
        "close_labels": services.CLOSE_LABELS,
        "need_labels": NEED_LABELS,
        "townships": dict(township_choices(get_session())),
    }


# Public overview ------------------------------------------------------------------------------


@bp.route("/overview")
@public
@cached_page("pairing", "volunteers")
def overview():
    """What one-on-one pairing is, with county-wide figures only (never a child)."""
    return render("pairing/overview.html", figures=services.public_figures(get_session()))


# Staff ----------------------------------------------------------------------------------------


@bp.route("/")
@roles_required(*STAFF)
def index():
    session = get_session()
    township = _township_arg()
    context = {"township": township, "choices": township_choices(session), **_labels()}
    if township:
        groups = {
            status: services.rows(session, current_user, statuses=(status,), township=township)
            for status in (
                PairingStatus.SUGGESTED,
                PairingStatus.PROPOSED,
                PairingStatus.AWAITING_CONSENT,
                PairingStatus.ACTIVE,
            )
        }
        waiting = services.waiting_children(session, current_user, township)
        context.update(groups=groups, waiting=waiting, today=china_today())
    return render("pairing/index.html", **context)


@bp.route("/suggest", methods=["POST"])
@roles_required(*STAFF)
def suggest():
    township = _township_arg()
    if not township:
        flash(_("Choose a township first."), "error")
        return see_other("pairing.index")
    try:
        rows = services.suggest(
            get_session(), actor=current_user, township=township, ip=request.remote_addr
        )
    except DomainError as error:
        flash_error(error)
    else:
        if rows:
            flash(_("%(n)d suggestions are ready for your review.", n=len(rows)), "success")
        else:
            flash(
                _("No suggestion: no child waiting can be paired with an available volunteer."),
                "info",
            )
    return see_other("pairing.index", township=township)


def _pairing(pairing_id: int) -> Pairing:
    return services.get_pairing_for_staff(get_session(), current_user, pairing_id)


def _detail(pairing: Pairing, *, status: int = 200, **forms):
    session = get_session()
    child = session.get(Child, pairing.child_id)
    volunteer = session.get(Volunteer, pairing.volunteer_id)
    swap_form = forms.get("swap_form") or SwapForm(formdata=None)
    swap_form.volunteer_id.choices = options(
        [
            ("", "—"),
            *((v.id, f"{v.number} {v.name}") for v in services.swap_candidates(session, pairing)),
        ]
    )
    return render(
        "pairing/detail.html",
        pairing=pairing,
        child=child,
        child_age=age_on(child.birth_date, china_today()),
        volunteer=volunteer,
        volunteer_refusal=volunteers.pairing_refusal(volunteer),
        swap_form=swap_form,
        consent_form=forms.get("consent_form") or ConsentForm(formdata=None),
        close_form=forms.get("close_form") or CloseForm(formdata=None),
        status=status,
        **_labels(),
    )


@bp.route("/<int:pairing_id>")
@roles_required(*STAFF)
def detail(pairing_id: int):
    return _detail(_pairing(pairing_id))


DONE = {
    "accept": N_("Accepted. The volunteer is asked to answer."),
    "reject": N_("The suggestion is rejected."),
    "withdraw": N_("The proposal is withdrawn."),
}


@bp.route("/<int:pairing_id>/<any(accept, reject, withdraw):action>", methods=["POST"])
@roles_required(*STAFF)
def decide(pairing_id: int, action: str):
    pairing = _pairing(pairing_id)
    do = {"accept": services.accept, "reject": services.reject, "withdraw": services.withdraw}[
        action
    ]
    try:
        do(get_session(), pairing, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        flash(_(DONE[action]), "success")
    if request.form.get("back") == "index":
        return see_other("pairing.index", township=pairing.township_code)
    return see_other("pairing.detail", pairing_id=pairing.id)


@bp.route("/<int:pairing_id>/swap", methods=["POST"])
@roles_required(*STAFF)
def swap(pairing_id: int):
    pairing = _pairing(pairing_id)
    form = SwapForm()
    if form.validate_on_submit():
        try:
            volunteer_id = int(form.volunteer_id.data)
        except (TypeError, ValueError):
            volunteer_id = 0
        try:
            row = services.swap(
                get_session(),
                pairing,
                actor=current_user,
                volunteer_id=volunteer_id,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Swapped and accepted. The volunteer is asked to answer."), "success")
            return see_other("pairing.detail", pairing_id=row.id)
    return _detail(pairing, swap_form=form, status=422)


@bp.route("/<int:pairing_id>/consent", methods=["POST"])
@roles_required(*STAFF)
def consent(pairing_id: int):
    pairing = _pairing(pairing_id)
    form = ConsentForm()
    if form.validate_on_submit():
        try:
            services.record_consent(
                get_session(),
                pairing,
                actor=current_user,
                consent_by=form.consent_by.data,
                consent_on=form.consent_on.data,
                method=form.consent_method.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The guardian's consent is recorded; the pairing is active."), "success")
            return see_other("pairing.detail", pairing_id=pairing.id)
    return _detail(pairing, consent_form=form, status=422)


@bp.route("/<int:pairing_id>/close", methods=["POST"])
@roles_required(*STAFF)
def close(pairing_id: int):
    pairing = _pairing(pairing_id)
    form = CloseForm()
    if form.validate_on_submit():
        try:
            services.close(
                get_session(),
                pairing,
                actor=current_user,
                reason=form.close_reason.data,
                note=form.close_note.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _(
                    "The pairing is closed. The child can be paired again after %(days)d days.",
                    days=services.buffer_days(),
                ),
                "success",
            )
            return see_other("pairing.detail", pairing_id=pairing.id)
    return _detail(pairing, close_form=form, status=422)


@bp.route("/by-hand", methods=["GET", "POST"])
@roles_required(*STAFF)
def by_hand():
    session = get_session()
    township = _township_arg()
    if not township:
        return see_other("pairing.index")
    form = ByHandForm()
    if request.method == "GET" and request.args.get("child"):
        form.child_id.data = request.args["child"]
    children = services.children_for_hand(session, current_user, township)
    candidates = services.volunteers_for_hand(session, township)
    form.child_id.choices = options([("", "—"), *((c.id, f"{c.code} {c.name}") for c in children)])
    form.volunteer_id.choices = options(
        [
            ("", "—"),
            *(
                (
                    v.id,
                    f"{v.number} {v.name} ({dict(township_choices(session)).get(v.township_code)})",
                )
                for v in candidates
            ),
        ]
    )
    if form.validate_on_submit():
        child = next((c for c in children if str(c.id) == form.child_id.data), None)
        volunteer = next((v for v in candidates if str(v.id) == form.volunteer_id.data), None)
        if child is None:
            form.child_id.errors.append(_("Choose a child."))
        elif volunteer is None:
            form.volunteer_id.errors.append(_("Choose a volunteer from the list."))
        else:
            try:
                row = services.pair_by_hand(
                    session,
                    actor=current_user,
                    child=child,
                    volunteer=volunteer,
                    override_reason=form.override_reason.data,
                    ip=request.remote_addr,
                )
            except DomainError as error:
                form_error(form, error)
            else:
                flash(_("Paired by hand. The volunteer is asked to answer."), "success")
                return see_other("pairing.detail", pairing_id=row.id)
    return render(
        "pairing/by_hand.html",
        form=form,
        township=township,
        status=422 if request.method == "POST" else 200,
        **_labels(),
    )


@bp.route("/capacity/<int:volunteer_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def capacity(volunteer_id: int):
    session = get_session()
    volunteer = volunteers.get_for_staff(session, current_user, volunteer_id)
    form = CapacityForm(
        data={"capacity": services.capacity_of(session, volunteer.id)}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            services.set_capacity(
                session,
                volunteer,
                actor=current_user,
                capacity=form.capacity.data,
                reason=form.reason.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The limit is saved."), "success")
            return see_other("volunteers.staff_detail", volunteer_id=volunteer.id)
    return render(
        "pairing/capacity.html",
        form=form,
        volunteer=volunteer,
        open_count=services.open_count(session, volunteer.id),
        status=422 if request.method == "POST" else 200,
    )


# The other screens of the area register their routes on `bp`.
from portal.pairing import children_views, dashboard_views, visit_views  # noqa: E402, F401
