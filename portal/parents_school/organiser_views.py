"""Organisers' pages of the parents' school (being written)."""

from portal.parents_school.views import bp  # noqa: F401
