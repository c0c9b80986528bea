"""enqueue() and cancel(): one call, idempotent on key, inside the caller's transaction."""

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from portal import notify
from portal.auth.models import Role
from portal.notify import Channel, MessageStatus, NotifyError, OutboxMessage, Recipient
from portal.notify.templates import register_template
from tests.conftest import make_user

register_template(
    "test.reminder",
    subject="Lecture {title}",
    body="The lecture {title} starts at {time}.",
    sms="Lecture {title} at {time}.",
)


def _queue(session, **overrides):
    args = dict(
        key="lecture:1:booking:1:remind-24h",
        to=Recipient.by_phone("13912345678"),
        template="test.reminder",
        context={"title": "隔代教育", "time": "19:00"},
    )
    args.update(overrides)
    return notify.enqueue(session, **args)


def _all(session):
    return list(session.exec(select(OutboxMessage)))


def test_a_guardian_without_account_gets_an_sms(session):
    (message,) = _queue(session)
    assert message.channel == Channel.SMS and message.address == "13912345678"
    assert message.body == "Lecture 隔代教育 at 19:00."
    assert message.status == MessageStatus.PENDING


def test_an_account_holder_gets_the_inbox_and_their_chosen_channels(app, session, monkeypatch):
    user = make_user(
        session, email="v@example.cn", phone="13900000001", notify_by_sms=True, notify_by_email=True
    )
    monkeypatch.setitem(app.config, "PORTAL_SMTP_HOST", "127.0.0.1")
    with app.app_context():
        messages = _queue(session, to=Recipient.for_user(user))
    assert sorted(m.channel for m in messages) == ["email", "inapp", "sms"]


def test_email_is_skipped_while_smtp_is_not_configured(app, session):
    user = make_user(session, email="v2@example.cn", notify_by_email=True)
    with app.app_context():
        messages = _queue(session, to=Recipient.for_user(user))
    assert [m.channel for m in messages] == ["inapp"]


def test_the_message_is_rendered_in_the_recipients_language(app, session):
    user = make_user(session, language="en")
    with app.app_context():
        (message,) = notify.enqueue(
            session,
            key="account:1:password-changed:2",
            to=Recipient.for_user(user),
            template="account.password_changed",
            context={"when": "2026-11-29 10:00"},
        )
    assert message.subject == "Your password was changed"
    chinese = make_user(session, language="zh_CN")
    with app.app_context():
        (message,) = notify.enqueue(
            session,
            key="account:2:password-changed:2",
            to=Recipient.for_user(chinese),
            template="account.password_changed",
            context={"when": "2026-11-29 10:00"},
        )
    assert message.subject == "您的密码已修改"


def test_the_same_key_twice_changes_nothing(session):
    first = _queue(session, due_at=datetime(2026, 12, 1, tzinfo=UTC))
    session.commit()
    second = _queue(session, context={"title": "changed", "time": "20:00"})
    session.commit()
    assert [m.id for m in second] == [m.id for m in first]
    (row,) = _all(session)
    assert "隔代教育" in row.body


def test_a_rolled_back_transaction_leaves_no_message(session):
    _queue(session)
    session.rollback()
    assert _all(session) == []


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"template": "no.such.template"}, "Unknown message template"),
        ({"to": None}, "needs a recipient"),
        ({"to": Recipient()}, "needs a recipient"),
        ({"context": {"title": "x" * 300, "time": "19:00"}}, "subject is too long"),
        ({"context": {"title": "only the title"}}, "missing details"),
        ({"key": ""}, "message key"),
        ({"key": "bad key with spaces"}, "message key"),
        ({"key": "k" * 181}, "message key"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_queued(session, overrides, error):
    with pytest.raises(NotifyError, match=error):
        _queue(session, **overrides)
    session.flush()
    assert _all(session) == []


def test_cancel_by_key_prefix_cancels_only_pending(session):
    _queue(session, key="lecture:1:booking:1:remind-24h")
    _queue(session, key="lecture:1:booking:1:remind-2h")
    _queue(session, key="lecture:1:booking:12:remind-24h")
    session.commit()
    count = notify.cancel(session, key_prefix="lecture:1:booking:1:")
    session.commit()
    session.expire_all()
    assert count == 2
    statuses = {m.key: m.status for m in _all(session)}
    assert statuses == {
        "lecture:1:booking:1:remind-24h": "cancelled",
        "lecture:1:booking:1:remind-2h": "cancelled",
        "lecture:1:booking:12:remind-24h": "pending",
    }


def test_cancel_treats_like_wildcards_literally(session):
    _queue(session, key="lecture:1_0:x")
    _queue(session, key="lecture:100:x")
    session.commit()
    assert notify.cancel(session, key_prefix="lecture:1_0") == 1


def test_password_change_queues_a_notice(client, session):
    from tests.conftest import PASSWORD, login, post

    user = make_user(session, role=Role.VOLUNTEER)
    login(client, user)
    post(
        client,
        "/auth/password",
        {"current": PASSWORD, "new": "a new phrase 9", "confirm": "a new phrase 9"},
    )
    session.expire_all()
    (message,) = _all(session)
    assert message.template == "account.password_changed" and message.user_id == user.id
