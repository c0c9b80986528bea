"""Public pages of the special column, search, feeds; the editors' and reviewers' screens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    render_template,
    request,
    send_file,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlmodel import select

from portal.auth.models import Role
from portal.cache import cached_page
from portal.core.converters import id_number
from portal.core.domain import DomainError
from portal.db import get_session
from portal.i18n import content_lang, format_day, is_chinese, translated
from portal.publicity import attachments as files
from portal.publicity import services
from portal.publicity.forms import ItemForm, ReturnForm, UploadForm
from portal.publicity.models import Attachment, Item, Kind, Revision
from portal.security import has_role, public, roles_required
from portal.timeutil import SHANGHAI, utcnow
from portal.web import (
    absolute_url,
    flash_error,
    form_error,
    page_number,
    page_size,
    render,
    see_other,
)

bp = Blueprint("publicity", __name__)
MAX_QUERY = 200
WRITER_ROLES = (Role.EDITOR, Role.REVIEWER)


def _column(segment: str) -> services.Column:
    column = services.COLUMN_BY_SEGMENT.get(segment)
    if column is None or not column.listed:
        abort(404)
    return column


_url = services.public_url
bp.add_app_template_global(_url, "item_url")


@bp.app_template_global()
def item_date(item: Item) -> str:
    """The item's publication date as far as it is known (the year alone when only it is)."""
    if item.published_at is None:
        return ""
    if item.date_precision == "year":
        year = item.published_at.astimezone(SHANGHAI).year
        return f"{year}年" if is_chinese() else str(year)
    return format_day(item.published_at)


def home_block(session) -> Markup:
    """The latest news and notices and the column's sections, for the home page."""
    latest = {
        kind: services.live_page(session, kind=kind, page=1, per_page=6).items
        for kind in (Kind.NEWS, Kind.NOTICE)
    }
    columns = [c for c in services.COLUMNS if c.listed]
    # Rendered by Jinja with autoescaping: safe to place in the home page as is.
    return Markup(render_template("publicity/_home.html", latest=latest, columns=columns))  # noqa: S704


@bp.app_template_global()
def segment_of(kind: str) -> str:
    return services.COLUMN_BY_KIND[Kind(kind)].segment


STATUS_LABELS = {
    "draft": _l("Draft"),
    "pending": _l("Awaiting review"),
    "published": _l("Published"),
    "retracted": _l("Retracted"),
}
REVISION_LABELS = {
    "draft": _l("Draft"),
    "pending": _l("Awaiting review"),
    "published": _l("Published"),
    "returned": _l("Sent back"),
    "superseded": _l("Replaced"),
}


@bp.app_template_global()
def status_label(item: Item) -> str:
    label = str(STATUS_LABELS.get(item.status, item.status))
    working = services.working_revision(get_session(), item) if item.status == "published" else None
    if working is not None:
        if working.status == "pending":
            label += " · " + str(_l("new revision awaiting review"))
        elif working.status in ("draft", "returned") and working.id != item.live_revision_id:
            label += " · " + str(_l("new draft"))
    return label


@bp.app_template_global()
def revision_label(status: str) -> str:
    return str(REVISION_LABELS.get(status, status))


@bp.app_template_global()
def column_title(kind: str) -> str:
    column = services.COLUMN_BY_KIND.get(Kind(kind))
    return translated(column.title) if column else kind


def listed_rows(rows, show_column: bool = False) -> list[tuple[str, str, str, str, str]]:
    """Per (item, revision) row of a list: link, title, column, ISO date and date as shown."""
    return [
        (
            _url(item),
            revision.title,
            column_title(item.kind) if show_column else "",
            item.published_at.isoformat() if item.published_at else "",
            item_date(item),
        )
        for item, revision in rows
    ]


@bp.app_template_global()
def item_list(rows, show_column: bool = False) -> Markup:
    """A list of (item, revision) rows as links with their column and date.

    Built here in one call per list: as a template macro, the call and its loop cost more
    than the rest of an article page's list.
    """
    lang = content_lang()
    lines = ['<ul class="item-list">']
    for url, title, column, published, shown in listed_rows(rows, show_column):
        where = f"{escape(column)} · " if show_column else ""
        lines.append(
            f'<li><a href="{escape(url)}"{lang}>{escape(title)}</a> <span class="small">'
            f'{where}<time datetime="{escape(published)}">{escape(shown)}</time></span></li>'
        )
    lines.append("</ul>")
    return Markup("\n".join(lines))  # noqa: S704 - every value is escaped above


# Public pages ----------------------------------------------------------------------------


@bp.route("/publicity/")
@public
@cached_page("publicity")
def index():
    session = get_session()
    sections = []
    for column in services.COLUMNS:
        if not column.listed:
            continue
        found = services.live_page(session, kind=column.kind, page=1, per_page=5)
        sections.append((column, found.items, found.total))
    return render("publicity/index.html", sections=sections)


@bp.route("/publicity/<segment>/")
@public
@cached_page("publicity", query=("page",))
def column(segment: str):
    column = _column(segment)
    session = get_session()
    page = page_number()
    found = services.live_page(session, kind=column.kind, page=page, per_page=page_size())
    if page > 1 and not found.items:
        abort(404)
    return render("publicity/column.html", column=column, page=found)


def _detail(item: Item, revision: Revision, *, preview: bool = False):
    return render(
        "publicity/detail.html",
        **services.detail_context(get_session(), item, revision),
        column=services.COLUMN_BY_KIND[item.kind],
        preview=preview,
    )


@bp.route("/publicity/<segment>/<slug>")
@public
@cached_page("publicity")
def detail(segment: str, slug: str):
    found = services.live_by_slug(get_session(), slug)
    if found is None or services.COLUMN_BY_KIND[found[0].kind].segment != segment:
        abort(404)
    return _detail(*found)


@bp.route("/pages/<slug>")
@public
@cached_page("publicity")
def page(slug: str):
    found = services.live_by_slug(get_session(), slug)
    if found is None:
        abort(404)
    if found[0].kind != Kind.PAGE:
        return see_other(_url(found[0]))
    return _detail(*found)


@bp.route("/publicity/files/<int:attachment_id>/<name>")
@public
def attachment(attachment_id: int, name: str):
    session = get_session()
    attached = session.get(Attachment, attachment_id)
    # Checked on every request: public while it belongs to the live revision, to writers always.
    public = attached is not None and services.attachment_is_public(session, attached)
    if attached is None or not (public or has_role(*WRITER_ROLES)):
        abort(404)
    path = files.file_path(Path(current_app.config["PORTAL_UPLOAD_DIR"]), attached)
    if not path.exists():
        abort(404)
    response = send_file(
        path,
        mimetype=attached.content_type,
        as_attachment=True,
        download_name=attached.filename,
        max_age=0,
    )
    # A file can leave the live revision at any time: no shared cache may keep it, and a
    # browser asks again each time (the ETag makes that cheap).
    response.headers["Cache-Control"] = "private, no-cache" if public else "private, no-store"
    response.headers.pop("Expires", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _feed(kind: Kind | None, title: str, self_url: str):
    session = get_session()
    rows = services.live_page(session, kind=kind, page=1, per_page=30).items
    updated = max((i.updated_at for i, _r in rows), default=utcnow())
    body = render(
        "publicity/feed.atom.xml", rows=rows, title=title, self_url=self_url, updated=updated
    ).get_data()
    return Response(body, mimetype="application/atom+xml")


@bp.route("/feed.atom")
@public
@cached_page("publicity")
def feed():
    return _feed(
        None,
        _("Songyang Care Portal for Left-behind Children"),
        absolute_url("publicity.feed"),
    )


@bp.route("/publicity/<segment>/feed.atom")
@public
@cached_page("publicity")
def column_feed(segment: str):
    column = _column(segment)
    return _feed(
        column.kind,
        str(column.title),
        absolute_url("publicity.column_feed", segment=segment),
    )


# Editors and reviewers -------------------------------------------------------------------


def _item_or_404(item_id: int) -> Item:
    item = get_session().get(Item, item_id)
    if item is None:
        abort(404)
    return item


def _to_utc(value: datetime | None) -> datetime | None:
    """A time typed in China time, as aware UTC."""
    return value.replace(tzinfo=SHANGHAI).astimezone(UTC) if value else None


def _draft_from(form: ItemForm, kind: str) -> services.Draft:
    meta = {field.name: field.data for field in form.meta_fields(kind)}
    related = [s.strip() for s in (form.related.data or "").split(",") if s.strip()]
    if related:
        meta["related"] = related
    return services.draft(
        title=form.title.data or "",
        summary=form.summary.data or "",
        body=form.body.data or "",
        meta=meta,
        publish_at=_to_utc(form.publish_at.data),
        expire_at=_to_utc(form.expire_at.data),
        policy_slug=(form.policy_slug.data or "").strip() or None,
    )


@bp.route("/publicity/manage/")
@roles_required(*WRITER_ROLES)
def manage():
    status = request.args.get("status", "")
    kind = request.args.get("kind", "")
    found = services.manage_page(
        get_session(), status=status, kind=kind, page=page_number(), per_page=page_size()
    )
    return render(
        "publicity/manage.html",
        block="results",
        state=status,
        kind=kind,
        page=found,
        columns=services.COLUMNS,
        can_review=services.may_review(current_user),
    )


@bp.route("/publicity/manage/new", methods=["GET", "POST"])
@roles_required(*WRITER_ROLES)
def new():
    form = ItemForm()
    form.set_choices()
    if request.method == "GET" and request.args.get("kind"):
        form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        try:
            item = services.create_item(
                get_session(),
                author=current_user,
                kind=form.kind.data,
                slug=form.slug.data,
                draft=_draft_from(form, form.kind.data),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("The draft is saved. Submit it for review when it is ready."), "success")
            return see_other("publicity.item", item_id=item.id)
    return render("publicity/edit.html", form=form, item=None)


def _item_page(item: Item, *, return_form=None, upload_form=None):
    """The item's page, with a form that was refused shown again with its errors."""
    return render(
        "publicity/item.html",
        **services.item_context(get_session(), item, current_user),
        return_form=return_form or ReturnForm(formdata=None),
        upload_form=upload_form or UploadForm(formdata=None),
    )


@bp.route("/publicity/manage/<int:item_id>")
@roles_required(*WRITER_ROLES)
def item(item_id: int):
    return _item_page(_item_or_404(item_id))


@bp.route("/publicity/manage/<int:item_id>/edit", methods=["GET", "POST"])
@roles_required(*WRITER_ROLES)
def edit(item_id: int):
    session = get_session()
    item = _item_or_404(item_id)
    form = ItemForm()
    form.set_choices()
    form.kind.data, form.slug.data = str(item.kind), item.slug
    if request.method == "GET":
        revision = services.working_revision(session, item) or services.live_revision(session, item)
        form.title.data, form.summary.data, form.body.data = (
            revision.title,
            revision.summary,
            revision.body,
        )
        for field in form.meta_fields(item.kind):
            field.data = revision.meta.get(field.name, "")
        form.related.data = ", ".join(revision.meta.get("related", []))
        policy = session.get(Item, item.policy_id) if item.policy_id else None
        form.policy_slug.data = policy.slug if policy else ""
        form.publish_at.data = (
            item.publish_at.astimezone(SHANGHAI).replace(tzinfo=None) if item.publish_at else None
        )
        form.expire_at.data = (
            item.expire_at.astimezone(SHANGHAI).replace(tzinfo=None) if item.expire_at else None
        )
    elif form.validate_on_submit():
        try:
            services.save_draft(
                session,
                item=item,
                editor=current_user,
                draft=_draft_from(form, item.kind),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _("Saved as a new revision.")
                + " "
                + (
                    _("The published text stays online until a reviewer publishes this one.")
                    if item.live
                    else ""
                ),
                "success",
            )
            return see_other("publicity.item", item_id=item.id)
    return render("publicity/edit.html", form=form, item=item)


def _workflow(item_id: int, action, success: str):
    """A button with nothing typed: the outcome is told on the item's page."""
    item = _item_or_404(item_id)
    try:
        action(item)
    except DomainError as error:
        flash_error(error)
    else:
        flash(success, "success")
    return see_other("publicity.item", item_id=item_id)


@bp.route("/publicity/manage/<int:item_id>/submit", methods=["POST"])
@roles_required(*WRITER_ROLES)
def submit(item_id: int):
    return _workflow(
        item_id,
        lambda i: services.submit(get_session(), item=i, user=current_user, ip=request.remote_addr),
        _("Submitted for review. A reviewer will publish it or send it back."),
    )


@bp.route("/publicity/manage/<int:item_id>/publish", methods=["POST"])
@roles_required(Role.REVIEWER)
def publish(item_id: int):
    return _workflow(
        item_id,
        lambda i: services.publish(
            get_session(), item=i, reviewer=current_user, ip=request.remote_addr
        ),
        _("Published."),
    )


@bp.route("/publicity/manage/<int:item_id>/send-back", methods=["POST"])
@roles_required(Role.REVIEWER)
def send_back(item_id: int):
    item = _item_or_404(item_id)
    form = ReturnForm()
    if form.validate_on_submit():
        try:
            services.return_to_author(
                get_session(),
                item=item,
                reviewer=current_user,
                comment=form.comment.data,
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(_("Sent back to the author with your comment."), "success")
            return see_other("publicity.item", item_id=item_id)
    return _item_page(item, return_form=form)


@bp.route("/publicity/manage/<int:item_id>/retract", methods=["POST"])
@roles_required(Role.REVIEWER)
def retract(item_id: int):
    return _workflow(
        item_id,
        lambda i: services.retract(
            get_session(), item=i, reviewer=current_user, ip=request.remote_addr
        ),
        _("Retracted: it has left the public pages."),
    )


@bp.route("/publicity/manage/<int:item_id>/restore/<int:revision_id>", methods=["POST"])
@roles_required(*WRITER_ROLES)
def restore(item_id: int, revision_id: int):
    return _workflow(
        item_id,
        lambda i: services.restore(
            get_session(),
            item=i,
            revision_id=revision_id,
            editor=current_user,
            ip=request.remote_addr,
        ),
        _("The old revision is now the draft. Submit it for review to publish it."),
    )


def _revision_of(item: Item, number: int) -> Revision:
    revision = (
        get_session()
        .exec(select(Revision).where(Revision.item_id == item.id, Revision.number == number))
        .first()
    )
    if revision is None:
        abort(404)
    return revision


@bp.route("/publicity/manage/<int:item_id>/diff")
@roles_required(*WRITER_ROLES)
def diff(item_id: int):
    item = _item_or_404(item_id)
    a, b = request.args.get("a", type=id_number), request.args.get("b", type=id_number)
    if a is None or b is None:
        abort(404)
    old, new = _revision_of(item, min(a, b)), _revision_of(item, max(a, b))
    return render(
        "publicity/diff.html", item=item, old=old, new=new, changes=services.revision_diff(old, new)
    )


@bp.route("/publicity/manage/<int:item_id>/preview/<int:number>")
@roles_required(*WRITER_ROLES)
def preview(item_id: int, number: int):
    item = _item_or_404(item_id)
    return _detail(item, _revision_of(item, number), preview=True)


@bp.route("/publicity/manage/<int:item_id>/attachments", methods=["POST"])
@roles_required(*WRITER_ROLES)
def upload(item_id: int):
    item = _item_or_404(item_id)
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        upload.close()
        try:
            files.store(
                get_session(),
                item=item,
                filename=upload.filename or "",
                data=data,
                user=current_user,
                upload_dir=Path(current_app.config["PORTAL_UPLOAD_DIR"]),
                ip=request.remote_addr,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            flash(
                _("The file is attached.")
                + (
                    " " + _("It shows on the public page once a reviewer publishes the draft.")
                    if item.live
                    else ""
                ),
                "success",
            )
            return see_other("publicity.item", item_id=item_id)
    return _item_page(item, upload_form=form)


@bp.route("/publicity/review")
@roles_required(Role.REVIEWER)
def review_queue():
    return render(
        "publicity/review.html", **services.review_page_context(get_session(), current_user)
    )


@bp.route(
    "/publicity/manage/<int:item_id>/attachments/<int:attachment_id>/remove",
    methods=["GET", "POST"],
)
@roles_required(*WRITER_ROLES)
def remove_attachment(item_id: int, attachment_id: int):
    """Ask first (a page that works without JavaScript), then take the file off the draft."""
    item = _item_or_404(item_id)
    attached = get_session().get(Attachment, attachment_id)
    if attached is None or attached.item_id != item.id:
        abort(404)
    if request.method == "POST":  # the CSRF token was checked before the view ran
        try:
            services.remove_attachment(
                get_session(),
                item=item,
                attachment_id=attachment_id,
                user=current_user,
                ip=request.remote_addr,
            )
        except DomainError as error:
            flash_error(error)
        else:
            flash(
                _("The file is removed from the draft.")
                + (
                    " " + _("It stays on the public page until a reviewer publishes the draft.")
                    if item.live
                    else ""
                ),
                "success",
            )
        return see_other("publicity.item", item_id=item_id)
    return render("publicity/remove_attachment.html", item=item, attachment=attached)


def site_map_sections(session) -> list:
    """The special column's columns and the portal's pages, for the site map page (/sitemap)."""
    from flask import url_for

    from portal.core.registry import SiteMapSection

    columns = tuple(
        (c.title, url_for("publicity.column", segment=c.segment))
        for c in services.COLUMNS
        if c.listed
    )
    pages = services.live_page(session, kind=Kind.PAGE, page=1, per_page=100).items
    return [
        SiteMapSection(_l("Policy and news"), url_for("publicity.index"), columns),
        SiteMapSection(
            _l("About the portal and help"),
            None,
            tuple((revision.title, _url(item)) for item, revision in pages),
            content=True,
        ),
    ]
