"""Timed publishing: items whose publication or expiry time has come."""

from portal.extensions import db
from portal.publicity import services
from portal.scheduler import job


@job("publicity.timed", seconds=60, misfire_grace_time=120)
def timed() -> int:
    """Carry out publish-at and expire-at dates (items appear on or leave the public pages)."""
    with db.transaction() as session:
        return len(services.refresh_timed(session))
