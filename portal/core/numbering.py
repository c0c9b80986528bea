"""Yearly record numbers: a prefix, the year and a six-digit sequence (SY2026000001).

Volunteers (SY), service certificates (ZM), children (ET) and aid requests (YJ) are numbered
this way. The next number is the year's highest plus one; a unique index on the column is what
keeps two records from sharing one, and `insert_numbered` takes the next number again when a
concurrent insert took it first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from portal.core.domain import DomainError

SEQUENCE_DIGITS = 6
ATTEMPTS = 5
T = TypeVar("T")


def next_in_year(session: Session, column: Any, prefix: str, year: int) -> str:
    """The year's next number in `column`: SY2026000001 when the year has none yet."""
    start = f"{prefix}{year}"
    last = session.execute(select(func.max(column)).where(column.like(f"{start}%"))).scalar()
    sequence = int(last[len(start) :]) + 1 if last else 1
    return f"{start}{sequence:0{SEQUENCE_DIGITS}d}"


def numbers_from(first: str) -> Iterator[str]:
    """`first` and the numbers after it in its year (for rows inserted together)."""
    prefix, sequence = first[:-SEQUENCE_DIGITS], int(first[-SEQUENCE_DIGITS:])
    for offset in itertools.count():
        yield f"{prefix}{sequence + offset:0{SEQUENCE_DIGITS}d}"


def insert_numbered(
    session: Session,
    row: Any,
    attribute: str,
    number: Callable[[], str],
    *,
    busy: DomainError,
    on_conflict: Callable[[], T | None] | None = None,
) -> T | None:
    """Add `row` with the next free number in `attribute`, in a savepoint.

    When the insert breaks a unique index, the savepoint undoes it and `on_conflict` (when
    given) says why: it may raise (the same person again), or return a row to use instead (a
    double click committed first), which is returned. Otherwise the number was taken meanwhile
    and the next one is tried; `busy` is raised after ATTEMPTS tries.
    """
    for _attempt in range(ATTEMPTS):
        setattr(row, attribute, number())
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            found = on_conflict() if on_conflict is not None else None
            if found is not None:
                return found
            continue
        return None
    raise busy
