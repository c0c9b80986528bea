"""Public pages of this area."""

from flask import Blueprint

from portal.core.registry import area
from portal.security import public
from portal.web import render

bp = Blueprint("charity", __name__, url_prefix="/charity")


@bp.route("/")
@public
def index():
    return render("core/area.html", card=area("charity").card)
