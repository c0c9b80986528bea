"""The public search page: every source, with a filter by kind and by year."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_htmx.responses import make_response as htmx_response

from portal.cache import ALL, cached_page
from portal.db import get_session
from portal.search import services
from portal.search.index import IndexUnavailable
from portal.security import public
from portal.timeutil import SHANGHAI, utcnow
from portal.web import is_partial_request, page_number, render

bp = Blueprint("search", __name__)
MAX_QUERY = 200
PER_PAGE = 10  # results per page: fewer than the portal's lists, each carries a snippet


@bp.route("/search")
@public
@cached_page(ALL, query=("q", "kind", "year", "page"))
def search():
    query = " ".join(request.args.get("q", "").split())[:MAX_QUERY]
    kinds = services.kind_labels()
    kind = request.args.get("kind", "")
    kind = kind if kind in kinds else ""
    year = request.args.get("year", "")
    year = year if year.isdigit() and len(year) == 4 else ""
    results, unavailable = None, False
    if query:
        try:
            results = services.search(
                get_session(),
                query,
                kind=kind or None,
                year=year or None,
                page=page_number(),
                per_page=PER_PAGE,
                url_prefix=request.script_root,
            )
        except IndexUnavailable:
            unavailable = True  # logged by the index; the catch-up job rebuilds it
    this_year = utcnow().astimezone(SHANGHAI).year
    response = render(
        "search/search.html",
        block="results",
        status=503 if unavailable else 200,
        query=query,
        results=results,
        unavailable=unavailable,
        kind=kind,
        year=year,
        years=[(str(y), str(y)) for y in range(this_year, 2014, -1)],
        kinds=list(kinds.items()),
    )
    if unavailable:
        # Not cached anywhere; htmx swaps no 503, so live search loads the whole page instead.
        response.headers["Cache-Control"] = "no-store"
        response.headers["Retry-After"] = "120"
        if is_partial_request():
            # flask-htmx writes the header: live search then loads the whole page.
            response = htmx_response(
                response, redirect=url_for("search.search", **request.args.to_dict())
            )
    return response
