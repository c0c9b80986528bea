"""Factories for publicity content: writers, reviewers, published items."""

from __future__ import annotations

import pytest

from portal.auth.models import Role
from portal.publicity import services
from portal.publicity.services import Draft
from tests.conftest import make_user


@pytest.fixture()
def editor(session):
    return make_user(session, role=Role.EDITOR, name="编辑甲")


@pytest.fixture()
def reviewer(session):
    return make_user(session, role=Role.REVIEWER, name="审核乙")


@pytest.fixture()
def publish(app, session, editor, reviewer):
    """Write, submit and publish an item; returns it (committed, indexed after commit)."""

    def make(
        kind="news",
        slug="item-one",
        title="标题",
        body="正文",
        summary="",
        meta=None,
        publish_at=None,
        expire_at=None,
        policy_slug=None,
    ):
        with app.app_context():
            item = services.create_item(
                session,
                author=editor,
                kind=kind,
                slug=slug,
                draft=Draft(
                    title=title,
                    summary=summary,
                    body=body,
                    meta=meta,
                    publish_at=publish_at,
                    expire_at=expire_at,
                    policy_slug=policy_slug,
                ),
            )
            services.submit(session, item=item, user=editor)
            services.publish(session, item=item, reviewer=reviewer)
            session.commit()
        return item

    return make
