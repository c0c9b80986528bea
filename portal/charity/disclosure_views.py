"""The public disclosure page of emergency aid and its CSV (cached until the area changes)."""

from __future__ import annotations

from flask import Response, request

from portal.cache import cached_page
from portal.charity import disclosure
from portal.charity.ledger import yuan
from portal.charity.requests import KIND_LABELS, notice_days
from portal.charity.views import bp
from portal.db import get_session
from portal.security import public
from portal.timeutil import china_today
from portal.web import render

AREA = "charity"


def _year(choices: list[int]) -> int:
    """The year asked for in `?year=`, when there is aid to show for it; else this year."""
    year = request.args.get("year", type=int)
    return year if year in choices else choices[0]


@bp.route("/disclosure", endpoint="disclosure")
@public
@cached_page(AREA, query=("year",))
def disclosure_page():
    session = get_session()
    today = china_today()
    choices = disclosure.years(session, today=today)
    year = _year(choices)
    funds = disclosure.fund_figures(session, today=today)
    return render(
        "charity/disclosure.html",
        funds=funds,
        charts={f.fund.id: disclosure.chart(f) for f in funds},
        given=disclosure.aid_given(session, year),
        years=choices,
        notices=disclosure.notices(session, today=today),
        townships=disclosure.township_names(session),
        kind_labels=KIND_LABELS,
        fund_kinds=disclosure.FUND_KIND_LABELS,
        today=today,
        yuan=yuan,
        notice_days=notice_days(),
    )


@bp.route("/disclosure.csv")
@public
@cached_page(AREA, query=("year",))
def disclosure_csv():
    session = get_session()
    today = china_today()
    year = _year(disclosure.years(session, today=today))
    body = disclosure.csv_bytes(
        disclosure.fund_figures(session, today=today),
        disclosure.aid_given(session, year),
        disclosure.township_names(session),
        KIND_LABELS,
    )
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="charity-disclosure-{year}.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )
