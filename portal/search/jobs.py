"""Search repair: the index mended where it differs from what the sources publish."""

from portal.extensions import db
from portal.scheduler import job


@job("search.catch_up", seconds=300, misfire_grace_time=600)
def search_catch_up() -> dict:
    """Mend the search index where it differs from the sources' live documents (after a crash)."""
    from portal.search import catch_up

    with db.transaction(write=False) as session:
        return catch_up(session)
