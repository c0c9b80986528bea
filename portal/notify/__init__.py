"""Notifications: an outbox written with the event, delivered once by the scheduler.

from portal import notify
notify.enqueue(session, key=f"lecture:{lecture.id}:booking:{booking.id}:remind-24h",
               to=notify.Recipient.for_user(user), template="lecture.reminder",
               context={...}, due_at=starts_at - timedelta(hours=24))
notify.cancel(session, key_prefix=f"lecture:{lecture.id}:booking:{booking.id}:")
"""

from portal.notify.models import Channel, MessageStatus, OutboxMessage
from portal.notify.services import (
    NotifyError,
    Recipient,
    cancel,
    enqueue,
    is_queued,
)
from portal.notify.templates import MessageTemplate, register_template

__all__ = [
    "Channel",
    "MessageStatus",
    "MessageTemplate",
    "NotifyError",
    "OutboxMessage",
    "Recipient",
    "cancel",
    "enqueue",
    "is_queued",
    "register_template",
]
