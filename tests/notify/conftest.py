"""Fixtures for delivery: a committed database, a real local SMTP server, counting providers."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.notify.channels import (
    EmailChannel,
    InAppChannel,
    LogSmsProvider,
    SmsChannel,
    SmtpSettings,
)
from portal.notify.models import Channel
from tests.conftest import reset_schema


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message the server accepted."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def message_ids(self) -> Counter:
        ids = Counter()
        for envelope in self.messages:
            for line in envelope.content.decode().splitlines():
                if line.lower().startswith("message-id:"):
                    ids[line.split(":", 1)[1].strip()] += 1
        return ids


class SmtpServer:
    """A real SMTP server on a fixed local port that can be stopped and started again."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, security="none", timeout=5)


@pytest.fixture()
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


class CountingSms(LogSmsProvider):
    """The log provider, also counting how often each reference was handed to it."""

    def __init__(self, database, log_path):
        super().__init__(database, log_path)
        self.requests = Counter()
        self.lock = threading.Lock()
        self.latency = 0.0  # seconds per request batch, like a gateway over the network

    def send(self, requests):
        with self.lock:
            self.requests.update(r.reference for r in requests)
        if self.latency:
            time.sleep(self.latency)
        return super().send(requests)


@pytest.fixture()
def senders_for(tmp_path):
    def build(smtp: SmtpServer | None = None):
        sms = CountingSms(db, tmp_path / "sms.log")
        senders = {Channel.INAPP: InAppChannel(), Channel.SMS: SmsChannel(sms)}
        if smtp is not None:
            senders[Channel.EMAIL] = EmailChannel(smtp.settings())
        return senders, sms

    return build


@pytest.fixture()
def committed_app(scratch_database, new_app):
    """An app on a database of its own where transactions really commit (for concurrency)."""
    reset_schema(scratch_database)
    app = new_app(scratch_database, PORTAL_SMTP_HOST="127.0.0.1")
    with app.app_context():
        yield app
