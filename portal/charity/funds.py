"""Funds for staff: creating a fund, the list with each fund's figures, a fund's ledger rows.

Money moves only through `ledger` (donations, income, reversals, grants); this module creates
funds and reads what the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from portal import audit, cache
from portal.auth.models import User
from portal.charity import ledger
from portal.charity.ledger import Balance, LedgerError
from portal.charity.models import AidRequest, Fund, FundKind, LedgerEntry, RequestStatus
from portal.core.domain import NotFound
from portal.i18n import N_

KIND_LABELS = {FundKind.SPECIAL: _l("Special fund"), FundKind.NAMED: _l("Named fund")}


def get_fund(session: Session, fund_id: int) -> Fund:
    fund = session.get(Fund, fund_id)
    if fund is None:
        raise NotFound(reason="not_found")
    return fund


def get_entry(session: Session, fund: Fund, entry_id: int) -> LedgerEntry:
    entry = session.get(LedgerEntry, entry_id)
    if entry is None or entry.fund_id != fund.id:
        raise NotFound(reason="not_found")
    return entry


def _text(data: dict[str, Any], name: str) -> str | None:
    return (str(data.get(name) or "")).strip() or None


def _changed(
    session: Session, fund: Fund, action: str, *, actor: User, ip: str | None, **detail: Any
) -> None:
    """After a fund was created or changed: the audit entry, and its public pages go."""
    session.add(fund)
    audit.record(
        session,
        action=action,
        actor_id=actor.id,
        target_type="fund",
        target_id=fund.id,
        ip=ip,
        **detail,
    )
    cache.bump(session, ledger.AREA)


def _purpose_and_earmark(data: dict[str, Any]) -> tuple[str, str | None]:
    """What a fund is for and its earmark, checked: for a new fund and for a change."""
    purpose, earmark = _text(data, "purpose"), _text(data, "earmark")
    if not purpose or not 2 <= len(purpose) <= 200:
        raise LedgerError(N_("Say what the fund is for (2 to 200 characters)."), "purpose")
    if earmark and len(earmark) > 100:
        raise LedgerError(N_("At most %(max)d characters."), "earmark", params={"max": 100})
    return purpose, earmark


def create_fund(
    session: Session, data: dict[str, Any], *, actor: User, ip: str | None = None
) -> Fund:
    """A new fund; every wrong field is refused before anything is written."""
    name, donor = _text(data, "name"), _text(data, "donor")
    kind = str(data.get("kind") or "")
    if not name or not 2 <= len(name) <= 60:
        raise LedgerError(N_("Enter the fund's name (2 to 60 characters)."), "name")
    if kind not in {k.value for k in FundKind}:
        raise LedgerError(N_("Choose the kind of fund."), "kind")
    if kind == FundKind.NAMED and not donor:
        raise LedgerError(N_("A named fund carries its donor's name: enter it."), "donor")
    if donor and len(donor) > 60:
        raise LedgerError(N_("At most %(max)d characters."), "donor", params={"max": 60})
    purpose, earmark = _purpose_and_earmark(data)
    if session.exec(select(Fund.id).where(Fund.name == name)).first() is not None:
        raise LedgerError(N_("A fund with this name already exists."), "name")
    fund = Fund(
        name=name,
        kind=FundKind(kind),
        donor=donor,
        donor_public=bool(data.get("donor_public")) and donor is not None,
        purpose=purpose,
        earmark=earmark,
        keep_principal=bool(data.get("keep_principal")),
        created_by=actor.id,
    )
    try:
        with session.begin_nested():
            session.add(fund)
    except IntegrityError:
        raise LedgerError(N_("A fund with this name already exists."), "name") from None
    _changed(
        session,
        fund,
        "fund.created",
        actor=actor,
        ip=ip,
        kind=fund.kind.value,
        keep_principal=fund.keep_principal,
    )
    return fund


def update_fund(
    session: Session, fund: Fund, data: dict[str, Any], *, actor: User, ip: str | None = None
) -> list[str]:
    """Change what the fund is for, its earmark and whether its donor may be named.

    Its name, kind and whether it keeps its principal stay as created: the ledger, the
    disclosure and the approvals were made under them. Returns the names of the fields changed
    (none: nothing is written).
    """
    purpose, earmark = _purpose_and_earmark(data)
    wanted = {
        "purpose": purpose,
        "earmark": earmark,
        "donor_public": bool(data.get("donor_public")) and fund.donor is not None,
    }
    changed = [name for name, value in wanted.items() if getattr(fund, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(fund, name, wanted[name])
    _changed(session, fund, "fund.changed", actor=actor, ip=ip, fields=",".join(changed))
    return changed


# A request proposed on a fund or approved from it waits for that fund: it is paid from it.
WAITING_ON_FUND = (RequestStatus.APPROVING, RequestStatus.APPROVED)


def requests_waiting_on(session: Session, fund: Fund) -> int:
    return session.exec(
        select(func.count())
        .select_from(AidRequest)
        .where(AidRequest.fund_id == fund.id, AidRequest.status.in_(WAITING_ON_FUND))
    ).one()


def close_fund(
    session: Session, fund: Fund, *, reason: str, actor: User, ip: str | None = None
) -> None:
    """Stop a fund taking donations and grants; its ledger stays and is still published.

    Refused while a request proposed on it or approved from it waits to be paid.
    """
    reason = (reason or "").strip()
    if not fund.active:
        raise LedgerError(N_("This fund is closed."))
    if not 2 <= len(reason) <= 200:
        raise LedgerError(N_("Say why the fund is closed (2 to 200 characters)."), "reason")
    waiting = requests_waiting_on(session, fund)
    if waiting:
        raise LedgerError(
            N_(
                "Requests proposed on this fund or approved from it wait to be paid "
                "(%(num)d): pay them, or propose them on another fund, first."
            ),
            "reason",
            params={"num": waiting},
        )
    fund.active = False
    _changed(session, fund, "fund.closed", actor=actor, ip=ip, reason=reason)


def reopen_fund(session: Session, fund: Fund, *, actor: User, ip: str | None = None) -> None:
    if fund.active:
        raise LedgerError(N_("This fund is open."))
    fund.active = True
    _changed(session, fund, "fund.reopened", actor=actor, ip=ip)


@dataclass(frozen=True)
class FundRow:
    fund: Fund
    figures: Balance


def fund_rows(session: Session) -> list[FundRow]:
    funds = session.exec(select(Fund).order_by(Fund.active.desc(), Fund.name)).all()
    return [FundRow(f, ledger.balance(session, f.id)) for f in funds]


def active_funds(session: Session) -> list[Fund]:
    return list(session.exec(select(Fund).where(Fund.active.is_(True)).order_by(Fund.name)))


@dataclass(frozen=True)
class EntryRow:
    entry: LedgerEntry
    request_number: str | None
    entered_by: str | None
    reversed_by: int | None  # the reversal's id, when this entry was reversed

    @property
    def reversible(self) -> bool:
        return self.entry.kind in ("donation", "income") and self.reversed_by is None


def entries_statement(fund_id: int):
    """Newest first, with what each row shows (one query)."""
    reversal = aliased(LedgerEntry)
    return (
        select(LedgerEntry, AidRequest.number, User.name, reversal.id)
        .join(AidRequest, AidRequest.id == LedgerEntry.request_id, isouter=True)
        .join(User, User.id == LedgerEntry.entered_by, isouter=True)
        .join(reversal, reversal.reverses_id == LedgerEntry.id, isouter=True)
        .where(LedgerEntry.fund_id == fund_id)
        .order_by(LedgerEntry.booked_on.desc(), LedgerEntry.id.desc())
    )


def entry_page(session: Session, fund_id: int, *, page: int, per_page: int):
    """One page of the ledger as `EntryRow`s (a `pagination.Page`)."""
    from portal.pagination import Page

    statement = entries_statement(fund_id)
    total = int(
        session.exec(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.fund_id == fund_id)
        ).one()
    )
    rows = session.exec(statement.offset((page - 1) * per_page).limit(per_page)).all()
    items = [EntryRow(e, number, name, rev) for e, number, name, rev in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)
