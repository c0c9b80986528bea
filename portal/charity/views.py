"""Pages of emergency aid.

The public pages (applying, following a request, the disclosure) live in `public_views`, the
staff pages (the queue, a request, funds and the ledger) in `staff_views`; both register their
routes on this blueprint.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("charity", __name__, url_prefix="/charity")

from portal.charity import disclosure_views, public_views, staff_views  # noqa: E402, F401
