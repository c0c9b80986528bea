"""Public disclosure of emergency aid (信息公开): funds, aid given, notices; never a person.

Everything here is an aggregate grouped in SQL, except the public notices, which show a
masked child's name (张**), the township, what happened and the amount, nothing else.

- Funds: name, kind, purpose, the donor only when `donor_public`; for each of the last 12
  months (China calendar, this month included) the money in (donations and income, net of
  their reversals), the aid paid and the balance at the end of the month. The months are
  grouped in SQL by comparing `booked_on` with the first day of each month (a CASE over date
  ranges), which is the same on SQLite and PostgreSQL and uses the (fund, day) index.
- Aid given: paid requests of a calendar year (China time), counted and summed by kind and
  by township.
- Notices: approved requests (paid emergencies included) whose notice runs until today or
  later.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func
from sqlmodel import Session, select

from portal.charity.models import AidKind, AidRequest, EntryKind, Fund, FundKind, LedgerEntry
from portal.charity.models import RequestStatus as Status
from portal.core.protect import mask_name
from portal.places import Township
from portal.timeutil import SHANGHAI, as_utc, china_today

MONTHS = 12
FUND_KIND_LABELS = {
    FundKind.SPECIAL: _l("Special fund"),
    FundKind.NAMED: _l("Named fund"),
}


def month_starts(today: date, count: int = MONTHS) -> list[date]:
    """The first days of the last `count` months, oldest first, this month last."""
    year, month = today.year, today.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return starts[::-1]


@dataclass
class Month:
    start: date
    income: int = 0  # fen: donations and income, net of their reversals
    spending: int = 0  # fen, positive: aid paid
    balance: int = 0  # fen, at the end of the month

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


@dataclass
class FundFigures:
    fund: Fund
    balance: int  # fen, every entry
    months: list[Month] = field(default_factory=list)

    @property
    def donor(self) -> str | None:
        return self.fund.donor if self.fund.donor_public and self.fund.donor else None

    @property
    def income(self) -> int:
        return sum(m.income for m in self.months)

    @property
    def spending(self) -> int:
        return sum(m.spending for m in self.months)


def _month_index(starts: list[date]):
    """SQL: which of `starts` a ledger entry's day falls in (0 = oldest); portable."""
    whens = [
        (LedgerEntry.booked_on >= start, index)
        for index, start in reversed(list(enumerate(starts)))
    ]
    return case(*whens, else_=-1)


def fund_figures(
    session: Session, *, today: date | None = None, fund_ids: list[int] | None = None
) -> list[FundFigures]:
    """Each fund with its balance and the last 12 months, in two grouped queries."""
    today = today or china_today()
    starts = month_starts(today)
    statement = select(Fund).order_by(Fund.active.desc(), Fund.id)
    if fund_ids is not None:
        statement = statement.where(Fund.id.in_(fund_ids))
    funds = list(session.exec(statement))
    if not funds:
        return []
    ids = [f.id for f in funds]
    totals = dict(
        session.exec(
            select(LedgerEntry.fund_id, func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
            .where(LedgerEntry.fund_id.in_(ids))
            .group_by(LedgerEntry.fund_id)
        ).all()
    )
    month = _month_index(starts).label("month")
    is_grant = case((LedgerEntry.kind == EntryKind.GRANT, 1), else_=0).label("is_grant")
    rows = session.exec(
        select(LedgerEntry.fund_id, month, is_grant, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.fund_id.in_(ids), LedgerEntry.booked_on >= starts[0])
        .group_by(LedgerEntry.fund_id, month, is_grant)
    ).all()
    moves: dict[tuple[int, int, int], int] = {
        (fund_id, int(m), int(g)): int(total or 0) for fund_id, m, g, total in rows
    }
    result = []
    for fund in funds:
        total = int(totals.get(fund.id, 0))
        # Entries booked after today (none: the ledger refuses future days) would be counted
        # in the total only; the balance at the end of this month is the total.
        window = sum(v for (f, m, _g), v in moves.items() if f == fund.id and m >= 0)
        running = total - window
        figures = FundFigures(fund=fund, balance=total)
        for index, start in enumerate(starts):
            income = moves.get((fund.id, index, 0), 0)
            spending = -moves.get((fund.id, index, 1), 0)
            running += income - spending
            figures.months.append(Month(start, income=income, spending=spending, balance=running))
        result.append(figures)
    return result


def chart(figures: FundFigures) -> dict:
    """The spec read by static/js/charts.js: yuan per month."""
    return {
        "kind": "bar",
        "labels": [m.label for m in figures.months],
        "series": [
            {"name": str(_l("Money in")), "values": [m.income / 100 for m in figures.months]},
            {"name": str(_l("Aid paid")), "values": [m.spending / 100 for m in figures.months]},
            {
                "name": str(_l("Balance at month end")),
                "values": [m.balance / 100 for m in figures.months],
            },
        ],
        "unit": str(_l("yuan")),
    }


# Aid given ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AidRow:
    key: str  # the kind's value or the township's code
    count: int
    amount: int  # fen


@dataclass
class AidGiven:
    year: int
    by_kind: list[AidRow]
    by_township: list[AidRow]

    @property
    def count(self) -> int:
        return sum(r.count for r in self.by_kind)

    @property
    def amount(self) -> int:
        return sum(r.amount for r in self.by_kind)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = datetime.combine(date(year, 1, 1), time(), tzinfo=SHANGHAI)
    end = datetime.combine(date(year + 1, 1, 1), time(), tzinfo=SHANGHAI)
    return start, end


def _paid():
    return (AidRequest.paid_at.is_not(None), AidRequest.status.in_([Status.PAID, Status.CLOSED]))


def years(session: Session, *, today: date | None = None) -> list[int]:
    """The years with paid aid, and this year; newest first."""
    today = today or china_today()
    first = session.exec(select(func.min(AidRequest.paid_at)).where(*_paid())).one()
    if first is None:
        return [today.year]
    if isinstance(first, str):  # in case a driver answers the aggregate as text
        first = datetime.fromisoformat(first)
    start = as_utc(first).astimezone(SHANGHAI)
    return list(range(today.year, min(start.year, today.year) - 1, -1))


def aid_given(session: Session, year: int) -> AidGiven:
    start, end = _year_bounds(year)
    where = (*_paid(), AidRequest.paid_at >= start, AidRequest.paid_at < end)
    amount = func.coalesce(func.sum(AidRequest.approved_fen), 0)
    by_kind = {
        kind: AidRow(kind, int(n), int(total))
        for kind, n, total in session.exec(
            select(AidRequest.kind, func.count(), amount).where(*where).group_by(AidRequest.kind)
        ).all()
    }
    kinds = [by_kind.get(k.value, AidRow(k.value, 0, 0)) for k in AidKind]
    by_township = [
        AidRow(code, int(n), int(total))
        for code, n, total in session.exec(
            select(AidRequest.township_code, func.count(), amount)
            .where(*where)
            .group_by(AidRequest.township_code)
            .order_by(AidRequest.township_code)
        ).all()
    ]
    return AidGiven(year=year, by_kind=kinds, by_township=by_township)


def township_names(session: Session) -> dict[str, str]:
    return {t.code: t.name for t in session.exec(select(Township))}


# Notices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    child: str  # masked: 张**
    township_code: str
    kind: str
    amount: int  # fen
    fund: str
    approved_on: date | None
    until: date


def notices(session: Session, *, today: date | None = None) -> list[Notice]:
    """Approved requests whose public notice still runs, without any identity.

    An emergency is paid at once and its notice is published all the same, so a paid request
    stays on the list until its notice ends.
    """
    today = today or china_today()
    rows = session.exec(
        select(
            AidRequest.child_name,
            AidRequest.township_code,
            AidRequest.kind,
            AidRequest.approved_fen,
            Fund.name,
            AidRequest.approved_at,
            AidRequest.notice_until,
        )
        .join(Fund, Fund.id == AidRequest.fund_id)
        .where(
            AidRequest.status.in_([Status.APPROVED, Status.PAID, Status.CLOSED]),
            AidRequest.notice_until >= today,
        )
        .order_by(AidRequest.approved_at, AidRequest.id)
    ).all()
    return [
        Notice(
            child=mask_name(child),
            township_code=township,
            kind=str(kind),
            amount=int(amount or 0),
            fund=fund,
            approved_on=approved.astimezone(SHANGHAI).date() if approved else None,
            until=until,
        )
        for child, township, kind, amount, fund, approved, until in rows
    ]


# CSV ---------------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A text cell that a spreadsheet never reads as a formula."""
    text = str(value if value is not None else "")
    text = text.replace("\r", " ").replace("\n", " ")
    if text[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%"):
        return "'" + text
    return text


def _yuan_number(fen: int) -> str:
    """Fen as a plain number of yuan (no thousands separator): 300050 → 3000.50."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def csv_bytes(
    funds: list[FundFigures],
    given: AidGiven,
    names: dict[str, str],
    kind_labels: dict,
) -> bytes:
    """The same figures as the page, UTF-8 with a BOM (Excel reads the Chinese right)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_text(_l("Funds: money in, aid paid and balance by month (yuan)"))])
    writer.writerow(
        [
            _text(h)
            for h in (
                _l("Fund"),
                _l("Kind"),
                _l("Donor"),
                _l("Purpose"),
                _l("Month"),
                _l("Money in"),
                _l("Aid paid"),
                _l("Balance at month end"),
            )
        ]
    )
    for figures in funds:
        fund = figures.fund
        for m in figures.months:
            writer.writerow(
                [
                    _text(fund.name),
                    _text(FUND_KIND_LABELS.get(fund.kind, fund.kind)),
                    _text(figures.donor or ""),
                    _text(fund.purpose),
                    _text(m.label),
                    _yuan_number(m.income),
                    _yuan_number(m.spending),
                    _yuan_number(m.balance),
                ]
            )
    writer.writerow([])
    writer.writerow([_text(_l("Aid paid in %(year)d by kind", year=given.year))])
    writer.writerow([_text(_l("Kind")), _text(_l("Requests paid")), _text(_l("Amount (yuan)"))])
    for row in given.by_kind:
        label = kind_labels.get(AidKind(row.key), row.key)
        writer.writerow([_text(label), str(row.count), _yuan_number(row.amount)])
    writer.writerow([_text(_l("Total")), str(given.count), _yuan_number(given.amount)])
    writer.writerow([])
    writer.writerow([_text(_l("Aid paid in %(year)d by township", year=given.year))])
    writer.writerow([_text(_l("Township")), _text(_l("Requests paid")), _text(_l("Amount (yuan)"))])
    for row in given.by_township:
        writer.writerow(
            [_text(names.get(row.key, row.key)), str(row.count), _yuan_number(row.amount)]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
