"""Response helpers: render() decides page or fragment; safe redirects; pagination."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Response, current_app, make_response, redirect, render_template, request, url_for
from flask_htmx.responses import make_response as htmx_response
from jinja2_fragments.flask import render_block

from portal.extensions import htmx
from portal.pagination import Page  # noqa: F401 - views build pages with it

T = TypeVar("T")


def app_memo(name: str, key: Hashable, build: Callable[[], T], *, bound: int = 1000) -> T:
    """What `build()` makes for `key`, made once per application and kept in its extensions.

    For values that depend only on the language, the script root, a role or the page (layout
    parts, links), which every request would otherwise build again. The store is emptied
    when it holds more than `bound` keys, should a server ever vary its script root.
    """
    kept = current_app.extensions.setdefault(name, {})
    value = kept.get(key)
    if value is None:
        if len(kept) > bound:
            kept.clear()
        value = kept[key] = build()
    return value


def partial_request(environ) -> bool:
    """The request of this WSGI environ is htmx asking for a fragment: not boosted and not a
    history restore.

    The same reading of the HX-* headers as flask-htmx's `htmx` object, straight from the
    environ, for the page cache, which looks at a request before Flask's context exists.
    """
    return (
        environ.get("HTTP_HX_REQUEST") == "true"
        and environ.get("HTTP_HX_BOOSTED") != "true"
        and environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true"
    )


def is_partial_request() -> bool:
    """The current request is htmx asking for a fragment (see `partial_request`)."""
    return partial_request(request.environ)


def render(template: str, *, block: str | None = None, status: int = 200, **context) -> Response:
    """Render the named block for an htmx partial request, otherwise the whole page."""
    if block is not None and is_partial_request():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def absolute_url(endpoint: str, **values) -> str:
    """An absolute link built from PORTAL_BASE_URL, never from the request's Host header."""
    return current_app.config["PORTAL_BASE_URL"] + url_for(endpoint, **values)


def absolute_path(path: str) -> str:
    """An absolute link for a path of the portal (PORTAL_BASE_URL + path)."""
    return current_app.config["PORTAL_BASE_URL"] + path


def check_host() -> None:
    """Answer 400 to a request for a host the portal does not serve (PORTAL_ALLOWED_HOSTS).

    `request.host` is the Host header, or X-Forwarded-Host when a trusted proxy set it.
    """
    allowed = current_app.config.get("PORTAL_ALLOWED_HOSTS")
    if not allowed:
        return
    host = request.host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if host not in allowed and name not in allowed:
        from flask import abort

        abort(400)


def is_safe_next(target: str | None) -> bool:
    """Only local absolute paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str = "core.home") -> str:
    """The requested local path, or the default endpoint's URL."""
    return target if is_safe_next(target) else url_for(default)


def current_path() -> str:
    """The path and query of this request, for next= (htmx partials use the page's URL)."""
    if htmx.current_url:
        parts = urlsplit(htmx.current_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if is_safe_next(path):
            return path
    return request.full_path.rstrip("?")


def referrer_path() -> str:
    """The local path of the page that sent this request, or the current path."""
    if request.referrer:
        parts = urlsplit(request.referrer)
        if parts.netloc == request.host:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if is_safe_next(path):
                return path
    return current_path()


def login_redirect() -> Response:
    """Send an anonymous user to the login page: 401 + HX-Redirect for htmx partials."""
    login_url = url_for("auth.login", next=current_path())
    if is_partial_request():
        return htmx_response("", 401, redirect=login_url)
    return redirect(login_url, code=303 if request.method not in ("GET", "HEAD") else 302)


def see_other(endpoint_or_url: str, **values) -> Response:
    """303 redirect after an unsafe request (an endpoint name or a local path)."""
    target = (
        endpoint_or_url if endpoint_or_url.startswith("/") else url_for(endpoint_or_url, **values)
    )
    return redirect(target, code=303)


def page_size() -> int:
    """How many rows a list shows (PORTAL_PAGE_SIZE)."""
    return current_app.config["PORTAL_PAGE_SIZE"]


def page_number() -> int:
    """The ?page= argument, clamped to a positive integer."""
    try:
        return max(1, min(int(request.args.get("page", 1)), 100_000))
    except ValueError:
        return 1


def form_error(form, error) -> None:
    """Put a service's refusal (a DomainError) on its form field, or above the form.

    The request's writes are rolled back (a refused action never commits half its work),
    unless the error says the refusal itself is recorded (`keep_writes`, e.g. a failed login
    that is counted). The view then renders the form again with what the user typed.
    """
    from portal.db import discard_writes

    problems = getattr(error, "problems", None)
    if problems:
        # Several fields at once (InvalidInput): each on its own field, unless the form's
        # own check already marked that field.
        for problem in problems:
            field = form._fields.get(problem.field) if problem.field else None
            if field is None or not field.errors:
                _put(form, problem)
    else:
        _put(form, error)
    if not getattr(error, "keep_writes", False):
        discard_writes()


def _put(form, error) -> None:
    message = error.translated()
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)


def flash_error(error) -> None:
    """Tell a refusal of an action that has no form (a button) and undo its writes."""
    from flask import flash

    from portal.db import discard_writes

    flash(error.translated(), "error")
    if not getattr(error, "keep_writes", False):
        discard_writes()
