"""One transaction per request: readers that write, refusals that roll back, denials kept.

These tests use a SQLite file of their own (or a scratch PostgreSQL database) with real
commits and a second connection, because the failure they guard against only happens between
two connections.
"""

from __future__ import annotations

import pytest
from flask import request
from flask_wtf import FlaskForm
from sqlalchemy import text
from sqlmodel import Session, select
from wtforms import StringField

from portal import audit
from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.core.domain import DomainError, NotAllowed, NotFound
from portal.db import get_session, make_engine
from portal.extensions import csrf, db
from portal.i18n import N_
from portal.web import form_error
from tests.conftest import login, make_user, reset_schema


class RefusalForm(FlaskForm):
    title = StringField()


@pytest.fixture()
def real_app(scratch_database, new_app):
    """An app on its own database: every request commits for real, as in production."""
    reset_schema(scratch_database)
    app = new_app(scratch_database)
    state = {"meanwhile": False}

    @app.before_request
    def another_writer_commits():
        # Runs after the user was loaded, i.e. after this request's read transaction began.
        if state["meanwhile"]:
            other = make_engine(scratch_database)
            with other.begin() as conn:
                conn.execute(
                    text("UPDATE township SET pinyin = pinyin || 'x' WHERE code = '331124001'")
                )
            other.dispose()

    def missing_record():
        raise NotFound(reason="township", township="331124101")

    def half_done():
        """A service that wrote, then refused: the view shows the refusal on its form."""
        form = RefusalForm(meta={"csrf": False})
        if request.method == "POST":
            try:
                audit.record(get_session(), action="test.half_done")
                raise DomainError(N_("Enter a title."), field="title")
            except DomainError as error:
                form_error(form, error)
        return f"{form.title.data}|{form.title.errors}"

    def half_done_uncaught():
        audit.record(get_session(), action="test.half_done")
        raise NotAllowed(reason="rule")

    app.add_url_rule("/_test/out-of-reach", view_func=missing_record)
    # These test-only forms carry no token; the portal's own forms all do.
    app.add_url_rule("/_test/half-done", view_func=csrf.exempt(half_done), methods=["POST"])
    app.add_url_rule(
        "/_test/half-done-uncaught", view_func=csrf.exempt(half_done_uncaught), methods=["POST"]
    )
    app.test_state = state
    return app


def _user(app, role: Role) -> User:
    with app.app_context(), db.transaction() as session:
        user = make_user(session, role=role, phone="13905780000")
        session.expunge(user)
    return user


def _denials(app) -> list[AuditEntry]:
    with app.app_context(), db.transaction(write=False) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied")))


def test_a_denied_get_answers_403_when_another_writer_committed_meanwhile(real_app):
    user = _user(real_app, Role.VOLUNTEER)
    client = real_app.test_client()
    login(client, user)
    real_app.test_state["meanwhile"] = True
    response = client.get("/admin/users")
    assert response.status_code == 403
    [denial] = _denials(real_app)
    assert denial.actor_id == user.id and denial.detail["endpoint"] == "admin.users"


def test_a_record_out_of_reach_answers_404_when_another_writer_committed_meanwhile(real_app):
    user = _user(real_app, Role.TOWNSHIP_STAFF)
    client = real_app.test_client()
    login(client, user)
    real_app.test_state["meanwhile"] = True
    response = client.get("/_test/out-of-reach")
    assert response.status_code == 404
    assert "找不到该页面" in response.get_data(as_text=True)
    [denial] = _denials(real_app)
    assert denial.detail["reason"] == "township" and denial.detail["township"] == "331124101"


def test_a_reader_session_upgrades_before_its_first_write(real_app, scratch_database):
    with real_app.app_context():
        reader = db.new_session(write=False)
        try:
            assert reader.exec(select(User)).all() == []  # the read transaction has begun
            other = make_engine(scratch_database)
            with other.begin() as conn:
                conn.execute(text("UPDATE township SET pinyin = pinyin || 'x'"))
            other.dispose()
            make_user(reader, role=Role.VOLUNTEER, phone="13905780001")  # writes and commits
        finally:
            reader.close()
        with Session(db.engine) as check:
            assert check.exec(select(User.phone)).all() == ["13905780001"]


def _entries(app, action: str) -> list[AuditEntry]:
    with app.app_context(), db.transaction(write=False) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_refusal_shown_on_the_form_keeps_the_input_and_commits_nothing(real_app):
    response = real_app.test_client().post("/_test/half-done", data={"title": "我写的标题"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "我写的标题|['请填写标题。']"
    assert _entries(real_app, "test.half_done") == []


def test_an_uncaught_refusal_answers_403_and_commits_nothing(real_app):
    response = real_app.test_client().post("/_test/half-done-uncaught")
    assert response.status_code == 403
    assert _entries(real_app, "test.half_done") == []
    [denial] = _denials(real_app)
    assert denial.detail["reason"] == "rule"
