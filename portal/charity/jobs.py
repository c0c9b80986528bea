"""Timed work of emergency aid: reminders before a request's deadline, escalation after it."""

from portal.charity import requests
from portal.extensions import db
from portal.scheduler import job


@job("charity.deadlines", cron="*/15 * * * *", misfire_grace_time=900)
def deadlines() -> dict[str, int]:
    """Every 15 minutes: remind the people responsible, escalate overdue requests (once each)."""
    with db.transaction() as session:
        return requests.deadline_messages(session)
