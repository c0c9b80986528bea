"""The public search page: every source, with a filter by kind."""

from __future__ import annotations

from flask import Blueprint, request

from portal.cache import ALL, cached_page
from portal.db import get_session
from portal.security import public
from portal.timeutil import SHANGHAI, utcnow
from portal.web import page_number, render

bp = Blueprint("search", __name__)
MAX_QUERY = 200


@bp.route("/search")
@public
@cached_page(ALL)
def search():
    from portal.publicity import services as publicity
    from portal.search import get_index

    query = " ".join(request.args.get("q", "").split())[:MAX_QUERY]
    kind = request.args.get("kind", "")
    kind = kind if kind in {c.kind.value for c in publicity.COLUMNS} else ""
    year = request.args.get("year", "")
    year = year if year.isdigit() and len(year) == 4 else ""
    results = None
    if query:
        session = get_session()
        results = get_index().search(
            query,
            kind=kind or None,
            year=year or None,
            page=page_number(),
            per_page=10,
            body_for=lambda ids: publicity.live_texts(session, ids),
        )
    this_year = utcnow().astimezone(SHANGHAI).year
    return render(
        "search/search.html",
        block="results",
        query=query,
        results=results,
        kind=kind,
        year=year,
        years=list(range(this_year, 2014, -1)),
        columns=[c for c in publicity.COLUMNS if c.listed],
    )
