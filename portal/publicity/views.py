"""Public pages of the publicity area, and the site search."""

from __future__ import annotations

from flask import Blueprint, request

from portal.core.areas import AREAS, area
from portal.security import public
from portal.web import render

bp = Blueprint("publicity", __name__)

MAX_QUERY = 200


@bp.route("/policy/")
@public
def index():
    return render("core/area.html", area=area("publicity.index"))


def search_areas(query: str) -> list:
    """Match the query against the service areas' names and descriptions (both languages)."""
    words = [w for w in query.lower().split() if w]
    if not words:
        return []
    hits = []
    for item in AREAS:
        haystack = " ".join(
            [str(item.title), str(item.summary), str(item.audience), item.policy_text]
        ).lower()
        if all(w in haystack for w in words):
            hits.append(item)
    return hits


@bp.route("/search")
@public
def search():
    query = " ".join(request.args.get("q", "").split())[:MAX_QUERY]
    return render(
        "publicity/search.html", block="results", query=query, results=search_areas(query)
    )
