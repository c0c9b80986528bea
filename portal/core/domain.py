"""Domain errors: what a service raises when a rule refuses a request.

Services raise these, never HTTP errors. A view that holds a form catches `DomainError`,
puts it on the form with `portal.web.form_error()` and renders the form again with what the
user typed; `NotFound` and `NotAllowed` that no view catches become 404 and 403 pages in
`portal.core.errors`. Either way the request's writes are rolled back: a refused action never
commits half its work.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule refused the action; `message` is for the user (a lazy string), `field` the input."""

    def __init__(self, message: Any, field: str | None = None, **detail: Any) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.detail = detail


class NotFound(DomainError):
    """The record does not exist, or is out of this user's reach (shown as 404)."""

    def __init__(self, message: Any = "", field: str | None = None, **detail: Any) -> None:
        super().__init__(message or "not found", field, **detail)


class NotAllowed(DomainError):
    """This user may not do this (shown as 403)."""

    def __init__(self, message: Any = "", field: str | None = None, **detail: Any) -> None:
        super().__init__(message or "not allowed", field, **detail)
