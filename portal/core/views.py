"""Home page, health check and display settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    has_request_context,
    jsonify,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import text

from portal.auth.labels import office_label, role_label
from portal.auth.models import STAFF_ROLES
from portal.cache import ALL, cached_page
from portal.core import registry
from portal.core.hotlines import HOTLINES
from portal.core.workspace import entries as workspace_entries
from portal.core.workspace import header_links
from portal.db import get_session
from portal.extensions import db
from portal.i18n import content_lang, current_language, is_chinese, template_i18n, translated
from portal.places import TOWNSHIPS
from portal.security import public, roles_required
from portal.timeutil import utcnow
from portal.web import absolute_path, absolute_url, app_memo, render, safe_next, see_other

bp = Blueprint("core", __name__)

ELDER_COOKIE = "elder"
TOWNSHIP_BY_CODE = {row[0]: row for row in TOWNSHIPS}
bp.add_app_template_global(role_label)
bp.add_app_template_global(office_label)
bp.add_app_template_global(absolute_url)
bp.add_app_template_global(absolute_path)


@dataclass(frozen=True)
class SiteLink:
    title: Any
    url: str


# The pages a county site links from every page (shipped in content/pages/, loaded with
# `flask content load`): help first, then who runs the site, privacy and the disclaimer.
SITE_PAGES = (
    ("hotlines", _l("Hotlines")),
    ("about", _l("About the portal")),
    ("privacy", _l("Privacy statement")),
    ("disclaimer", _l("Disclaimer")),
)


def site_pages() -> dict[str, SiteLink]:
    root = request.script_root if has_request_context() else ""
    return {slug: SiteLink(translated(title), f"{root}/pages/{slug}") for slug, title in SITE_PAGES}


def _render_part(template: str, values: dict) -> Markup:
    rendered = current_app.jinja_env.get_template(template).render(values)
    # Rendered by Jinja with autoescaping: safe to place in the layout as is.
    return Markup(rendered.strip())  # noqa: S704


# Links the layout and common pages show on every page.
LAYOUT_URLS = {
    "home": "core.home",
    "login": "auth.login",
    "search": "search.search",
    "publicity": "publicity.index",
}


def _layout_values(root: str, endpoint: str | None) -> dict[str, Any]:
    """The layout's values that depend only on the language, the script root and the page."""
    i18n = template_i18n()
    values = {
        **i18n,
        "nav_links": registry.nav_links(),
        "hotlines": HOTLINES,
        "site_pages": site_pages(),
        "layout_urls": {name: url_for(ep) for name, ep in LAYOUT_URLS.items()},
    }
    # The icons, styles and scripts, the navigation and the footer hold no request data: they
    # are rendered once as markup and reused.
    parts = {**values, "endpoint": endpoint}
    values["layout_head"] = _render_part("core/_layout_head.html", parts)
    values["layout_nav"] = _render_part("core/_layout_nav.html", parts)
    values["layout_footer"] = _render_part("core/_layout_footer.html", parts)
    return values


@bp.app_context_processor
def layout_context():
    """What base.html needs, as plain values: templates then look up no proxy or locale again.

    What depends only on the language, the script root and the page is built once per app.
    """
    endpoint = request.endpoint
    root = request.script_root
    values = app_memo(
        "portal_layout",
        (current_language() or "zh_CN", root, endpoint),
        lambda: _layout_values(root, endpoint),
    )
    return {
        **values,
        "elder_mode": request.cookies.get(ELDER_COOKIE) == "1",
        "account_links": header_links(current_user),
        "now": utcnow(),
    }


@bp.app_template_global()
def option_tags(pairs, selected: str = "") -> Markup:
    """`<option>` elements for (value, label) pairs, the one whose value is `selected` marked.

    One call for a whole list, where a template loop makes several calls per option.
    """
    chosen = str(selected)
    tags = []
    for value, label in pairs:
        text = str(value)
        mark = " selected" if text == chosen else ""
        tags.append(f'<option value="{escape(text)}"{mark}>{escape(label)}</option>')
    return Markup("".join(tags))  # noqa: S704 - every value and label is escaped above


bp.add_app_template_global(content_lang)


@bp.app_template_global()
def lang_url(lang: str) -> str:
    """This page in another language (?lang= is then remembered in a cookie)."""
    view_args = request.view_args or {}
    # Query arguments never override the route's own values, nor url_for's options (_scheme…).
    args = {
        k: v
        for k, v in request.args.items()
        if k != "lang" and k not in view_args and not k.startswith("_")
    }
    if request.endpoint and request.url_rule is not None:
        return url_for(request.endpoint, **view_args, **args, lang=lang)
    return f"{request.path}?{urlencode({**args, 'lang': lang})}"


@bp.app_template_global()
def field_attrs(field) -> dict[str, str]:
    """ARIA attributes tying a form field to its hint and error messages."""
    described = []
    if field.errors:
        described.append(f"{field.id}-error")
    if field.description:
        described.append(f"{field.id}-hint")
    attrs = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


@bp.app_template_global()
def township_name(code: str | None) -> str:
    if not code:
        return "—"
    row = TOWNSHIP_BY_CODE.get(code)
    if row is None:
        return code
    return row[1] if is_chinese() else row[2]


@bp.route("/")
@public
@cached_page(ALL)
def home():
    session = get_session()
    blocks = [block(session) for block in registry.home_blocks()]
    return render("core/home.html", blocks=blocks, cards=registry.cards())


# Pages every site has; each area adds its own entries through the registry.
KERNEL_DISALLOW = ("/admin/", "/auth/", "/inbox", "/account/", "/workspace")


@bp.route("/sitemap.xml")
@public
@cached_page(ALL)
def sitemap():
    entries = [registry.SitemapEntry(url_for("core.home"))]
    entries += list(registry.sitemap_entries(get_session()))
    body = render("core/sitemap.xml", entries=entries, base=current_app.config["PORTAL_BASE_URL"])
    return Response(body.get_data(), mimetype="application/xml")


@bp.route("/sitemap")
@public
@cached_page(ALL)
def site_map():
    """The site map for people (网站地图): every area, the columns and the portal's pages."""
    sections = registry.site_map_sections(get_session())
    listed = {url for section in sections for _title, url in section.links}
    return render(
        "core/site_map.html",
        links=registry.nav_links(),
        sections=sections,
        other_pages=[link for link in site_pages().values() if link.url not in listed],
    )


@bp.route("/favicon.ico")
@public
def favicon():
    """The icon browsers ask for at the site's root (the layout also links favicon.svg)."""
    icon = Path(current_app.static_folder) / "favicon.ico"
    response = Response(icon.read_bytes(), mimetype="image/vnd.microsoft.icon")
    response.cache_control.public = True
    response.cache_control.max_age = 7 * 24 * 3600
    return response


@bp.route("/robots.txt")
@public
@cached_page(ALL)
def robots():
    lines = ["User-agent: *"]
    lines += [f"Disallow: {path}" for path in (*KERNEL_DISALLOW, *registry.robots_disallow())]
    lines += [f"Sitemap: {absolute_url('core.sitemap')}", ""]
    return Response("\n".join(lines), mimetype="text/plain")


@bp.route("/workspace")
@roles_required(*STAFF_ROLES)
def workspace():
    """The staff workspace (工作台): what waits for this user, with counts."""
    found = workspace_entries(get_session(), current_user)
    return render("core/workspace.html", entries=found, waiting=sum(e.count for e in found))


@bp.route("/healthz")
@public
def healthz():
    """For the load balancer: 503 only when the database is unreachable.

    A search index that is missing or unreadable, or login limits counted per worker, leave the
    portal serving: it answers 200 with status "degraded" and the detail.
    """
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        current_app.logger.warning("health check failed: %s", type(error).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    from portal.search import index_health
    from portal.security import rate_limit_status

    search = index_health()
    limits = rate_limit_status(current_app)
    detail = {"search": search, "rate_limit": limits}
    degraded = search["state"] != "ok" or bool(limits["warning"])
    status = "degraded" if degraded else "ok"
    return jsonify(status=status, database="ok", **detail)


@bp.route("/settings/display")
@public
def display():
    """Switch the elder-friendly mode (larger text, higher contrast); remembered in a cookie.

    A plain link like the language switch: it changes only this browser's display preference.
    """
    response = see_other(safe_next(request.args.get("next")))
    elder = request.args.get("elder") == "1"
    response.set_cookie(
        ELDER_COOKIE,
        "1" if elder else "0",
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
