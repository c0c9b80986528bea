"""The inbox with its bell, contact preferences, and the admin's outbox page."""

import pytest
from sqlmodel import select

from portal import notify
from portal.auth.models import Role
from portal.notify import MessageStatus, OutboxMessage, Recipient
from portal.notify.templates import register_template
from portal.timeutil import utcnow
from tests.conftest import login, make_user, page_text, post

register_template("test.hello", subject="Hello {n}", body="Body of message {n}.")


def deliver_inbox(session, user, count, start=0):
    """Queue and mark as delivered `count` in-app messages for the user."""
    for n in range(start, start + count):
        for message in notify.enqueue(
            session,
            key=f"hello:{user.id}:{n}",
            to=Recipient.for_user(user),
            template="test.hello",
            context={"n": n},
        ):
            message.status, message.sent_at = MessageStatus.SENT, utcnow()
    session.commit()


def test_bell_shows_unread_count_and_inbox_lists_messages(client, session):
    user = make_user(session)
    login(client, user)
    assert 'class="badge"' not in client.get("/").get_data(as_text=True)
    deliver_inbox(session, user, 3)
    html = client.get("/").get_data(as_text=True)
    assert '<span class="badge" aria-label="3 条未读">3</span>' in html
    text = page_text(client.get("/inbox"))
    assert "Hello 2" in text and "Body of message 0." in text


def test_inbox_is_empty_state_first(client, session):
    login(client, make_user(session))
    assert "暂时没有消息" in page_text(client.get("/inbox"))


def test_mark_one_and_all_read(client, session):
    user = make_user(session)
    login(client, user)
    deliver_inbox(session, user, 3)
    first = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    assert post(client, f"/inbox/{first.id}/read").status_code == 303
    assert "2 条未读" in client.get("/").get_data(as_text=True)
    response = post(client, "/inbox/read-all")
    assert "已将 2 条消息标为已读" in page_text(client.get(response.headers["Location"]))
    assert 'class="badge"' not in client.get("/").get_data(as_text=True)


def test_nobody_reads_anothers_messages(client, session):
    owner, other = make_user(session), make_user(session)
    deliver_inbox(session, owner, 1)
    message = session.exec(select(OutboxMessage)).first()
    login(client, other)
    assert "Hello 0" not in page_text(client.get("/inbox"))
    assert post(client, f"/inbox/{message.id}/read").status_code == 404
    session.expire_all()
    assert session.get(OutboxMessage, message.id).read_at is None


def test_pending_messages_are_not_in_the_inbox_yet(client, session):
    user = make_user(session)
    notify.enqueue(
        session,
        key="hello:later",
        to=Recipient.for_user(user),
        template="test.hello",
        context={"n": 9},
    )
    session.commit()
    login(client, user)
    assert "Hello 9" not in page_text(client.get("/inbox"))


def test_inbox_paginates(client, session):
    user = make_user(session)
    deliver_inbox(session, user, 25)
    login(client, user)
    assert "第 1 页，共 2 页" in page_text(client.get("/inbox"))
    assert "第 2 页，共 2 页" in page_text(client.get("/inbox?page=2"))


def test_contact_preferences_are_saved(client, session):
    user = make_user(session, phone="13900000077", email=None)
    login(client, user)
    response = post(client, "/account/notifications", {"notify_by_sms": "y", "language": "en"})
    assert response.status_code == 303
    session.expire_all()
    saved = session.get(type(user), user.id)
    assert saved.notify_by_sms and not saved.notify_by_email and saved.language == "en"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"notify_by_email": "y", "language": "zh_CN"}, "没有电子邮箱"),
        ({"language": "fr"}, "不是有效的选择"),
    ],
)
def test_contact_preference_errors(client, session, form, message):
    login(client, make_user(session, phone="13900000078"))
    response = post(client, "/account/notifications", form)
    assert response.status_code == 200 and message in page_text(response)


def test_sms_preference_needs_a_phone(client, session):
    login(client, make_user(session, phone=None, email="only@example.cn"))
    response = post(client, "/account/notifications", {"notify_by_sms": "y", "language": "zh_CN"})
    assert "没有手机号码" in page_text(response)


def test_admin_sees_counts_and_mends_failed_messages(client, session):
    admin = make_user(session, role=Role.ADMIN)
    notify.enqueue(
        session,
        key="hello:failed",
        to=Recipient.by_phone("13900000001"),
        template="test.hello",
        context={"n": 1},
    )
    notify.enqueue(
        session,
        key="hello:failed2",
        to=Recipient.by_phone("13900000002"),
        template="test.hello",
        context={"n": 2},
    )
    session.commit()
    failed = list(session.exec(select(OutboxMessage)))
    for message in failed:
        message.status, message.last_error, message.attempts = (
            MessageStatus.FAILED,
            "gateway said no",
            8,
        )
    session.commit()
    login(client, admin)
    text = page_text(client.get("/admin/outbox"))
    assert "发送失败 2" in text and "gateway said no" in text
    post(client, f"/admin/outbox/{failed[0].id}/retry")
    post(client, f"/admin/outbox/{failed[1].id}/cancel")
    session.expire_all()
    assert session.get(OutboxMessage, failed[0].id).status == "pending"
    assert session.get(OutboxMessage, failed[0].id).attempts == 0
    assert session.get(OutboxMessage, failed[1].id).status == "cancelled"
    again = post(client, f"/admin/outbox/{failed[1].id}/retry")
    assert "只有发送失败的消息才能重试" in page_text(client.get(again.headers["Location"]))
    assert "没有发送失败的消息" in page_text(client.get("/admin/outbox"))
