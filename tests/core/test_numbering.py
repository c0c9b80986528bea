"""Yearly record numbers (SY/ZM/ET/YJ + year + six digits) and their insert with retries."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.orm import registry

from portal.core import numbering
from portal.core.domain import DomainError

metadata = MetaData()
numbered = Table(
    "test_numbered",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(20), unique=True, nullable=False),
    Column("note", String(20)),
)


class Numbered:
    pass


mapper_registry = registry()
mapper_registry.map_imperatively(Numbered, numbered)


@pytest.fixture()
def table(session):
    metadata.create_all(session.connection())  # rolled back with the test's transaction
    return numbered


def _row(note: str = "") -> Numbered:
    row = Numbered()
    row.note = note
    return row


def test_the_first_number_of_a_year_and_the_next(session, table):
    assert numbering.next_in_year(session, table.c.number, "SY", 2026) == "SY2026000001"
    session.execute(insert(table).values(number="SY2026000041"))
    session.execute(insert(table).values(number="SY2025000099"))  # another year
    session.execute(insert(table).values(number="ZM2026000500"))  # another prefix
    assert numbering.next_in_year(session, table.c.number, "SY", 2026) == "SY2026000042"
    assert numbering.next_in_year(session, table.c.number, "SY", 2027) == "SY2027000001"


def test_a_number_taken_meanwhile_is_followed_by_the_next(session, table):
    session.execute(insert(table).values(number="ET2026000001"))
    offered = iter(["ET2026000001", "ET2026000002"])  # the first was taken by another insert
    row = _row("mine")
    assert (
        numbering.insert_numbered(
            session, row, "number", lambda: next(offered), busy=DomainError("busy")
        )
        is None
    )
    assert session.execute(select(table.c.number).where(table.c.note == "mine")).scalar() == (
        "ET2026000002"
    )


def test_after_five_taken_numbers_the_portal_says_it_is_busy(session, table):
    session.execute(insert(table).values(number="YJ2026000001"))
    tries = []

    def taken() -> str:
        tries.append(1)
        return "YJ2026000001"

    with pytest.raises(DomainError, match="busy"):
        numbering.insert_numbered(session, _row(), "number", taken, busy=DomainError("busy"))
    assert len(tries) == numbering.ATTEMPTS
    assert session.execute(select(table.c.id)).all() != []  # the first row is still there


def test_a_conflict_can_answer_with_the_row_that_won(session, table):
    session.execute(insert(table).values(number="YJ2026000001", note="first click"))
    won = numbering.insert_numbered(
        session,
        _row("second click"),
        "number",
        lambda: "YJ2026000001",
        busy=DomainError("busy"),
        on_conflict=lambda: session.execute(
            select(table.c.note).where(table.c.number == "YJ2026000001")
        ).scalar(),
    )
    assert won == "first click"


def test_numbers_inserted_together_follow_the_first():
    numbers = numbering.numbers_from("SY2026000041")
    assert [next(numbers) for _ in range(3)] == ["SY2026000041", "SY2026000042", "SY2026000043"]
