"""Timed work of the volunteers area: reminders before and at the expiry of a check."""

from portal.extensions import db
from portal.scheduler import job
from portal.volunteers import services


@job("volunteers.vetting", cron="5 * * * *", misfire_grace_time=3600)
def vetting() -> dict[str, int]:
    """Hourly: 30- and 7-day reminders and expiry alerts (each sent once, so a missed run costs nothing)."""
    with db.transaction() as session:
        return services.vetting_reminders(session)
