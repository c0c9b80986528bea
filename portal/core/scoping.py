"""Township scoping (属地管理) for services: who may see which township's records.

Decorators check roles only; services scope their queries and check the records they load
with these helpers, which raise `NotFound` (shown as 404, so a record's existence is not
revealed to staff of another township).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false

from portal.auth.models import Role, User
from portal.core.domain import NotFound

COUNTY_WIDE_ROLES = frozenset({Role.ADMIN, Role.COUNTY_STAFF})


@dataclass(frozen=True)
class Scope:
    """The townships a user may see: all of them, one, or none."""

    everywhere: bool = False
    township: str | None = None

    def allows(self, township_code: str | None) -> bool:
        return self.everywhere or (self.township is not None and township_code == self.township)


def township_scope(user: User) -> Scope:
    """County-wide roles see every township; township staff their own; anyone else none."""
    if user.role in COUNTY_WIDE_ROLES:
        return Scope(everywhere=True)
    if user.role == Role.TOWNSHIP_STAFF and user.township_code:
        return Scope(township=user.township_code)
    return Scope()


def scope_query(statement, column, user: User):
    """Restrict a select() to the townships the user may see (by a township-code column)."""
    scope = township_scope(user)
    if scope.everywhere:
        return statement
    if scope.township is None:
        return statement.where(false())
    return statement.where(column == scope.township)


def check_township(user: User, township_code: str | None) -> None:
    """Raise NotFound when a record belongs to a township the user may not see."""
    if not township_scope(user).allows(township_code):
        raise NotFound(reason="township", township=township_code)
