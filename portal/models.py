"""Every table's model, imported in one place so the metadata is complete."""

from portal.audit import AuditEntry
from portal.auth.models import LoginThrottle, PasswordReset, User
from portal.notify.models import OutboxMessage, SchedulerLock, SmsLog
from portal.places import Township
from portal.publicity.models import Attachment, Item, Revision, SiteState

__all__ = [
    "Attachment",
    "Item",
    "Revision",
    "SiteState",
    "AuditEntry",
    "LoginThrottle",
    "OutboxMessage",
    "PasswordReset",
    "SchedulerLock",
    "SmsLog",
    "Township",
    "User",
]
