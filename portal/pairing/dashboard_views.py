"""The pairing dashboards: a township's figures, and the county's per township with a chart."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.models import Role
from portal.core.scoping import township_scope
from portal.db import get_session
from portal.pairing import dashboard as figures
from portal.pairing.views import bp
from portal.security import roles_required
from portal.web import render


def _chart(rows: list[figures.Figures]) -> dict:
    """The chart's figures (the template writes them with `tojson`, safe inside <script>)."""
    return {
        "kind": "bar",
        "labels": [row.name for row in rows],
        "series": [
            {"name": _("Children waiting"), "values": [row.waiting for row in rows]},
            {"name": _("Active pairings"), "values": [row.active for row in rows]},
            {"name": _("Overdue visits"), "values": [row.overdue for row in rows]},
            {"name": _("Checks expiring"), "values": [row.expiring for row in rows]},
        ],
    }


@bp.route("/dashboard")
@roles_required(Role.TOWNSHIP_STAFF, Role.COUNTY_STAFF, Role.ADMIN)
def dashboard():
    rows = figures.figures(get_session(), current_user)
    county = township_scope(current_user).everywhere
    totals = figures.Figures(
        township="",
        name=_("All townships"),
        waiting=sum(r.waiting for r in rows),
        active=sum(r.active for r in rows),
        overdue=sum(r.overdue for r in rows),
        expiring=sum(r.expiring for r in rows),
    )
    return render(
        "pairing/dashboard.html",
        rows=rows,
        totals=totals,
        county=county,
        chart=_chart(rows) if county else None,
        reminder_days=figures.reminder_days(),
    )
