"""Outbox (待发消息) rows, the SMS provider's log, and the scheduler's leader lock."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow

SUBJECT_MAX = 200
BODY_MAX = 4000


class Channel(StrEnum):
    INAPP = "inapp"
    EMAIL = "email"
    SMS = "sms"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxMessage(SQLModel, table=True):
    """One message for one channel, rendered when queued, sent by the scheduler."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", "channel", name="uq_outbox_key_channel"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_inbox", "user_id", "channel", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)  # indexed by uq_outbox_key_channel
    channel: Channel = Field(sa_type=String(10))
    template: str = Field(max_length=80)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    address: str | None = Field(default=None, max_length=254)  # phone or e-mail for SMS/e-mail
    language: str = Field(default="zh_CN", max_length=10)
    subject: str = Field(max_length=SUBJECT_MAX)
    body: str = Field(sa_type=Text)
    link: str | None = Field(default=None, max_length=500)
    status: MessageStatus = Field(default=MessageStatus.PENDING, sa_type=String(10))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = Field(default=0)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SmsLog(SQLModel, table=True):
    """What the `log` SMS provider would have sent; one row per client reference."""

    __tablename__ = "sms_log"

    id: int | None = Field(default=None, primary_key=True)
    client_ref: str = Field(max_length=220, unique=True)
    phone: str = Field(max_length=20)
    text: str = Field(sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
