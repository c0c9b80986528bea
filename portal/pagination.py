"""Pages of a list: one counted, offset query shared by every list in the portal."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Page:
    """One page of a list."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def with_items(self, items: list) -> Page:
        """The same page holding other items (e.g. rows joined to their revisions)."""
        return replace(self, items=items)


def paginate(session: Session, statement, *, page: int, per_page: int) -> Page:
    """Count the statement's rows and fetch one page of them (the statement is already ordered)."""
    total = session.execute(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).scalar_one()
    items = list(session.scalars(statement.offset((page - 1) * per_page).limit(per_page)))
    return Page(items=items, page=page, per_page=per_page, total=total)
