"""Roster import and export: Excel in, Excel out, for township staff."""

from portal.volunteers.views import bp  # noqa: F401
