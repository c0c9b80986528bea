"""The staff workspace (工作台): each role lands on what waits for it, with counts."""

from __future__ import annotations

import re

from portal.auth.models import Role
from portal.notify.models import MessageStatus, OutboxMessage
from portal.publicity import services
from portal.publicity.services import draft
from tests.conftest import PASSWORD, login, make_user, page_text, post


def _count(html: str, label: str) -> int:
    match = re.search(
        r'<strong class="count"[^>]*>(\d+)</strong>\s*<span class="label">' + label, html
    )
    assert match, f"no queue {label!r} on the page"
    return int(match.group(1))


def test_staff_land_on_their_workspace_after_login(app, session):
    client = app.test_client()
    response = login(client, make_user(session, role=Role.REVIEWER))
    assert response.headers["Location"] == "/workspace"
    page = client.get("/workspace")
    assert page.status_code == 200
    assert 'href="/workspace"' in page.get_data(as_text=True)  # the header links to it


def test_volunteers_land_on_the_home_page_and_have_no_workspace(app, session):
    client = app.test_client()
    response = login(client, make_user(session, role=Role.VOLUNTEER))
    assert response.headers["Location"] == "/"
    assert client.get("/workspace").status_code == 403
    assert 'href="/workspace"' not in client.get("/").get_data(as_text=True)


def test_a_login_on_its_way_elsewhere_goes_there(app, session):
    client = app.test_client()
    admin = make_user(session, role=Role.ADMIN)
    response = post(
        client,
        "/auth/login?next=/admin/users",
        {"login": admin.login_name, "password": PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users"


def test_reviewers_see_the_items_waiting_for_review(app, session):
    editor = make_user(session, role=Role.EDITOR)
    reviewer = make_user(session, role=Role.REVIEWER)
    client = app.test_client()
    login(client, reviewer)
    assert _count(client.get("/workspace").get_data(as_text=True), "待审核的内容") == 0
    with app.test_request_context():
        for slug in ("w-one", "w-two"):
            item = services.create_item(
                session, author=editor, kind="news", slug=slug, draft=draft(title=slug)
            )
            services.submit(session, item=item, user=editor)
        session.commit()
    html = client.get("/workspace").get_data(as_text=True)
    assert _count(html, "待审核的内容") == 2
    assert 'href="/publicity/review"' in html
    assert _count(html, "未读消息") == 0  # the messages are queued, not yet delivered


def test_editors_see_their_drafts_sent_back(app, session):
    editor = make_user(session, role=Role.EDITOR)
    other = make_user(session, role=Role.EDITOR)
    reviewer = make_user(session, role=Role.REVIEWER)
    with app.test_request_context():
        item = services.create_item(
            session, author=editor, kind="news", slug="w-back", draft=draft(title="退回稿")
        )
        services.submit(session, item=item, user=editor)
        services.return_to_author(session, item=item, reviewer=reviewer, comment="请补充来源")
        session.commit()
    mine, theirs = app.test_client(), app.test_client()
    login(mine, editor)
    login(theirs, other)
    assert _count(mine.get("/workspace").get_data(as_text=True), "被审核人退回的稿件") == 1
    assert _count(theirs.get("/workspace").get_data(as_text=True), "被审核人退回的稿件") == 0
    assert "待审核的内容" not in page_text(mine.get("/workspace"))  # not an editor's queue


def test_administrators_see_failed_messages_and_accounts_never_used(app, session):
    admin = make_user(session, role=Role.ADMIN)
    make_user(session, role=Role.EDITOR)  # never logged in
    session.add(
        OutboxMessage(
            key="test:failed:1",
            template="account.password_changed",
            channel="sms",
            address="13900000000",
            subject="s",
            body="b",
            status=MessageStatus.FAILED,
        )
    )
    session.commit()
    client = app.test_client()
    login(client, admin)
    html = client.get("/workspace").get_data(as_text=True)
    assert _count(html, "发送失败的消息") == 1
    assert _count(html, "从未登录的账号") == 1  # the editor; the admin has just logged in


def test_a_role_without_queues_is_told_so(app, session):
    client = app.test_client()
    login(client, make_user(session, role=Role.CHARITY_STAFF))
    text = page_text(client.get("/workspace"))
    assert "未读消息" in text  # every staff member has their inbox
    assert "目前没有等待您处理的事项" in text


def test_the_header_links_administration_pages_to_administrators_only(app, session):
    admin, editor = app.test_client(), app.test_client()
    login(admin, make_user(session, role=Role.ADMIN))
    login(editor, make_user(session, role=Role.EDITOR))
    assert 'href="/admin/users"' in admin.get("/").get_data(as_text=True)
    assert 'href="/admin/outbox"' in admin.get("/").get_data(as_text=True)
    assert 'href="/admin/users"' not in editor.get("/").get_data(as_text=True)


def test_the_header_links_follow_the_language_and_the_script_root(app, session):
    admin = app.test_client()
    login(admin, make_user(session, role=Role.ADMIN))
    assert ">账号管理<" in admin.get("/").get_data(as_text=True)
    english = admin.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">Accounts<" in english and ">账号管理<" not in english
    rooted = admin.get("/", base_url="http://localhost/portal/").get_data(as_text=True)
    assert 'href="/portal/admin/users"' in rooted
