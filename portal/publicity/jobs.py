"""Timed publishing and search repair."""

from portal.extensions import db
from portal.publicity import services
from portal.scheduler import job


@job("publicity.timed", seconds=60, misfire_grace_time=120)
def timed() -> int:
    """Carry out publish-at and expire-at dates (items appear on or leave the public pages)."""
    with db.transaction() as session:
        return len(services.refresh_timed(session))


@job("search.catch_up", seconds=300, misfire_grace_time=600)
def search_catch_up() -> dict:
    """Mend the search index where it differs from the published content (after a crash)."""
    from portal.search import catch_up

    with db.transaction(write=False) as session:
        return catch_up(session)
