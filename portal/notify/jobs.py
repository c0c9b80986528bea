"""Scheduled delivery of the outbox."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app

from portal.extensions import db
from portal.notify.channels import (
    EmailChannel,
    InAppChannel,
    LogSmsProvider,
    SmsChannel,
    SmtpSettings,
)
from portal.notify.models import Channel
from portal.notify.services import DeliveryPolicy, DeliveryReport, deliver_due
from portal.scheduler import job


def senders_from_config(app: Flask) -> dict[str, object]:
    """The channels this deployment can send on."""
    cfg = app.config
    senders: dict[str, object] = {Channel.INAPP: InAppChannel()}
    if cfg["PORTAL_SMTP_HOST"]:
        senders[Channel.EMAIL] = EmailChannel(
            SmtpSettings(
                host=cfg["PORTAL_SMTP_HOST"],
                port=cfg["PORTAL_SMTP_PORT"],
                security=cfg["PORTAL_SMTP_SECURITY"],
                username=cfg["PORTAL_SMTP_USER"],
                password=cfg["PORTAL_SMTP_PASSWORD"],
                sender=cfg["PORTAL_SMTP_FROM"],
                timeout=cfg["PORTAL_SMTP_TIMEOUT"],
            )
        )
    if cfg["PORTAL_SMS_PROVIDER"] == "log":
        log_path = Path(cfg["PORTAL_SMS_LOG"]) if cfg["PORTAL_SMS_LOG"] else None
        senders[Channel.SMS] = SmsChannel(LogSmsProvider(db, log_path))
    else:
        raise ValueError(f"unknown SMS provider {cfg['PORTAL_SMS_PROVIDER']!r}")
    return senders


def policy_from_config(app: Flask) -> DeliveryPolicy:
    cfg = app.config
    return DeliveryPolicy(
        batch_size=cfg["PORTAL_OUTBOX_BATCH"],
        max_attempts=cfg["PORTAL_OUTBOX_MAX_ATTEMPTS"],
        backoff_base=timedelta(seconds=cfg["PORTAL_OUTBOX_BACKOFF_SECONDS"]),
        lease=timedelta(seconds=cfg["PORTAL_OUTBOX_LEASE_SECONDS"]),
    )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@job("notify.deliver", seconds=10, misfire_grace_time=30)
def deliver() -> DeliveryReport:
    """Deliver the outbox messages that are due (in-app, e-mail, SMS)."""
    app = current_app._get_current_object()
    return deliver_due(
        db, senders=senders_from_config(app), owner=worker_name(), policy=policy_from_config(app)
    )
