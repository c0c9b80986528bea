"""Service hours and certificates: staff entry, the certificate page, public verification."""

from portal.volunteers.views import bp  # noqa: F401
