"""Timed work of the pairing area: age-out at 16, visit gaps, expired volunteer checks."""

from portal.extensions import db
from portal.pairing import children, services, visits
from portal.scheduler import job


@job("pairing.age_out", cron="10 * * * *", misfire_grace_time=3600)
def age_out() -> int:
    """Hourly: children who turned 16 leave the programme and their pairings close."""
    with db.transaction() as session:
        return children.age_out(session)


@job("pairing.visit_gaps", cron="20 * * * *", misfire_grace_time=3600)
def visit_gaps() -> dict[str, int]:
    """Hourly: reminders after 30 days without a visit, escalation after 45 (each sent once)."""
    with db.transaction() as session:
        return visits.gap_reminders(session)


@job("pairing.vetting_expired", cron="30 * * * *", misfire_grace_time=3600)
def vetting_expired() -> int:
    """Hourly: township staff are told of active pairings whose volunteer's check expired."""
    with db.transaction() as session:
        return services.expired_vetting_alerts(session)
