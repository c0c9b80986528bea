"""Delivery: leases, retries with backoff, exactly once across crashes, outages and two workers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from portal import notify
from portal.extensions import db
from portal.notify import MessageStatus, OutboxMessage, Recipient
from portal.notify import services as outbox
from portal.notify.channels import LogSmsProvider, PermanentError, SmsRequest, TransientError
from portal.notify.models import SmsLog
from portal.notify.templates import register_template
from tests.conftest import make_user

register_template("test.notice", subject="Notice {n}", body="Notice number {n}.")
START = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def queue(count: int, *, to=None, due_at=None, prefix="notice"):
    with db.transaction() as session:
        for n in range(count):
            notify.enqueue(
                session,
                key=f"{prefix}:{n}",
                to=to or Recipient.by_phone(f"139{n:08d}"),
                template="test.notice",
                context={"n": n},
                due_at=due_at,
            )


def rows() -> list[OutboxMessage]:
    with Session(db.engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def sms_log_count() -> int:
    with Session(db.engine) as session:
        return len(session.exec(select(SmsLog)).all())


def sms_file_lines(tmp_path) -> list[str]:
    """The `log` SMS provider's file (where the senders_for fixture has it write)."""
    return (tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()


def test_due_messages_are_sent_once(committed_app, senders_for):
    senders, sms = senders_for()
    queue(25)
    report = outbox.deliver_due(
        db, senders=senders, owner="w1", policy=outbox.DeliveryPolicy(batch_size=10)
    )
    assert (report.claimed, report.sent) == (25, 25)
    assert all(r.status == MessageStatus.SENT and r.attempts == 1 for r in rows())
    assert sms_log_count() == 25 and max(sms.requests.values()) == 1
    again = outbox.deliver_due(db, senders=senders, owner="w1")
    assert again.claimed == 0


def test_the_sms_log_provider_writes_a_file_and_the_database(committed_app, senders_for, tmp_path):
    senders, _sms = senders_for()
    queue(2)
    outbox.deliver_due(db, senders=senders, owner="w1")
    lines = (tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "Notice number 0." in lines[0] and "13900000000" in lines[0]


def test_future_reminders_are_sent_then_and_not_before(committed_app, senders_for, time_machine):
    time_machine.move_to(START, tick=False)
    senders, _sms = senders_for()
    queue(3, due_at=START + timedelta(hours=24))
    assert outbox.deliver_due(db, senders=senders, owner="w1").claimed == 0
    time_machine.move_to(START + timedelta(hours=23, minutes=59), tick=False)
    assert outbox.deliver_due(db, senders=senders, owner="w1").claimed == 0
    time_machine.move_to(START + timedelta(hours=24), tick=False)
    assert outbox.deliver_due(db, senders=senders, owner="w1").sent == 3
    assert all(r.sent_at == START + timedelta(hours=24) for r in rows())


class Flaky:
    """A channel failing the way it is told to."""

    name = "sms"
    idempotent = True

    def __init__(self, error):
        self.error = error
        self.calls = 0

    def deliver(self, messages):
        self.calls += 1
        return {m.id: self.error for m in messages}


def test_transient_errors_back_off_exponentially_then_fail(committed_app, time_machine):
    time_machine.move_to(START, tick=False)
    queue(1)
    flaky = Flaky(TransientError("gateway busy"))
    policy = outbox.DeliveryPolicy(max_attempts=4, backoff_base=timedelta(seconds=30))
    waits = []
    for _ in range(4):
        report = outbox.deliver_due(db, senders={"sms": flaky}, owner="w1", policy=policy)
        assert report.claimed == 1
        (row,) = rows()
        if row.status == MessageStatus.PENDING:
            waits.append(row.next_attempt_at - START)
            time_machine.move_to(row.next_attempt_at, tick=False)
    (row,) = rows()
    assert row.status == MessageStatus.FAILED and row.attempts == 4
    assert row.last_error == "gateway busy"
    gaps = [waits[0]] + [b - a for a, b in zip(waits, waits[1:], strict=False)]
    assert gaps == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]


def test_permanent_errors_fail_at_once(committed_app):
    queue(1)
    outbox.deliver_due(
        db, senders={"sms": Flaky(PermanentError("number does not exist"))}, owner="w1"
    )
    (row,) = rows()
    assert row.status == MessageStatus.FAILED and row.attempts == 1


def test_admin_retry_and_cancel_of_failed_messages(committed_app, senders_for):
    queue(2)
    outbox.deliver_due(db, senders={"sms": Flaky(PermanentError("down"))}, owner="w1")
    first, second = rows()
    with db.transaction() as session:
        assert outbox.retry_failed(session, message_id=first.id)
        assert outbox.cancel_failed(session, message_id=second.id)
        assert not outbox.retry_failed(session, message_id=second.id)
    senders, _sms = senders_for()
    assert outbox.deliver_due(db, senders=senders, owner="w1").sent == 1
    assert [r.status for r in rows()] == ["sent", "cancelled"]


class Crash(BaseException):
    """The process dies (SIGKILL) between sending and recording the outcome."""


def test_a_crash_after_sending_does_not_send_again(
    committed_app, senders_for, smtp_server, monkeypatch, time_machine, tmp_path
):
    time_machine.move_to(START, tick=False)
    user = None
    with db.transaction() as session:
        user = make_user(
            session,
            email="v@example.cn",
            phone="13800000009",
            notify_by_email=True,
            notify_by_sms=True,
        )
    queue(3, to=Recipient.for_user(user))
    senders, sms = senders_for(smtp_server)
    real_record = outbox.record_outcomes

    def crash(*_args, **_kwargs):
        raise Crash

    monkeypatch.setattr(outbox, "record_outcomes", crash)
    with pytest.raises(Crash):
        outbox.deliver_due(db, senders=senders, owner="dead-worker")
    assert {r.status for r in rows()} == {MessageStatus.SENDING}
    assert len(smtp_server.inbox.messages) == 3 and sms_log_count() == 3

    monkeypatch.setattr(outbox, "record_outcomes", real_record)
    # Another worker, before the lease ends: nothing is taken twice.
    assert outbox.deliver_due(db, senders=senders, owner="w2").claimed == 0
    time_machine.move_to(START + timedelta(minutes=6), tick=False)
    report = outbox.deliver_due(db, senders=senders, owner="w2")
    by_channel = {}
    for r in rows():
        by_channel.setdefault(r.channel, set()).add(r.status)
    # In-app and SMS: handed over again, dropped as repeats by the provider: sent once.
    assert by_channel["inapp"] == {"sent"} and by_channel["sms"] == {"sent"}
    assert sms_log_count() == 3 and set(sms.requests.values()) == {2}
    assert len(sms_file_lines(tmp_path)) == 3  # and the provider's file has each once
    # E-mail cannot drop repeats: not resent; failed as interrupted for an admin to check.
    assert by_channel["email"] == {"failed"}
    assert report.interrupted == 3
    assert len(smtp_server.inbox.messages) == 3
    assert all("interrupted" in r.last_error for r in rows() if r.channel == "email")


def test_an_smtp_outage_delays_and_then_delivers_each_message_once(
    committed_app, senders_for, smtp_server, time_machine
):
    time_machine.move_to(START, tick=False)
    with db.transaction() as session:
        users = [
            make_user(session, email=f"u{i}@example.cn", notify_by_email=True) for i in range(5)
        ]
    for i, user in enumerate(users):
        queue(1, to=Recipient.for_user(user), prefix=f"mail{i}")
    senders, _sms = senders_for(smtp_server)
    smtp_server.stop()
    report = outbox.deliver_due(db, senders=senders, owner="w1")
    assert report.retried == 5
    emails = [r for r in rows() if r.channel == "email"]
    assert len(emails) == 5
    assert all(r.status == "pending" and r.attempts == 1 and "SMTP" in r.last_error for r in emails)
    smtp_server.start()
    assert outbox.deliver_due(db, senders=senders, owner="w1").claimed == 0  # not due yet
    time_machine.move_to(START + timedelta(seconds=31), tick=False)
    assert outbox.deliver_due(db, senders=senders, owner="w1").sent == 5
    emails = [r for r in rows() if r.channel == "email"]
    assert len(emails) == 5
    assert all(r.status == "sent" and r.attempts == 2 and r.last_error for r in emails)
    ids = smtp_server.inbox.message_ids()
    assert len(ids) == 5 and set(ids.values()) == {1}
    envelope = smtp_server.inbox.messages[0]
    assert envelope.rcpt_tos[0].endswith("@example.cn")
    assert b"Notice number" in envelope.content


def test_two_workers_at_once_deliver_each_message_once(committed_app, senders_for):
    queue(1200)
    senders, sms = senders_for()
    sms.latency = 0.02
    app = committed_app
    reports, errors = [], []
    start = threading.Barrier(2)

    def work(owner):
        try:
            start.wait()
            with app.app_context():
                reports.append(
                    outbox.deliver_due(
                        db,
                        senders=senders,
                        owner=owner,
                        policy=outbox.DeliveryPolicy(batch_size=50),
                    )
                )
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker is still running"
    assert not errors
    assert len(reports) == 2
    assert sum(r.sent for r in reports) == 1200
    assert all(r.sent > 0 for r in reports), "both workers took part"
    assert len(sms.requests) == 1200 and set(sms.requests.values()) == {1}
    assert sms_log_count() == 1200


# The SMS log file: one line per message, whatever is repeated --------------------------------


def _request(n: int, text: str | None = None) -> SmsRequest:
    return SmsRequest(f"notice:{n}#sms", f"139{n:08d}", text or f"Notice number {n}.")


def _references(lines: list[str]) -> list[str]:
    return [line.split("\t")[1] for line in lines]


def test_a_repeated_delivery_adds_no_line_to_the_sms_log(committed_app, tmp_path):
    provider = LogSmsProvider(db, tmp_path / "sms.log")
    assert provider.send([_request(0), _request(1)]) == {"notice:0#sms": None, "notice:1#sms": None}
    # The same messages again (a repeat after a crash), with one new one.
    provider.send([_request(1), _request(0), _request(2)])
    provider.send([_request(2)])
    lines = sms_file_lines(tmp_path)
    assert sorted(_references(lines)) == ["notice:0#sms", "notice:1#sms", "notice:2#sms"]
    assert sms_log_count() == 3


class KilledBeforeTheLine(BaseException):
    """The process dies after the sms_log row is committed, before its line is written."""


def test_a_kill_between_the_row_and_the_line_writes_the_line_on_the_repeat(
    committed_app, tmp_path, monkeypatch
):
    provider = LogSmsProvider(db, tmp_path / "sms.log")
    provider.send([_request(0)])
    real_write = LogSmsProvider._write_lines

    def killed(*_args, **_kwargs):
        raise KilledBeforeTheLine

    monkeypatch.setattr(LogSmsProvider, "_write_lines", killed)
    with pytest.raises(KilledBeforeTheLine):
        provider.send([_request(1), _request(2)])
    assert sms_log_count() == 3 and len(sms_file_lines(tmp_path)) == 1

    monkeypatch.setattr(LogSmsProvider, "_write_lines", real_write)
    provider.send([_request(0), _request(1), _request(2)])  # the outbox hands them over again
    provider.send([_request(1), _request(2)])
    assert sorted(_references(sms_file_lines(tmp_path))) == [
        "notice:0#sms",
        "notice:1#sms",
        "notice:2#sms",
    ]


def test_a_message_with_line_breaks_stays_on_one_line_of_the_sms_log(committed_app, tmp_path):
    provider = LogSmsProvider(db, tmp_path / "sms.log")
    provider.send([_request(0, "第一行\n第二行\t制表"), _request(1)])
    provider.send([_request(0, "第一行\n第二行\t制表")])
    lines = sms_file_lines(tmp_path)
    assert _references(lines) == ["notice:0#sms", "notice:1#sms"]
    assert lines[0].endswith("\t第一行\\n第二行\\t制表")
