"""Audit log (security.md 27): append-only, denials recorded, no secrets or full numbers."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

from portal import audit
from portal.audit import AuditEntry, AuditLogIsAppendOnly
from portal.auth.models import Role
from tests.conftest import login, make_user


def test_entries_cannot_be_changed_through_the_orm(session):
    entry = audit.record(session, action="test.event", ip="127.0.0.1")
    session.commit()
    entry.action = "forged"
    with pytest.raises(AuditLogIsAppendOnly):
        session.commit()
    session.rollback()
    session.delete(session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        session.commit()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entry SET action = 'x'", "DELETE FROM audit_entry"]
)
def test_the_database_refuses_update_and_delete(session, statement):
    audit.record(session, action="test.event")
    session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text(statement))
    session.rollback()


def test_secrets_and_identity_numbers_are_removed():
    cleaned = audit._clean(
        {
            "password": "hunter22",
            "csrf_token": "abc",
            "reset_token": "t",
            "note": "身份证 331124199001011234 手机 13912345678",
        }
    )
    assert cleaned["password"] == cleaned["csrf_token"] == cleaned["reset_token"] == "[removed]"
    assert "331124199001011234" not in cleaned["note"] and "3311**********1234" in cleaned["note"]
    assert "13912345678" not in cleaned["note"] and "139****5678" in cleaned["note"]


def test_denials_are_recorded(client, session):
    user = make_user(session, role=Role.VOLUNTEER)
    login(client, user)
    assert client.get("/admin/users").status_code == 403
    session.expire_all()
    denial = session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied")).one()
    assert denial.actor_id == user.id and denial.detail["endpoint"] == "admin.users"
    assert denial.ip == "127.0.0.1"


def test_account_changes_are_recorded(client, session):
    admin = make_user(session, role=Role.ADMIN)
    target = make_user(session, role=Role.EDITOR)
    login(client, admin)
    from tests.conftest import post

    post(client, f"/admin/users/{target.id}/active", {"active": "0"})
    post(client, f"/admin/users/{target.id}/active", {"active": "1"})
    post(client, f"/admin/users/{target.id}/reset-link")
    session.expire_all()
    actions = [
        e.action
        for e in session.exec(select(AuditEntry).where(AuditEntry.target_id == str(target.id)))
    ]
    assert actions == ["user.disabled", "user.enabled", "password.reset_link_issued"]


def test_content_actions_record_the_address_they_came_from(app, session):
    """Every audited content action done through the portal carries the request's IP."""
    from portal.publicity.models import Item, Revision
    from tests.conftest import post
    from tests.publicity.test_attachments import PDF, _upload
    from tests.publicity.test_views import NEW

    editor = make_user(session, role=Role.EDITOR, name="编辑甲")
    reviewer = make_user(session, role=Role.REVIEWER, name="审核乙")
    writer, checker = app.test_client(), app.test_client()
    for c in (writer, checker):
        c.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    login(writer, editor)
    login(checker, reviewer)
    post(writer, "/publicity/manage/new", NEW)
    item = session.exec(select(Item).where(Item.slug == NEW["slug"])).one()
    url = f"/publicity/manage/{item.id}"
    post(writer, f"{url}/edit", {**NEW, "title": "第二版"})
    post(writer, f"{url}/submit")
    post(checker, f"{url}/send-back", {"comment": "请补充活动时间"})
    first = session.exec(
        select(Revision).where(Revision.item_id == item.id, Revision.number == 1)
    ).one()
    post(writer, f"{url}/restore/{first.id}")
    assert _upload(writer, item, "讲座安排.pdf", PDF).status_code == 303
    post(writer, f"{url}/submit")
    post(checker, f"{url}/publish")
    post(checker, f"{url}/retract")
    session.expire_all()
    entries = session.exec(
        select(AuditEntry).where(
            AuditEntry.target_type == "item", AuditEntry.target_id == str(item.id)
        )
    ).all()
    actions = {e.action for e in entries}
    assert actions == {
        "content.created",
        "content.edited",
        "content.submitted",
        "content.returned",
        "content.restored",
        "content.attachment_added",
        "content.published",
        "content.retracted",
    }
    assert {(e.action, e.ip) for e in entries} == {(a, "203.0.113.7") for a in actions}
