"""Funds and their ledger: money in, money out, reversals; balances derived, never stored.

- `balance` = the sum of every entry; `spendable` leaves out the principal of a fund that keeps
  it (donations to it are principal; income and grants are not); `available` = spendable minus
  what is approved and not yet paid. Approval refuses an amount above `available`.
- Amounts are integer fen, from 1 fen to `MAX_FEN` (¥10,000,000) per entry; text amounts are
  parsed by `parse_yuan` ("3000", "3,000.50", "¥12.3") and anything else is a field error.
- Nothing updates or deletes an entry: a mistake is corrected by `reverse`, which writes the
  opposite amount and can be done once per entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit, cache
from portal.auth.models import User
from portal.charity.models import (
    AidRequest,
    EntryKind,
    Fund,
    LedgerEntry,
    RequestStatus,
)
from portal.core.domain import DomainError
from portal.i18n import N_
from portal.timeutil import china_today

AREA = "charity"
MAX_FEN = 10_000_000_00  # ¥10,000,000 in one entry
YUAN_RE = re.compile(r"^\d{1,9}(\.\d{1,2})?$")

ENTRY_LABELS = {
    EntryKind.DONATION: _l("Donation"),
    EntryKind.INCOME: _l("Income"),
    EntryKind.GRANT: _l("Aid paid"),
    EntryKind.REVERSAL: _l("Reversal"),
}

audit.register_actions(
    {
        "fund.created": _l("Fund created"),
        "fund.changed": _l("Fund changed"),
        "fund.closed": _l("Fund closed"),
        "fund.reopened": _l("Fund reopened"),
        "ledger.donation": _l("Donation recorded"),
        "ledger.income": _l("Fund income recorded"),
        "ledger.reversal": _l("Ledger entry reversed"),
        "ledger.grant": _l("Aid paid from a fund"),
    }
)
audit.register_target("fund", audit.TargetType(_l("Fund"), "charity.fund", "fund_id"))


class LedgerError(DomainError):
    """A money rule was broken; the message is translatable."""


def parse_yuan(text_value: Any, *, field: str = "amount") -> int:
    """A typed amount in yuan as integer fen; refuses zero, negatives, fractions of a fen."""
    if isinstance(text_value, int) and not isinstance(text_value, bool):
        text_value = str(text_value)
    raw = re.sub(r"[\s,，¥￥元]", "", str(text_value or ""))
    if not raw:
        raise LedgerError(N_("Enter the amount in yuan."), field)
    if raw.startswith("-"):
        raise LedgerError(N_("The amount must be more than zero."), field)
    if not YUAN_RE.match(raw):
        raise LedgerError(
            N_("Enter the amount in yuan with at most two decimals, for example 3000 or 3000.50."),
            field,
        )
    try:
        fen = int((Decimal(raw) * 100).to_integral_exact())
    except InvalidOperation:
        raise LedgerError(N_("Enter the amount in yuan."), field) from None
    check_fen(fen, field=field)
    return fen


def check_fen(fen: int, *, field: str = "amount") -> int:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise LedgerError(N_("The amount must be a whole number of fen."), field)
    if fen <= 0:
        raise LedgerError(N_("The amount must be more than zero."), field)
    if fen > MAX_FEN:
        raise LedgerError(N_("The amount is above ¥10,000,000: check it."), field)
    return fen


def yuan(fen: int | None) -> str:
    """Fen as yuan for people: 300050 → "3,000.50"."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


# Balances ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    balance: int  # every entry
    principal: int  # kept, not spendable
    spendable: int
    committed: int  # approved, not yet paid
    donations: int
    income: int
    grants: int  # as a positive number

    @property
    def available(self) -> int:
        return self.spendable - self.committed


def committed_fen(session: Session, fund_id: int) -> int:
    """Approved and not yet paid (the notice period included)."""
    return int(
        session.exec(
            select(func.coalesce(func.sum(AidRequest.approved_fen), 0)).where(
                AidRequest.fund_id == fund_id, AidRequest.status == RequestStatus.APPROVED
            )
        ).one()
    )


def balance(session: Session, fund_id: int) -> Balance:
    """A fund's figures from its ledger: one sum per (kind, principal), added up here.

    The grouped sums read the covering index `ix_ledger_fund_kind_amount` alone.
    """
    rows = session.exec(
        select(LedgerEntry.kind, LedgerEntry.principal, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.fund_id == fund_id)
        .group_by(LedgerEntry.kind, LedgerEntry.principal)
    ).all()
    total = principal = donations = income = grants = 0
    for kind, is_principal, amount in rows:
        amount = int(amount or 0)
        total += amount
        if is_principal:
            principal += amount
        if kind == EntryKind.DONATION:
            donations += amount
        elif kind == EntryKind.INCOME:
            income += amount
        elif kind == EntryKind.GRANT:
            grants += amount
    return Balance(
        balance=total,
        principal=principal,
        spendable=total - principal,
        committed=committed_fen(session, fund_id),
        donations=donations,
        income=income,
        grants=-grants,
    )


# Writing entries ------------------------------------------------------------------------------


def _entry(
    session: Session,
    fund: Fund,
    *,
    kind: EntryKind,
    amount_fen: int,
    actor: User,
    reference: str | None,
    note: str | None,
    booked_on: date | None,
    principal: bool = False,
    request_id: int | None = None,
    reverses_id: int | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(
        fund_id=fund.id,
        kind=kind,
        amount_fen=amount_fen,
        principal=principal,
        reference=(reference or "").strip()[:60] or None,
        note=(note or "").strip()[:200] or None,
        booked_on=booked_on or china_today(),
        entered_by=actor.id,
        request_id=request_id,
        reverses_id=reverses_id,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        action=f"ledger.{kind.value}",
        actor_id=actor.id,
        target_type="fund",
        target_id=fund.id,
        entry=entry.id,
        amount_fen=amount_fen,
    )
    cache.bump(session, AREA)
    return entry


def _check_day(booked_on: date | None) -> date:
    today = china_today()
    day = booked_on or today
    if day > today:
        raise LedgerError(N_("The date cannot be in the future."), "booked_on")
    if day.year < 2000:
        raise LedgerError(N_("Enter a date from the year 2000 on."), "booked_on")
    return day


def record_donation(
    session: Session,
    fund: Fund,
    *,
    actor: User,
    amount_fen: int,
    reference: str | None = None,
    note: str | None = None,
    booked_on: date | None = None,
) -> LedgerEntry:
    """Money given to a fund: principal when the fund keeps its principal."""
    check_fen(amount_fen)
    day = _check_day(booked_on)
    if not fund.active:
        raise LedgerError(N_("This fund is closed."))
    return _entry(
        session,
        fund,
        kind=EntryKind.DONATION,
        amount_fen=amount_fen,
        actor=actor,
        reference=reference,
        note=note,
        booked_on=day,
        principal=fund.keep_principal,
    )


def record_income(
    session: Session,
    fund: Fund,
    *,
    actor: User,
    amount_fen: int,
    reference: str | None = None,
    note: str | None = None,
    booked_on: date | None = None,
) -> LedgerEntry:
    """Interest or investment income of a fund: always spendable."""
    check_fen(amount_fen)
    day = _check_day(booked_on)
    return _entry(
        session,
        fund,
        kind=EntryKind.INCOME,
        amount_fen=amount_fen,
        actor=actor,
        reference=reference,
        note=note,
        booked_on=day,
    )


def reverse(session: Session, entry: LedgerEntry, *, actor: User, note: str) -> LedgerEntry:
    """Correct an entry with its opposite (once); a reversal is never reversed."""
    note = (note or "").strip()
    if not note:
        raise LedgerError(N_("Say why the entry is reversed."), "note")
    if entry.kind == EntryKind.REVERSAL:
        raise LedgerError(N_("A reversal cannot itself be reversed; record a new entry instead."))
    if entry.kind == EntryKind.GRANT:
        raise LedgerError(N_("A paid grant is corrected on its request, not here."))
    already = select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)
    if session.exec(already).first() is not None:
        raise LedgerError(N_("This entry has already been reversed."))
    fund = session.get(Fund, entry.fund_id)
    # Taking back spendable money must not leave approved aid without cover.
    spendable_in = entry.amount_fen > 0 and not entry.principal
    if spendable_in and entry.amount_fen > balance(session, fund.id).available:
        raise LedgerError(N_("Reversing this entry would leave approved aid without money."))
    try:
        with session.begin_nested():
            return _entry(
                session,
                fund,
                kind=EntryKind.REVERSAL,
                amount_fen=-entry.amount_fen,
                actor=actor,
                reference=entry.reference,
                note=note,
                booked_on=china_today(),
                principal=entry.principal,
                reverses_id=entry.id,
            )
    except IntegrityError:
        raise LedgerError(N_("This entry has already been reversed.")) from None


def pay_grant(
    session: Session, request: AidRequest, *, actor: User, reference: str
) -> LedgerEntry | None:
    """Write the request's grant once; None when it was already paid (by anyone, at any time)."""
    fund = session.get(Fund, request.fund_id)
    try:
        with session.begin_nested():
            return _entry(
                session,
                fund,
                kind=EntryKind.GRANT,
                amount_fen=-request.approved_fen,
                actor=actor,
                reference=reference,
                note=request.number,
                booked_on=china_today(),
                request_id=request.id,
            )
    except IntegrityError:
        return None


def entries(session: Session, fund_id: int):
    return select(LedgerEntry).where(LedgerEntry.fund_id == fund_id).order_by(LedgerEntry.id.desc())
