"""Pages of the volunteers area: public sign-up, the volunteer's own pages, staff vetting.

Roster import and export live in `roster_views`, service hours and certificates in
`hours_views`; they register their routes on this blueprint.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, send_file
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.auth.models import Role
from portal.cache import cached_page
from portal.core.domain import DomainError
from portal.core.registry import area
from portal.db import get_session
from portal.extensions import limiter
from portal.i18n import N_
from portal.pagination import paginate
from portal.places import township_choices
from portal.security import configured_limit, public, roles_required, start_session
from portal.timeutil import china_today
from portal.volunteers import services
from portal.volunteers.forms import (
    CertificateForm,
    ConsentForm,
    FilterForm,
    ProfileForm,
    ReasonForm,
    SignupForm,
    TrainingForm,
    VerifyForm,
    WithdrawForm,
    options,
)
from portal.volunteers.models import PARTY_CODES, Volunteer
from portal.web import flash_error, form_error, page_number, page_size, render, see_other

bp = Blueprint("volunteers", __name__, url_prefix="/volunteers")


def _format_hours(minutes: int) -> str:
    from portal.volunteers.hours import format_hours

    return format_hours(minutes)


bp.add_app_template_global(_format_hours, "format_hours")
STAFF = (Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN)


def _labels() -> dict:
    return {
        "status_labels": services.STATUS_LABELS,
        "category_labels": services.CATEGORY_LABELS,
        "skill_labels": services.SKILL_LABELS,
        "availability_labels": services.AVAILABILITY_LABELS,
        "id_type_labels": services.ID_TYPE_LABELS,
        "sex_labels": services.SEX_LABELS,
        "political_codes": services.POLITICAL_CODES,
        "townships": dict(township_choices(get_session())),
    }


# Public ------------------------------------------------------------------------------------


@bp.route("/")
@public
@cached_page("volunteers")
def index():
    return render(
        "volunteers/index.html",
        card=area("volunteers").card,
        figures=services.public_figures(get_session()),
    )


@bp.route("/privacy")
@public
@cached_page("volunteers")
def privacy():
    return render("volunteers/privacy.html", version=services.PRIVACY_VERSION)


@bp.route("/agreement")
@public
@cached_page("volunteers")
def agreement():
    return render("volunteers/agreement.html", version=services.AGREEMENT_VERSION)


_signup_limit = configured_limit("PORTAL_SIGNUP_RATE_LIMIT")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
@public
def signup():
    signed_in = current_user.is_authenticated and current_user.role == Role.VOLUNTEER
    if signed_in and request.method == "GET":
        return see_other("volunteers.me")
    session = get_session()
    form = SignupForm()
    form.set_townships(township_choices(session))
    if form.validate_on_submit():
        try:
            volunteer = services.sign_up(
                session,
                form.data_for_service(),
                password=form.password.data,
                consent=bool(form.consent.data),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            from portal.auth.models import User

            start_session(session.get(User, volunteer.user_id), remember=False)
            flash(
                _("Thank you! Your volunteer number is %(number)s.", number=volunteer.number),
                "success",
            )
            return see_other("volunteers.me")
    elif request.method == "POST":
        # The form's own checks failed: show the rules' verdict on the other fields too.
        try:
            services.validate(session, form.data_for_service())
        except services.InvalidVolunteer as error:
            form_error(form, error)  # each problem on a field the form's check left unmarked
    status = 422 if request.method == "POST" else 200
    return render("volunteers/signup.html", form=form, show_party=_show_party(form), status=status)


def _show_party(form) -> bool | None:
    """Whether the Party fields apply; None while unknown (then shown, for pages without JS)."""
    if not form.political_status.data:
        return None
    return form.political_status.data in PARTY_CODES


@bp.route("/signup/party-fields")
@public
def party_fields():
    """The 双报到 fields, for htmx to show when a Party member is chosen (and hide otherwise)."""
    form = SignupForm(formdata=request.args)  # what was typed stays when the fields reappear
    return render("volunteers/_party_fields.html", form=form, show_party=_show_party(form))


# The volunteer's own pages -------------------------------------------------------------------


def _own_record() -> Volunteer | None:
    return services.for_user(get_session(), current_user)


def _own_or_signup():
    volunteer = _own_record()
    if volunteer is None:
        abort(404)
    return volunteer


@bp.route("/me")
@roles_required(Role.VOLUNTEER)
def me():
    session = get_session()
    volunteer = _own_record()
    if volunteer is None:
        return render("volunteers/no_record.html")
    from portal.notify.services import inbox_page

    return render(
        "volunteers/me.html",
        volunteer=volunteer,
        next_step=services.next_step(volunteer),
        check_valid=services.check_valid(volunteer),
        refusal=services.pairing_refusal(volunteer),
        hours=_hours_summary(session, volunteer),
        messages=inbox_page(session, user_id=current_user.id, page=1, per_page=5).items,
        **_labels(),
    )


def _hours_summary(session, volunteer):
    from portal.volunteers import hours

    return hours.summary(session, volunteer)


@bp.route("/me/profile", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def profile():
    session = get_session()
    volunteer = _own_or_signup()
    if request.method == "GET":
        form = ProfileForm(data=services.current_values(volunteer, current_user))
    else:
        form = ProfileForm()
    form.set_townships(township_choices(session))
    if form.validate_on_submit():
        try:
            sent_back = services.update_profile(
                session, volunteer, form.data_for_service(), ip=request.remote_addr
            )
        except DomainError as error:
            form_error(form, error)
        else:
            if sent_back:
                flash(
                    _(
                        "Saved. Because you changed your name, identity document or township, "
                        "township staff will verify your profile again."
                    ),
                    "info",
                )
            else:
                flash(_("Your profile is saved."), "success")
            return see_other("volunteers.me")
    return render(
        "volunteers/profile.html",
        form=form,
        volunteer=volunteer,
        show_party=_show_party(form),
        status=422 if request.method == "POST" else 200,
    )


@bp.route("/me/certificate", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def certificate():
    volunteer = _own_or_signup()
    form = CertificateForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        upload.close()  # a large upload is spooled to a temporary file: let it go now
        try:
            services.upload_certificate(get_session(), volunteer, data=data, ip=request.remote_addr)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Your certificate is uploaded. Township staff will verify it."), "success")
            return see_other("volunteers.me")
    return render(
        "volunteers/certificate.html",
        form=form,
        volunteer=volunteer,
        status=422 if request.method == "POST" else 200,
    )


@bp.route("/me/consent", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def consent():
    volunteer = _own_or_signup()
    form = ConsentForm()
    if form.validate_on_submit():
        try:
            services.consent(get_session(), volunteer, ip=request.remote_addr)
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Thank you. Your agreement is recorded."), "success")
            return see_other("volunteers.me")
    return render("volunteers/consent.html", form=form, volunteer=volunteer)


@bp.route("/me/withdraw", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
def withdraw():
    volunteer = _own_or_signup()
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            services.withdraw(get_session(), volunteer, ip=request.remote_addr)
        except DomainError as error:
            form_error(form, error)
        else:
            from portal.security import end_session

            end_session()
            flash(_("You have withdrawn. Thank you for your service."), "success")
            return see_other("volunteers.index")
    return render("volunteers/withdraw.html", form=form, volunteer=volunteer)


# Staff ---------------------------------------------------------------------------------------


def _filters(form: FilterForm) -> services.ListFilters:
    return services.ListFilters(
        q=(form.q.data or "")[:40],
        status=form.status.data or "",
        township=form.township.data or "",
        category=form.category.data or "",
        check=form.check.data or "",
    )


@bp.route("/staff/")
@roles_required(*STAFF)
def staff_list():
    session = get_session()
    form = FilterForm(request.args)
    scope = services.township_scope(current_user)
    choices = township_choices(session)
    if not scope.everywhere:
        choices = [c for c in choices if c[0] == scope.township]
    form.township.choices = options([("", _("All")), *choices])
    form.validate()
    filters = _filters(form)
    page = paginate(
        session,
        services.list_statement(current_user, filters),
        page=page_number(),
        per_page=page_size(),
    )
    return render(
        "volunteers/staff_list.html",
        block="results",
        form=form,
        page=page,
        filters=filters,
        today=china_today(),
        **_labels(),
    )


def _staff_record(volunteer_id: int) -> Volunteer:
    return services.get_for_staff(get_session(), current_user, volunteer_id)


def _detail(volunteer: Volunteer, *, status: int = 200, **forms):
    session = get_session()
    from portal.auth.models import User

    return render(
        "volunteers/staff_detail.html",
        volunteer=volunteer,
        account=session.get(User, volunteer.user_id),
        can=services.permissions(current_user, volunteer),
        today=china_today(),
        check_valid=services.check_valid(volunteer),
        refusal=services.pairing_refusal(volunteer),
        hours=_hours_summary(session, volunteer),
        verify_form=forms.get("verify_form") or VerifyForm(formdata=None),
        training_form=forms.get("training_form") or TrainingForm(formdata=None),
        reason_form=forms.get("reason_form") or ReasonForm(formdata=None),
        decision=forms.get("decision"),
        status=status,
        **_labels(),
    )


@bp.route("/staff/<int:volunteer_id>")
@roles_required(*STAFF)
def staff_detail(volunteer_id: int):
    return _detail(_staff_record(volunteer_id))


@bp.route("/staff/<int:volunteer_id>/certificate-file")
@roles_required(*STAFF)
def certificate_file(volunteer_id: int):
    session = get_session()
    volunteer = _staff_record(volunteer_id)
    path = services.certificate_file(volunteer)
    if path is None:
        abort(404)
    from portal import audit

    audit.record(
        session,
        action="volunteer.certificate_viewed",
        actor_id=current_user.id,
        target_type="volunteer",
        target_id=volunteer.id,
        ip=request.remote_addr,
        township=volunteer.township_code,
    )
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}
    response = send_file(
        path,
        mimetype=volunteer.certificate_type,
        as_attachment=False,
        download_name=f"{volunteer.number}{extension.get(volunteer.certificate_type, '')}",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.pop("Expires", None)
    return response


@bp.route("/staff/<int:volunteer_id>/verify", methods=["POST"])
@roles_required(*STAFF)
def staff_verify(volunteer_id: int):
    volunteer = _staff_record(volunteer_id)
    form = VerifyForm()
    if form.validate_on_submit():
        try:
            services.verify(
                get_session(),
                volunteer,
                actor=current_user,
                check_date=form.check_date.data,
                training_date=form.training_date.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The check is verified."), "success")
            return see_other("volunteers.staff_detail", volunteer_id=volunteer.id)
    return _detail(volunteer, verify_form=form, status=422)


@bp.route("/staff/<int:volunteer_id>/training", methods=["POST"])
@roles_required(*STAFF)
def staff_training(volunteer_id: int):
    volunteer = _staff_record(volunteer_id)
    form = TrainingForm()
    if form.validate_on_submit():
        try:
            services.record_training(
                get_session(),
                volunteer,
                actor=current_user,
                training_date=form.training_date.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The training is recorded; the volunteer is active."), "success")
            return see_other("volunteers.staff_detail", volunteer_id=volunteer.id)
    return _detail(volunteer, training_form=form, status=422)


REASON_ACTIONS = {
    "return": (
        services.return_document,
        N_("The volunteer is asked to upload the certificate again."),
    ),
    "reject": (services.reject, N_("The application is rejected; the volunteer is told why.")),
    "suspend": (services.suspend, N_("The volunteer is suspended; they are told why.")),
}


@bp.route("/staff/<int:volunteer_id>/<any(return, reject, suspend):action>", methods=["POST"])
@roles_required(*STAFF)
def staff_decide(volunteer_id: int, action: str):
    volunteer = _staff_record(volunteer_id)
    decide, done = REASON_ACTIONS[action]
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            decide(
                get_session(),
                volunteer,
                actor=current_user,
                reason=form.reason.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_(done), "success")
            return see_other("volunteers.staff_detail", volunteer_id=volunteer.id)
    return _detail(volunteer, reason_form=form, decision=action, status=422)


@bp.route("/staff/<int:volunteer_id>/reinstate", methods=["POST"])
@roles_required(*STAFF)
def staff_reinstate(volunteer_id: int):
    volunteer = _staff_record(volunteer_id)
    try:  # a button with nothing typed (CSRF is checked for every POST)
        services.reinstate(get_session(), volunteer, actor=current_user, ip=request.remote_addr)
    except DomainError as error:
        flash_error(error)
    else:
        flash(_("The volunteer is reinstated."), "success")
    return see_other("volunteers.staff_detail", volunteer_id=volunteer.id)


# The site map and sitemap.xml ----------------------------------------------------------------


PUBLIC_PAGES = (
    (_l("Volunteers"), "volunteers.index"),
    (_l("Sign up as a volunteer"), "volunteers.signup"),
    (_l("Check a service record certificate"), "volunteers.verify_certificate"),
    (_l("Privacy notice for volunteers"), "volunteers.privacy"),
    (_l("Volunteer agreement"), "volunteers.agreement"),
)


def site_map_sections(session) -> list:
    """The area's public pages, for the site map page (/sitemap)."""
    from flask import url_for

    from portal.core.registry import SiteMapSection

    links = tuple((title, url_for(endpoint)) for title, endpoint in PUBLIC_PAGES[1:])
    return [SiteMapSection(_l("Volunteers"), url_for("volunteers.index"), links)]


def sitemap_entries(session):
    """The area's public pages, for /sitemap.xml (sign-up and the certificate check included)."""
    from flask import url_for

    from portal.core.registry import SitemapEntry

    for _title, endpoint in PUBLIC_PAGES:
        yield SitemapEntry(url_for(endpoint))


# The other screens of the area register their routes on `bp`.
from portal.volunteers import hours_views, roster_views  # noqa: E402, F401
