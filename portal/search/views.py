"""The public search page: every source, with a filter by kind and by year."""

from __future__ import annotations

from flask import Blueprint, request

from portal.cache import ALL, cached_page
from portal.db import get_session
from portal.search import services
from portal.search.sources import all_kinds
from portal.security import public
from portal.timeutil import SHANGHAI, utcnow
from portal.web import page_number, render

bp = Blueprint("search", __name__)
MAX_QUERY = 200
PER_PAGE = 10  # results per page: fewer than the portal's lists, each carries a snippet


@bp.route("/search")
@public
@cached_page(ALL)
def search():
    query = " ".join(request.args.get("q", "").split())[:MAX_QUERY]
    kinds = all_kinds()
    kind = request.args.get("kind", "")
    kind = kind if kind in kinds else ""
    year = request.args.get("year", "")
    year = year if year.isdigit() and len(year) == 4 else ""
    results = None
    if query:
        results = services.search(
            get_session(),
            query,
            kind=kind or None,
            year=year or None,
            page=page_number(),
            per_page=PER_PAGE,
            url_prefix=request.script_root,
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
        kinds=[(code, str(label)) for code, label in kinds.items()],
    )
