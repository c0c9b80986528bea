"""Staff pages of emergency aid (being written)."""

from portal.charity.views import bp  # noqa: F401
