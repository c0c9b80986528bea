"""Excel workbooks for the accountant: a fund's ledger over a period, and the requests.

Amounts are numbers in yuan with two decimals (never text, so they add up in Excel); every
text cell is written as text, so a note that starts with "=" never becomes a formula. The
requests workbook carries no names, mobiles or accounts: numbers, places, amounts and dates.
Each export is audited. The words need a request or a forced locale.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlmodel import Session, select

from portal import audit
from portal.auth.models import User
from portal.charity import ledger, requests
from portal.charity.models import AidRequest, Fund, LedgerEntry
from portal.i18n import N_
from portal.places import Township
from portal.timeutil import SHANGHAI

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"

audit.register_actions(
    {
        "ledger.exported": _l("Fund ledger exported"),
        "aid.exported": _l("Aid requests exported"),
    }
)

LEDGER_HEADERS = (
    N_("Date"),
    N_("Kind"),
    N_("Amount (yuan)"),
    N_("Reference"),
    N_("Note"),
    N_("Request number"),
    N_("Entered by"),
)
REQUEST_HEADERS = (
    N_("Request number"),
    N_("Received"),
    N_("Township"),
    N_("What happened"),
    N_("Emergency"),
    N_("Status"),
    N_("Requested (yuan)"),
    N_("Approved (yuan)"),
    N_("Fund"),
    N_("Approved on"),
    N_("Paid on"),
    N_("Payment reference"),
)


def to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


class _Sheet:
    def __init__(self, workbook, title: str, widths: tuple[int, ...]) -> None:
        from openpyxl.utils import get_column_letter

        self.sheet = workbook.create_sheet(title[:31])
        for number, width in enumerate(widths, start=1):
            self.sheet.column_dimensions[get_column_letter(number)].width = width

    def cell(self, value: Any, *, bold: bool = False, money: bool = False):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        item = WriteOnlyCell(self.sheet, value=value)
        if isinstance(value, str):
            item.data_type = "s"  # text stays text, whatever it starts with
        if money:
            item.number_format = MONEY_FORMAT
        elif isinstance(value, date):
            item.number_format = "yyyy-mm-dd"
        if bold:
            item.font = Font(bold=True)
        return item

    def row(self, *values: Any, bold: bool = False, money_columns: tuple[int, ...] = ()) -> None:
        self.sheet.append(
            [
                self.cell(v, bold=bold, money=i in money_columns and v is not None)
                for i, v in enumerate(values)
            ]
        )


def _save(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sum_before(session: Session, fund_id: int, day: date | None, *, inclusive: bool) -> int:
    if day is None:
        return 0
    limit = LedgerEntry.booked_on <= day if inclusive else LedgerEntry.booked_on < day
    return int(
        session.exec(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.fund_id == fund_id, limit
            )
        ).one()
    )


def ledger_rows(session: Session, fund: Fund, start: date | None, end: date | None):
    statement = (
        select(LedgerEntry, AidRequest.number, User.name)
        .join(AidRequest, AidRequest.id == LedgerEntry.request_id, isouter=True)
        .join(User, User.id == LedgerEntry.entered_by, isouter=True)
        .where(LedgerEntry.fund_id == fund.id)
        .order_by(LedgerEntry.booked_on, LedgerEntry.id)
    )
    if start is not None:
        statement = statement.where(LedgerEntry.booked_on >= start)
    if end is not None:
        statement = statement.where(LedgerEntry.booked_on <= end)
    return session.exec(statement).all()


def ledger_xlsx(
    session: Session,
    fund: Fund,
    *,
    actor: User,
    start: date | None = None,
    end: date | None = None,
    ip: str | None = None,
) -> bytes:
    """The fund's entries booked from `start` to `end` (both included, either open), between an
    opening balance (everything booked before `start`) and the closing balance."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = _Sheet(workbook, gettext("Ledger"), (12, 12, 16, 22, 36, 16, 12))
    rows = ledger_rows(session, fund, start, end)
    opening = _sum_before(session, fund.id, start, inclusive=False)
    closing = opening + sum(entry.amount_fen for entry, _n, _u in rows)
    period = f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"
    sheet.row(f"{fund.name} · {gettext('Ledger')}", bold=True)
    sheet.row(f"{gettext('Period')}: {period}")
    sheet.row(*(gettext(h) for h in LEDGER_HEADERS), bold=True)
    sheet.row(start, gettext("Opening balance"), to_yuan(opening), bold=True, money_columns=(2,))
    for entry, number, name in rows:
        sheet.row(
            entry.booked_on,
            str(ledger.ENTRY_LABELS.get(entry.kind, entry.kind)),
            to_yuan(entry.amount_fen),
            entry.reference or "",
            entry.note or "",
            number or "",
            name or "",
            money_columns=(2,),
        )
    sheet.row(end, gettext("Closing balance"), to_yuan(closing), bold=True, money_columns=(2,))
    data = _save(workbook)
    audit.record(
        session,
        action="ledger.exported",
        actor_id=actor.id,
        target_type="fund",
        target_id=fund.id,
        ip=ip,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        rows=len(rows),
    )
    return data


def requests_xlsx(
    session: Session, *, actor: User, status: str = "", ip: str | None = None
) -> bytes:
    """The requests the queue shows (its status filter and the user's township scope)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    widths = (16, 12, 14, 14, 8, 22, 14, 14, 24, 12, 12, 20)
    sheet = _Sheet(workbook, gettext("Aid requests"), widths)
    # With a status: that status; without: every request, whatever its status.
    statement = requests.queue_statement(actor, status=status) if status else _all(actor)
    townships = dict(session.exec(select(Township.code, Township.name)).all())
    funds = dict(session.exec(select(Fund.id, Fund.name)).all())
    sheet.row(*(gettext(h) for h in REQUEST_HEADERS), bold=True)
    count = 0
    for request in session.exec(statement):
        count += 1
        sheet.row(
            request.number,
            request.created_at.astimezone(SHANGHAI).date(),
            townships.get(request.township_code, request.township_code),
            str(requests.KIND_LABELS.get(request.kind, request.kind)),
            gettext("Yes") if request.emergency else gettext("No"),
            gettext(requests.STATUS_TEXT[request.status]),
            to_yuan(request.requested_fen),
            to_yuan(request.approved_fen) if request.approved_fen is not None else None,
            funds.get(request.fund_id, "") if request.fund_id else "",
            request.approved_at.astimezone(SHANGHAI).date() if request.approved_at else None,
            request.paid_at.astimezone(SHANGHAI).date() if request.paid_at else None,
            request.payment_reference or "",
            money_columns=(6, 7),
        )
    data = _save(workbook)
    audit.record(
        session, action="aid.exported", actor_id=actor.id, ip=ip, status=status or None, rows=count
    )
    return data


def _all(actor: User):
    from portal.core.scoping import scope_query

    statement = select(AidRequest)
    if not requests.is_charity(actor):
        statement = scope_query(statement, AidRequest.township_code, actor)
    return statement.order_by(AidRequest.number)
