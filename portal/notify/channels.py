"""Delivery channels: in-app inbox, e-mail over SMTP, SMS through a provider."""

from __future__ import annotations

import fcntl
import hashlib
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from portal.notify.models import Channel, SmsLog
from portal.timeutil import utcnow


class DeliveryError(Exception):
    """A message could not be delivered; `transient` errors are retried later."""

    transient = True


class TransientError(DeliveryError):
    transient = True


class PermanentError(DeliveryError):
    transient = False


@dataclass(frozen=True)
class Outgoing:
    """What a channel needs to send one message."""

    id: int
    key: str
    channel: str
    address: str | None
    subject: str
    body: str
    language: str

    @property
    def reference(self) -> str:
        """Stable per message and channel: providers use it to drop a repeated send."""
        return f"{self.key}#{self.channel}"


Outcomes = dict[int, DeliveryError | None]


class ChannelSender(Protocol):
    name: str
    # True when sending the same message twice is harmless (the receiving side drops repeats).
    idempotent: bool

    def deliver(self, messages: list[Outgoing]) -> Outcomes: ...


class InAppChannel:
    """The outbox row itself is the inbox entry: delivering only makes it visible."""

    name = Channel.INAPP
    idempotent = True

    def deliver(self, messages: list[Outgoing]) -> Outcomes:
        return {m.id: None for m in messages}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    sender: str = "noreply@songyang.gov.cn"
    timeout: float = 10.0


class EmailChannel:
    """E-mail over SMTP, one connection per batch. Not idempotent: SMTP cannot drop repeats."""

    name = Channel.EMAIL
    idempotent = False

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context=ssl.create_default_context())
        if s.username:
            client.login(s.username, s.password)
        return client

    def _message(self, outgoing: Outgoing) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = outgoing.address
        message["Subject"] = outgoing.subject
        message["Date"] = formatdate(localtime=False)
        # The same message always carries the same Message-ID, so mail clients fold repeats.
        digest = hashlib.sha256(outgoing.reference.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{digest}@songyang-care-portal>"
        message.set_content(outgoing.body)
        return message

    def deliver(self, messages: list[Outgoing]) -> Outcomes:
        outcomes: Outcomes = {}
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            failure = TransientError(f"SMTP connection failed: {type(error).__name__}: {error}")
            return {m.id: failure for m in messages}
        try:
            for outgoing in messages:
                if not outgoing.address:
                    outcomes[outgoing.id] = PermanentError("no e-mail address")
                    continue
                try:
                    client.send_message(self._message(outgoing))
                    outcomes[outgoing.id] = None
                except smtplib.SMTPRecipientsRefused as error:
                    outcomes[outgoing.id] = PermanentError(f"recipient refused: {error.recipients}")
                except smtplib.SMTPResponseException as error:
                    kind = PermanentError if 500 <= error.smtp_code < 600 else TransientError
                    outcomes[outgoing.id] = kind(f"SMTP {error.smtp_code}: {error.smtp_error!r}")
                except (OSError, smtplib.SMTPException) as error:
                    # The connection broke: this and every later message wait for a retry.
                    failure = TransientError(f"SMTP failed: {type(error).__name__}: {error}")
                    for rest in messages:
                        outcomes.setdefault(rest.id, failure)
                    break
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return outcomes


@dataclass(frozen=True)
class SmsRequest:
    reference: str
    phone: str
    text: str


class SmsProvider(Protocol):
    idempotent: bool

    def send(self, requests: list[SmsRequest]) -> dict[str, DeliveryError | None]: ...


class LogSmsProvider:
    """Writes what would be sent to the sms_log table and to a file; repeats are dropped.

    It stands where a real SMS gateway would, with the same contract: a client reference makes
    a repeated request harmless, so the SMS channel is idempotent. The table has one row per
    reference, and the file one line per reference, written after its row is committed:

    - a repeat (the outbox hands a message over again when the worker died before recording the
      outcome) inserts no row and writes no line, unless the line is missing from the file;
    - a kill between the commit and the line leaves a row without a line: the repeat finds the
      reference absent from the file and writes it then.

    Writers take an exclusive lock on the file and write each line with one `write()`, so lines
    never interleave or end half written. One duplicate remains possible: the repeat of a
    message whose first delivery committed its row but has not yet written its line. The outbox
    repeats a message only once its lease (PORTAL_OUTBOX_LEASE_SECONDS, 5 minutes) has run out,
    so that first delivery would have to stall for minutes between its commit and its write.
    """

    idempotent = True

    def __init__(self, database, log_path: Path | None):
        self.database = database
        self.log_path = log_path

    def send(self, requests: list[SmsRequest]) -> dict[str, DeliveryError | None]:
        if not requests:
            return {}
        now = utcnow()
        unique = list({r.reference: r for r in requests}.values())
        rows = [
            {"client_ref": r.reference, "phone": r.phone, "text": r.text, "at": now} for r in unique
        ]
        with self.database.transaction() as session:
            table = SmsLog.__table__
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            statement = (
                dialect_insert(table)
                .on_conflict_do_nothing(index_elements=["client_ref"])
                .returning(table.c.client_ref)
            )
            inserted = set(session.execute(statement, rows).scalars())
        if self.log_path is not None:
            self._write_lines(
                self.log_path,
                now,
                fresh=[r for r in unique if r.reference in inserted],
                repeated=[r for r in unique if r.reference not in inserted],
            )
        return {r.reference: None for r in requests}

    def _write_lines(
        self, path: Path, now: datetime, *, fresh: list[SmsRequest], repeated: list[SmsRequest]
    ) -> None:
        """Append a line for each new reference, and for each repeat the file lacks."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            missing = self._absent_from_file(fd, {r.reference for r in repeated})
            for r in [*fresh, *(r for r in repeated if r.reference in missing)]:
                os.write(fd, _log_line(now, r).encode("utf-8"))
        finally:
            os.close(fd)  # also releases the lock

    @staticmethod
    def _absent_from_file(fd: int, references: set[str]) -> set[str]:
        """Which of these references have no line in the file (read only after a repeat)."""
        missing = set(references)
        if not missing:
            return missing
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            for raw in handle:
                fields = raw.split(b"\t", 2)
                if len(fields) > 1:
                    missing.discard(fields[1].decode("utf-8", "replace"))
                    if not missing:
                        break
        return missing


def _log_line(at: datetime, request: SmsRequest) -> str:
    """One line of the SMS log: time, reference, phone, text (its line breaks escaped)."""
    text = (
        request.text.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"{at.isoformat()}\t{request.reference}\t{request.phone}\t{text}\n"


class SmsChannel:
    name = Channel.SMS

    def __init__(self, provider: SmsProvider):
        self.provider = provider
        self.idempotent = provider.idempotent

    def deliver(self, messages: list[Outgoing]) -> Outcomes:
        outcomes: Outcomes = {}
        requests = []
        for m in messages:
            if not m.address:
                outcomes[m.id] = PermanentError("no phone number")
            else:
                requests.append((m, SmsRequest(m.reference, m.address, m.body)))
        try:
            results = self.provider.send([r for _m, r in requests])
        except OSError as error:  # includes timeouts
            failure = TransientError(f"SMS provider unreachable: {error}")
            return {**outcomes, **{m.id: failure for m, _r in requests}}
        for m, r in requests:
            outcomes[m.id] = results.get(r.reference, TransientError("no answer from provider"))
        return outcomes
