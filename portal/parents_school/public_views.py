"""Public pages of the parents' school (being written)."""

from portal.core.registry import area
from portal.parents_school.views import bp
from portal.security import public
from portal.web import render


@bp.route("/parents-school/")
@public
def index():
    return render("core/area.html", card=area("parents_school").card)
