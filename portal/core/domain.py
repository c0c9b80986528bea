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
    """A rule refused the action.

    `message` is an English msgid marked with `N_()` (translated when shown, so services work
    without a request, in the CLI and the scheduler too), `params` fill its placeholders,
    `field` names the input it concerns, and `detail` is kept for the audit log.
    """

    keep_writes = False  # True when recording the refusal itself is the rule (failed logins)

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        **detail: Any,
    ) -> None:
        self.message = message
        self.field = field
        self.params = params or {}
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text

    def translated(self) -> str:
        """The message in the user's language (needs a request or a forced locale)."""
        from flask_babel import gettext

        return gettext(str(self.message), **self.params)


class InvalidInput(DomainError):
    """Several fields are wrong at once: each problem (a DomainError) names its field.

    Areas derive their own (`class InvalidVolunteer(InvalidInput, VolunteerError)`), so a
    form marks every wrong field in one answer; the first problem is the error's own message.
    """

    def __init__(self, problems: list[DomainError]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.message, first.field, params=first.params)


class NotFound(DomainError):
    """The record does not exist, or is out of this user's reach (shown as 404)."""

    def __init__(self, message: Any = "", field: str | None = None, **detail: Any) -> None:
        super().__init__(message or "not found", field, **detail)


class NotAllowed(DomainError):
    """This user may not do this (shown as 403)."""

    def __init__(self, message: Any = "", field: str | None = None, **detail: Any) -> None:
        super().__init__(message or "not allowed", field, **detail)
