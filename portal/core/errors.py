"""Error pages in the user's language, never a stack trace; domain errors mapped to 404/403 here."""

from __future__ import annotations

import logging

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal import audit
from portal.core.domain import DomainError, NotAllowed, NotFound
from portal.db import discard_writes
from portal.web import render

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: (
        _l("Bad request"),
        _l("The request could not be understood. Please go back and try again."),
    ),
    401: (_l("Please log in"), _l("You need to log in to see this page.")),
    403: (
        _l("Not allowed"),
        _l(
            "Your account is not allowed to do this. If you think it should be, ask the administrator."
        ),
    ),
    404: (
        _l("Page not found"),
        _l("We could not find this page. It may have moved, or the address may be wrong."),
    ),
    405: (_l("Not allowed"), _l("This page cannot be used this way.")),
    410: (_l("Gone"), _l("This link is no longer valid.")),
    413: (
        _l("File too large"),
        _l("The file or form you sent is too large. Please send a smaller one."),
    ),
    429: (
        _l("Too many requests"),
        _l("You have tried too often in a short time. Please wait a minute and try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l(
            "The portal had a problem answering. Please try again later; if a child is in danger call 110."
        ),
    ),
}


def _page(code: int, detail: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[500])
    response = render("errors/error.html", status=code, code=code, title=title, text=detail or text)
    return response


def handle_http(error: HTTPException):
    code = error.code or 500
    if code not in MESSAGES:
        code = 500 if code >= 500 else 400
    response = _page(code)
    if error.code == 429:
        retry = getattr(error, "retry_after", None)
        if retry:
            response.headers["Retry-After"] = str(retry)
    return response


def handle_csrf(_error: CSRFError):
    return _page(
        400,
        str(
            _l(
                "The form had expired or came from elsewhere. Please reload the page and send it again."
            )
        ),
    )


def handle_domain(error: DomainError):
    """A service's refusal that no view turned into a form error."""
    discard_writes()
    if isinstance(error, NotFound):
        audit.record_denial(**{"reason": "not_found", **_plain(error.detail)})
        return _page(404)
    if isinstance(error, NotAllowed):
        audit.record_denial(**{"reason": "not_allowed", **_plain(error.detail)})
        return _page(403)
    return _page(400, error.translated())


def _plain(detail: dict) -> dict:
    return {k: v if isinstance(v, int | float | bool | None) else str(v) for k, v in detail.items()}


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http(error)
    log.error(
        "unhandled error",
        exc_info=error,
        extra={"fields": {"path": request.path, "method": request.method}},
    )
    return _page(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain)
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
