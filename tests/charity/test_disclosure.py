"""The public disclosure of emergency aid: funds by month, aid by kind and township, notices.

The figures are grouped in SQL and equal the ledger; the page and its CSV name no child and
no applicant (a notice shows the family name and stars); the page is cached until the area
changes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from sqlalchemy import event

from portal import cache
from portal.auth.models import Role
from portal.charity import disclosure, ledger, requests
from portal.charity.models import Fund, FundKind, RequestStatus
from portal.extensions import db
from tests.charity.test_workflow_core import XIPING, application
from tests.conftest import make_user

GUSHI = "331124101"
NOW = "2026-11-20T02:00:00+00:00"  # 10:00 in China
CHILDREN = {
    "王小宝": ("王奶奶", "13600000001", "城北社区", "6217000012345678"),
    "李晓雨": ("李爷爷", "13600000002", "竹溪村", "6217000087654321"),
    "赵一鸣": ("赵妈妈", "13600000003", "横山村", "6217000011112222"),
}
STORIES = {
    "王小宝": "孩子放学路上被电动车撞伤，腿部骨折住院。",
    "李晓雨": "家中房屋因暴雨倒塌，孩子暂住亲戚家。",
    "赵一鸣": "孩子突发急性阑尾炎，手术费用无力承担。",
}


@pytest.fixture()
def people(session):
    return {
        "township": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING),
        "gushi": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI),
        "staff": make_user(session, role=Role.CHARITY_STAFF),
        "payer": make_user(session, role=Role.CHARITY_STAFF),
        "approver": make_user(session, role=Role.CHARITY_APPROVER),
    }


def make_fund(session, people, name: str, **fields) -> Fund:
    fields.setdefault("kind", FundKind.SPECIAL)
    fields.setdefault("purpose", "留守儿童应急救助")
    fund = Fund(name=name, created_by=people["staff"].id, **fields)
    session.add(fund)
    session.flush()
    return fund


def aid(session, people, fund, child: str, *, kind: str, amount_fen: int, pay: bool, key: str):
    """An emergency request from submission to approval (and payment when asked)."""
    applicant, mobile, village, account = CHILDREN[child]
    township = people["gushi"] if child == "李晓雨" else people["township"]
    request, _ = requests.submit(
        session,
        application(
            applicant_name=applicant,
            applicant_mobile=mobile,
            child_name=child,
            village=village,
            account_number=account,
            account_holder=applicant,
            township_code=township.township_code,
            kind=kind,
            story=STORIES[child],
        ),
        documents=[],
        idempotency_key=key * 20,
    )
    requests.township_check(session, request, actor=township)
    requests.propose(session, request, actor=people["staff"], fund=fund, amount_fen=amount_fen)
    assert requests.approve(session, request, actor=people["approver"]) is True
    if pay:
        requests.pay(session, request, actor=people["payer"], reference="BANK" + key * 4)
    return request


@pytest.fixture()
def scene(app, session, people, time_machine):
    """Two funds, entries over 14 months, aid paid in 2025 and 2026, one notice running."""
    with app.test_request_context():
        time_machine.move_to("2025-06-10T02:00:00+00:00", tick=False)
        special = make_fund(session, people, "留守儿童应急救助专项基金", donor="某某公司")
        named = make_fund(
            session,
            people,
            '=HYPERLINK("x")冠名基金',
            kind=FundKind.NAMED,
            donor="爱心企业家陈先生",
            donor_public=True,
            keep_principal=True,
        )
        ledger.record_donation(session, special, actor=people["staff"], amount_fen=10_000_00)
        ledger.record_donation(session, named, actor=people["staff"], amount_fen=50_000_00)
        ledger.record_income(session, named, actor=people["staff"], amount_fen=2_000_00)
        # Paid in 2025 (before the 12 months shown): counted in the 2025 aid and the opening.
        aid(
            session,
            people,
            special,
            "赵一鸣",
            kind="illness",
            amount_fen=1_000_00,
            pay=True,
            key="a",
        )

        time_machine.move_to(NOW, tick=False)
        ledger.record_donation(
            session,
            special,
            actor=people["staff"],
            amount_fen=3_000_00,
            booked_on=date(2026, 10, 8),
        )
        wrong = ledger.record_donation(
            session, special, actor=people["staff"], amount_fen=500_00, booked_on=date(2026, 11, 2)
        )
        ledger.reverse(session, wrong, actor=people["staff"], note="金额录入错误")
        ledger.record_income(session, named, actor=people["staff"], amount_fen=300_00)
        paid = aid(
            session,
            people,
            special,
            "王小宝",
            kind="accident",
            amount_fen=2_000_00,
            pay=True,
            key="b",
        )
        noticed = aid(
            session,
            people,
            named,
            "李晓雨",
            kind="disaster",
            amount_fen=1_500_00,
            pay=False,
            key="c",
        )
    return {"special": special, "named": named, "paid": paid, "noticed": noticed}


def test_twelve_months_of_each_fund_add_up_to_its_ledger(app, session, scene):
    with app.test_request_context():
        funds = {f.fund.id: f for f in disclosure.fund_figures(session)}
        special = funds[scene["special"].id]
        named = funds[scene["named"].id]
        assert [m.label for m in special.months][0] == "2025-12"
        assert [m.label for m in special.months][-1] == "2026-11"
        by_month = {m.label: m for m in special.months}
        # Opening (June 2025): 10,000 in, 1,000 paid → 9,000 for every month before October.
        assert by_month["2025-12"].balance == by_month["2026-09"].balance == 9_000_00
        assert (by_month["2026-10"].income, by_month["2026-10"].balance) == (3_000_00, 12_000_00)
        # November: 500 in and its reversal (net 0), 2,000 of aid paid.
        assert (by_month["2026-11"].income, by_month["2026-11"].spending) == (0, 2_000_00)
        assert by_month["2026-11"].balance == special.balance == 10_000_00
        for figures in (special, named):
            assert figures.balance == ledger.balance(session, figures.fund.id).balance
        assert named.months[-1].balance == 52_300_00 and named.income == 300_00
        assert special.donor is None and named.donor == "爱心企业家陈先生"


def test_the_months_are_grouped_in_sql_whatever_the_number_of_entries(app, session, scene):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = app.extensions["portal_db"].engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        disclosure.fund_figures(session)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    ledger_reads = [s for s in statements if "charity_ledger" in s]
    assert len(ledger_reads) == 2
    assert all("GROUP BY" in s and "sum(" in s.lower() for s in ledger_reads)


def test_aid_by_kind_and_township_per_year(app, session, scene):
    this_year = disclosure.aid_given(session, 2026)
    kinds = {r.key: (r.count, r.amount) for r in this_year.by_kind}
    assert kinds["accident"] == (1, 2_000_00) and kinds["illness"] == (0, 0)
    assert {r.key: r.count for r in this_year.by_township} == {XIPING: 1}
    last_year = disclosure.aid_given(session, 2025)
    assert (last_year.count, last_year.amount) == (1, 1_000_00)
    assert disclosure.years(session) == [2026, 2025]


def test_notices_run_until_their_last_day_with_the_family_name_only(app, session, scene):
    today = date(2026, 11, 20)
    shown = disclosure.notices(session, today=today)
    # The approved request, and the emergency paid at once (its notice is still published).
    assert sorted(n.child for n in shown) == ["李**", "王**"]
    noticed = next(n for n in shown if n.child == "李**")
    assert (noticed.township_code, noticed.kind, noticed.amount) == (GUSHI, "disaster", 1_500_00)
    assert noticed.until == date(2026, 11, 27)
    assert disclosure.notices(session, today=date(2026, 11, 27))
    assert disclosure.notices(session, today=date(2026, 11, 28)) == []


def _identities(session, scene) -> list[str]:
    values = []
    for child, (applicant, mobile, village, account) in CHILDREN.items():
        values += [child, child[1:], applicant, mobile, village, account, account[-8:]]
        values.append(STORIES[child][:8])
    values += ["某某公司", "松阳县农商银行"]
    for request in (scene["paid"], scene["noticed"]):
        values += [request.number, request.account_masked, request.story[:6]]
    return values


def test_the_page_shows_figures_chart_and_table_and_no_identity(app, session, scene, client):
    response = client.get("/charity/disclosure")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for value in _identities(session, scene):
        assert value not in html, value
    assert "爱心企业家陈先生" in html  # the donor agreed to be named
    assert "李**" in html and "王**" in html and "古市镇" in html
    # The chart's figures, and the same figures in a table with a caption.
    spec = json.loads(
        re.search(
            rf'<script type="application/json" id="fund-chart-{scene["special"].id}">(.*?)</script>',
            html,
            re.S,
        ).group(1)
    )
    assert spec["labels"][-1] == "2026-11" and spec["series"][2]["values"][-1] == 10_000.0
    assert "<caption id=" in html and "12,000.00" in html and "10,000.00" in html
    assert 'data-chart="fund-chart-' in html and "js/charts.js" in html


def test_the_year_is_chosen_and_a_wrong_one_shows_this_year(app, session, scene, client):
    html = client.get("/charity/disclosure?year=2025").get_data(as_text=True)
    assert '<option value="2025" selected>' in html and "1,000.00" in html
    for wrong in ("1999", "abc", "2030"):
        response = client.get(f"/charity/disclosure?year={wrong}")
        assert response.status_code == 200
        assert '<option value="2026" selected>' in response.get_data(as_text=True)


def test_the_csv_has_the_same_figures_a_bom_and_no_formula(app, session, scene, client):
    response = client.get("/charity/disclosure.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    for value in _identities(session, scene):
        assert value not in text, value
    rows = list(csv.reader(io.StringIO(text)))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert '\'=HYPERLINK("x")冠名基金' in cells
    november = next(r for r in rows if r[0] == "留守儿童应急救助专项基金" and r[4] == "2026-11")
    assert november[5:] == ["0.00", "2000.00", "10000.00"]
    assert any(r[:3] == ["意外伤害", "1", "2000.00"] for r in rows)
    assert any(r[:3] == ["西屏街道", "1", "2000.00"] for r in rows)
    older = client.get("/charity/disclosure.csv?year=2025").get_data().decode("utf-8-sig")
    assert any(r[:3] == ["疾病", "1", "1000.00"] for r in csv.reader(io.StringIO(older)))


def test_the_page_is_cached_until_emergency_aid_changes(app, session, scene, client):
    first = client.get("/charity/disclosure")
    assert "public" in first.headers["Cache-Control"]
    with app.test_request_context():
        fund = session.get(Fund, scene["special"].id)
        # Written without the service (no version bump): the cached page is served.
        session.add(
            Fund(name="新设基金", kind=FundKind.SPECIAL, purpose="测试", created_by=fund.created_by)
        )
        session.flush()
    assert client.get("/charity/disclosure").get_data() == first.get_data()
    with app.app_context(), db.transaction() as s:
        cache.bump(s, "publicity")
    assert "新设基金" not in client.get("/charity/disclosure").get_data(as_text=True)
    with app.test_request_context():
        cache.bump(session, "charity")
    assert "新设基金" in client.get("/charity/disclosure").get_data(as_text=True)


def test_a_request_under_review_is_not_disclosed(app, session, scene, people):
    with app.test_request_context():
        request, _ = requests.submit(
            session,
            application(child_name="孙可可", applicant_mobile="13600000009"),
            documents=[],
            idempotency_key="d" * 20,
        )
    assert request.status == RequestStatus.SUBMITTED
    assert all(n.child != "孙**" for n in disclosure.notices(session, today=date(2026, 11, 20)))


def test_each_scrolling_table_can_be_reached_and_is_named_by_its_caption(app, scene, client):
    html = client.get("/charity/disclosure").get_data(as_text=True)
    wrappers = re.findall(r'<div class="table-wrap"([^>]*)>', html)
    assert len(wrappers) == 2 + 3  # two funds, aid by kind and by township, the notices
    for attributes in wrappers:
        assert 'tabindex="0"' in attributes and 'role="region"' in attributes
        name = re.search(r'aria-labelledby="([^"]+)"', attributes).group(1)
        assert f'<caption id="{name}">' in html
