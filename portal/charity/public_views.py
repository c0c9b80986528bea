"""Public pages of emergency aid (being written)."""

from portal.charity.views import bp
from portal.core.registry import area
from portal.security import public
from portal.web import render


@bp.route("/")
@public
def index():
    return render("core/area.html", card=area("charity").card)
