"""The hotlines every page shows in its footer."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

HOTLINES = (
    ("110", _l("Police: a child in danger, missing or living alone")),
    ("120", _l("Medical emergency")),
    ("12355", _l("Youth service and protection line")),
    ("12338", _l("Women's and children's rights line")),
    ("12345", _l("Government service line")),
)
