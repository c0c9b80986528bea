"""Pages of the parents' school.

Public pages (the schedule, a lecture, booking, managing a booking, calendar files) live in
`public_views`, the organisers' pages (lectures, check-in, feedback, the annual plan) in
`organiser_views`; both register their routes on this blueprint.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("parents_school", __name__)

from portal.parents_school import organiser_views, public_views  # noqa: E402, F401
