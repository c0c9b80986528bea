"""Funds for staff: the pages, new funds, donations, income, reversals, and the Excel ledger."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from portal.charity import ledger, requests
from portal.charity.models import Fund, LedgerEntry
from portal.timeutil import china_today
from tests.charity.test_staff import audits, client_for, make_fund, proposed
from tests.charity.test_staff import people as people  # noqa: F401 - the fixture
from tests.conftest import page_text, post


def _entries(session, fund) -> list[LedgerEntry]:
    return list(
        session.exec(
            select(LedgerEntry).where(LedgerEntry.fund_id == fund.id).order_by(LedgerEntry.id)
        )
    )


def _entry_form(kind: str, amount: str, day: date | None = None, **extra) -> dict:
    data = {
        f"{kind}-amount": amount,
        f"{kind}-booked_on": (day or china_today()).isoformat(),
        f"{kind}-reference": "SJ-0001",
        f"{kind}-note": "",
    }
    data.update({f"{kind}-{k}": v for k, v in extra.items()})
    return data


# Who sees and who writes ----------------------------------------------------------------------


def test_funds_pages_by_role(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=1_234_56)
    staff = client_for(app, people["staff"])
    listing = page_text(staff.get("/charity/staff/funds/"))
    assert fund.name in listing and "1,234.56" in listing
    page = staff.get(f"/charity/staff/funds/{fund.id}")
    assert page.status_code == 200 and "登记捐赠" in page_text(page)
    approver = client_for(app, people["a1"])
    read = approver.get(f"/charity/staff/funds/{fund.id}")
    assert read.status_code == 200 and "登记捐赠" not in page_text(read)
    assert f"/charity/staff/funds/{fund.id}/entries/" not in read.get_data(as_text=True)
    assert (
        post(
            approver, f"/charity/staff/funds/{fund.id}/donation", _entry_form("donation", "100")
        ).status_code
        == 403
    )
    assert approver.get("/charity/staff/funds/new").status_code == 403
    for who in ("township", "county", "volunteer"):
        assert client_for(app, people[who]).get("/charity/staff/funds/").status_code == 403
    assert staff.get("/charity/staff/funds/999999").status_code == 404
    assert len(_entries(session, fund)) == 1


def test_new_fund(app, session, people):
    client = client_for(app, people["staff"])
    empty = post(client, "/charity/staff/funds/new", {"name": "", "kind": "", "purpose": ""})
    assert empty.status_code == 422 and "基金名称" in page_text(empty)
    named = {"name": "张氏助学冠名基金", "kind": "named", "donor": "", "purpose": "资助困境儿童"}
    no_donor = post(client, "/charity/staff/funds/new", named)
    assert no_donor.status_code == 422 and "捐赠人" in page_text(no_donor)
    assert 'value="张氏助学冠名基金"' in no_donor.get_data(as_text=True)
    named.update(donor="张先生", donor_public="y", keep_principal="y", earmark="西屏街道")
    created = post(client, "/charity/staff/funds/new", named)
    assert created.status_code == 303
    fund = session.exec(select(Fund).where(Fund.name == "张氏助学冠名基金")).one()
    assert fund.keep_principal and fund.donor_public and fund.created_by == people["staff"].id
    assert audits(session, "fund.created", fund.id) == 1
    twice = post(client, "/charity/staff/funds/new", named)
    assert twice.status_code == 422 and "同名" in page_text(twice)
    # A donation to a fund that keeps its principal is principal: nothing available.
    assert (
        post(
            client, f"/charity/staff/funds/{fund.id}/donation", _entry_form("donation", "10000")
        ).status_code
        == 303
    )
    assert (
        post(
            client, f"/charity/staff/funds/{fund.id}/income", _entry_form("income", "300.25")
        ).status_code
        == 303
    )
    figures = ledger.balance(session, fund.id)
    assert (figures.balance, figures.principal, figures.available) == (1_030_025, 1_000_000, 30_025)


@pytest.mark.parametrize(
    ("amount", "day_offset", "message"),
    [
        ("0", 0, "大于零"),
        ("-50", 0, "大于零"),
        ("12.345", 0, "两位小数"),
        ("0.001", 0, "两位小数"),
        ("abc", 0, "两位小数"),
        ("99999999999", 0, "两位小数"),
        ("10000000.01", 0, "10,000,000"),
        ("", 0, "以元为单位"),
        ("100", 1, "不能晚于今天"),
    ],
)
@pytest.mark.parametrize("kind", ["donation", "income"])
def test_bad_donations_and_income(app, session, people, kind, amount, day_offset, message):
    fund = make_fund(app, session, people["staff"], amount_fen=0)
    client = client_for(app, people["staff"])
    day = china_today() + timedelta(days=day_offset)
    response = post(
        client,
        f"/charity/staff/funds/{fund.id}/{kind}",
        _entry_form(kind, amount, day, note="留言"),
    )
    assert response.status_code == 422
    assert message in page_text(response)
    html = response.get_data(as_text=True)
    assert f'value="{amount}"' in html or not amount  # what was typed stays
    assert 'value="留言"' in html
    assert _entries(session, fund) == []


def test_good_amounts_in_yuan(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=0)
    client = client_for(app, people["staff"])
    for typed in ("3,000.50", "¥12.3", "10000000"):
        response = post(
            client,
            f"/charity/staff/funds/{fund.id}/donation",
            _entry_form("donation", typed, date(2026, 1, 5)),
        )
        assert response.status_code == 303
    assert [e.amount_fen for e in _entries(session, fund)] == [300_050, 1_230, 1_000_000_000]
    assert all(e.booked_on == date(2026, 1, 5) for e in _entries(session, fund))


# Reversals ------------------------------------------------------------------------------------


def test_reversal(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=200_000)
    entry = _entries(session, fund)[0]
    client = client_for(app, people["staff"])
    url = f"/charity/staff/funds/{fund.id}/entries/{entry.id}/reverse"
    assert url in client.get(f"/charity/staff/funds/{fund.id}").get_data(as_text=True)
    form = client.get(url)
    assert form.status_code == 200 and "-2,000.00" in page_text(form)
    no_reason = post(client, url, {"note": "", "confirm": "y"})
    assert no_reason.status_code == 422 and "冲正原因" in page_text(no_reason)
    unconfirmed = post(client, url, {"note": "捐赠人重复转账"})
    assert unconfirmed.status_code == 422 and "勾选" in page_text(unconfirmed)
    assert "捐赠人重复转账" in unconfirmed.get_data(as_text=True)
    assert len(_entries(session, fund)) == 1
    done = post(client, url, {"note": "捐赠人重复转账", "confirm": "y"})
    assert done.status_code == 303
    entries = _entries(session, fund)
    assert [e.amount_fen for e in entries] == [200_000, -200_000]
    assert entries[1].reverses_id == entry.id and ledger.balance(session, fund.id).balance == 0
    again = post(client, url, {"note": "再来一次", "confirm": "y"})
    assert again.status_code == 422 and "已经冲正" in page_text(again)
    of_reversal = post(
        client,
        f"/charity/staff/funds/{fund.id}/entries/{entries[1].id}/reverse",
        {"note": "撤销冲正", "confirm": "y"},
    )
    assert of_reversal.status_code == 422 and len(_entries(session, fund)) == 2
    other = make_fund(app, session, people["staff"])
    assert (
        client.get(f"/charity/staff/funds/{other.id}/entries/{entry.id}/reverse").status_code == 404
    )
    assert client_for(app, people["a1"]).get(url).status_code == 403


def test_reversal_cannot_uncover_approved_aid(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=500_000)
    aid = proposed(app, session, people, fund, amount_fen=400_000)
    with app.test_request_context():
        requests.approve(session, aid, actor=people["a1"])
    session.commit()
    entry = _entries(session, fund)[0]
    client = client_for(app, people["staff"])
    response = post(
        client,
        f"/charity/staff/funds/{fund.id}/entries/{entry.id}/reverse",
        {"note": "退回捐赠", "confirm": "y"},
    )
    assert response.status_code == 422 and "没有资金保障" in page_text(response)
    assert len(_entries(session, fund)) == 1


def test_ledger_pages_newest_first(app, session, people):
    size = app.config["PORTAL_PAGE_SIZE"]
    app.config["PORTAL_PAGE_SIZE"] = 2
    try:
        fund = make_fund(app, session, people["staff"], amount_fen=0)
        with app.test_request_context():
            for n, day in enumerate((date(2026, 1, 1), date(2026, 3, 1), date(2026, 2, 1)), 1):
                ledger.record_donation(
                    session,
                    fund,
                    actor=people["staff"],
                    amount_fen=n * 100,
                    booked_on=day,
                    reference=f"REF-{n}",
                )
        session.commit()
        client = client_for(app, people["a1"])
        first = page_text(client.get(f"/charity/staff/funds/{fund.id}"))
        assert first.index("REF-2") < first.index("REF-3") and "REF-1" not in first
        second = client.get(
            f"/charity/staff/funds/{fund.id}?page=2", headers={"HX-Request": "true"}
        )
        assert "REF-1" in page_text(second) and "<html" not in second.get_data(as_text=True)
    finally:
        app.config["PORTAL_PAGE_SIZE"] = size


# Excel ----------------------------------------------------------------------------------------


def _sheet(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "no-store" in response.headers["Cache-Control"]
    return load_workbook(io.BytesIO(response.data)).active


def test_ledger_export_sums(app, session, people):
    staff = people["staff"]
    fund = make_fund(app, session, staff, amount_fen=0)
    with app.test_request_context():
        ledger.record_donation(
            session, fund, actor=staff, amount_fen=1_000_000, booked_on=date(2026, 1, 5)
        )
        ledger.record_income(
            session, fund, actor=staff, amount_fen=1_234, booked_on=date(2026, 2, 1), note="=1+1"
        )
        wrong = ledger.record_donation(
            session,
            fund,
            actor=staff,
            amount_fen=50_000,
            booked_on=date(2026, 2, 3),
            reference="@SUM(A1)",
        )
        ledger.reverse(session, wrong, actor=staff, note="重复登记")
    session.commit()
    aid = proposed(app, session, people, fund, amount_fen=300_000)
    with app.test_request_context():
        requests.approve(session, aid, actor=people["a1"])
        requests.pay(session, aid, actor=people["payer"], reference="NS-PAY-1")
    session.commit()
    today = china_today()
    client = client_for(app, people["a1"])  # approvers read the ledger too
    sheet = _sheet(
        client.get(
            f"/charity/staff/funds/{fund.id}/ledger.xlsx?from=2026-02-01&to={today.isoformat()}"
        )
    )
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows.index(next(r for r in rows if r[0] == "日期"))
    opening, *middle, closing = rows[header + 1 :]
    assert opening[1] == "期初余额" and Decimal(str(opening[2])) == Decimal("10000.00")
    amounts = [r[2] for r in middle]
    assert amounts == [12.34, 500, -500, -3000]
    assert closing[1] == "期末余额" and round(closing[2], 2) == round(opening[2] + sum(amounts), 2)
    assert round(closing[2] * 100) == ledger.balance(session, fund.id).balance == 701_234
    notes = {r[4] for r in middle}
    assert "=1+1" in notes and "@SUM(A1)" in {r[3] for r in middle}
    paid = next(r for r in middle if r[2] == -3000)
    assert paid[5] == aid.number and paid[6] == people["payer"].name and paid[3] == "NS-PAY-1"
    # Text stays text; money is a number shown with two decimals.
    cells = list(sheet.iter_rows(min_row=header + 2, max_row=header + 2 + len(middle)))
    for row in cells:
        assert row[2].data_type == "n" and row[2].number_format == "#,##0.00"
        assert all(c.data_type != "f" for c in row)
    assert audits(session, "ledger.exported", fund.id) == 1
    # Only the period's entries; the opening balance carries what came before.
    january = _sheet(
        client.get(f"/charity/staff/funds/{fund.id}/ledger.xlsx?from=2026-01-01&to=2026-01-31")
    )
    values = [r for r in january.iter_rows(values_only=True) if isinstance(r[2], (int, float))]
    assert [v[2] for v in values] == [0, 10000, 10000]
    assert (
        client.get(f"/charity/staff/funds/{fund.id}/ledger.xlsx?from=2026-13-01").status_code == 400
    )
    assert (
        client.get(
            f"/charity/staff/funds/{fund.id}/ledger.xlsx?from=2026-03-01&to=2026-01-01"
        ).status_code
        == 400
    )
    assert (
        client_for(app, people["township"])
        .get(f"/charity/staff/funds/{fund.id}/ledger.xlsx")
        .status_code
        == 403
    )


def test_requests_export(app, session, people):
    fund = make_fund(app, session, people["staff"])
    paid = proposed(app, session, people, fund, amount_fen=250_050)
    with app.test_request_context():
        requests.approve(session, paid, actor=people["a1"])
        requests.pay(session, paid, actor=people["payer"], reference="NS-PAY-2")
    session.commit()
    waiting = proposed(app, session, people, fund, amount_fen=100_000, child_name="李小花")
    other = proposed(
        app,
        session,
        people,
        fund,
        amount_fen=100_000,
        township_code="331124101",
        child_name="赵小明",
    )
    client = client_for(app, people["staff"])
    sheet = _sheet(client.get("/charity/staff/requests.xlsx"))
    rows = list(sheet.iter_rows(values_only=True))
    numbers = {r[0] for r in rows[1:]}
    assert {paid.number, waiting.number, other.number} <= numbers
    flat = " ".join(str(v) for r in rows for v in r if v is not None)
    assert "13600000001" not in flat and "6217000012345678" not in flat and "王小宝" not in flat
    row = next(r for r in rows if r[0] == paid.number)
    assert row[7] == 2500.5 and row[11] == "NS-PAY-2"
    assert sum(r[7] for r in rows[1:] if r[7]) == 4500.5
    assert audits(session, "aid.exported") == 1
    township = _sheet(
        client_for(app, people["township"]).get("/charity/staff/requests.xlsx?status=approving")
    )
    seen = {r[0] for r in township.iter_rows(values_only=True)}
    assert waiting.number in seen and other.number not in seen and paid.number not in seen
