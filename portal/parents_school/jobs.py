"""Timed work of the parents' school: feedback links an hour after each lecture."""

from flask import current_app

from portal.extensions import db
from portal.parents_school import services
from portal.scheduler import job


@job("parents_school.feedback", cron="15 * * * *", misfire_grace_time=3600)
def feedback() -> int:
    """Hourly: each booking with attended seats gets one text message with a feedback link
    (outbox key booking:{id}:feedback), an hour after its lecture ends."""
    with db.transaction() as session:
        return services.send_feedback_requests(
            session, base_url=current_app.config["PORTAL_BASE_URL"]
        )
