"""Public pages of this area."""

from flask import Blueprint

from portal.core.areas import area
from portal.security import public
from portal.web import render

bp = Blueprint("parents_school", __name__, url_prefix="/parents-school")


@bp.route("/")
@public
def index():
    return render("core/area.html", area=area("parents_school.index"))
