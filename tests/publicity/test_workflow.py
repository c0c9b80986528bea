"""The simple publication workflow, revisions, diff/restore, timed publishing and expiry."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.notify.models import OutboxMessage
from portal.publicity import services
from portal.publicity.models import ItemStatus, Revision, RevisionStatus
from portal.publicity.services import Draft, NotAllowed, PublicityError
from tests.conftest import make_user

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def _new(session, author, slug="a-news", **kw):
    return services.create_item(
        session,
        author=author,
        kind=kw.pop("kind", "news"),
        slug=slug,
        draft=Draft(title=kw.pop("title", "原标题"), body=kw.pop("body", "第一段"), **kw),
    )


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.EDITOR, Role.REVIEWER)])
def test_only_editors_and_reviewers_write(app, session, role):
    user = make_user(session, role=role)
    with app.app_context(), pytest.raises(NotAllowed):
        _new(session, user)


@pytest.mark.parametrize("role", [r for r in Role if r != Role.REVIEWER])
def test_only_reviewers_publish(app, session, editor, role):
    with app.app_context():
        item = _new(session, editor)
        services.submit(session, item=item, user=editor)
        with pytest.raises(NotAllowed):
            services.publish(session, item=item, reviewer=make_user(session, role=role))
        with pytest.raises(NotAllowed):
            services.retract(session, item=item, reviewer=make_user(session, role=role))
        with pytest.raises(NotAllowed):
            services.return_to_author(
                session, item=item, reviewer=make_user(session, role=role), comment="x"
            )


def test_a_reviewer_never_publishes_their_own_writing(app, session, reviewer):
    with app.app_context():
        item = _new(session, reviewer)
        services.submit(session, item=item, user=reviewer)
        with pytest.raises(NotAllowed, match="wrote or changed"):
            services.publish(session, item=item, reviewer=reviewer)
        other = make_user(session, role=Role.REVIEWER)
        services.publish(session, item=item, reviewer=other)
        assert item.status == ItemStatus.PUBLISHED and item.live


def test_draft_pending_published_retracted(app, session, editor, reviewer):
    with app.app_context():
        item = _new(session, editor)
        assert (item.status, item.live) == (ItemStatus.DRAFT, False)
        with pytest.raises(PublicityError):
            services.publish(session, item=item, reviewer=reviewer)  # nothing submitted
        services.submit(session, item=item, user=editor)
        assert item.status == ItemStatus.PENDING
        with pytest.raises(PublicityError, match="waiting for review"):
            services.save_draft(session, item=item, editor=editor, draft=Draft(title="改"))
        services.publish(session, item=item, reviewer=reviewer)
        assert (item.status, item.live) == (ItemStatus.PUBLISHED, True)
        services.retract(session, item=item, reviewer=reviewer)
        assert (item.status, item.live) == (ItemStatus.RETRACTED, False)
        with pytest.raises(PublicityError):
            services.retract(session, item=item, reviewer=reviewer)


def test_sending_back_tells_the_author_and_keeps_the_comment(app, session, editor, reviewer):
    with app.app_context():
        item = _new(session, editor)
        services.submit(session, item=item, user=editor)
        with pytest.raises(PublicityError, match="Say what"):
            services.return_to_author(session, item=item, reviewer=reviewer, comment="  ")
        revision = services.return_to_author(
            session, item=item, reviewer=reviewer, comment="请补充时间地点"
        )
        assert revision.status == RevisionStatus.RETURNED and item.status == ItemStatus.DRAFT
        session.commit()
        (message,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.user_id == editor.id)
        ).all()
        assert message.channel == "inapp" and "请补充时间地点" in message.body


def test_the_author_is_told_when_published(app, session, editor, reviewer):
    with app.app_context():
        item = _new(session, editor, title="家长学校开课")
        services.submit(session, item=item, user=editor)
        services.publish(session, item=item, reviewer=reviewer)
        session.commit()
        (message,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.template == "publicity.published")
        ).all()
        assert message.user_id == editor.id and "家长学校开课" in message.subject


def test_reviewers_are_told_in_the_portal_when_an_item_is_submitted(app, session, editor, reviewer):
    other_reviewer = make_user(session, role="reviewer", name="李审核")
    make_user(session, role="reviewer", name="停用审核", is_active=False)
    with app.app_context():
        item = _new(session, editor, title="暑期防溺水提示")
        services.submit(session, item=item, user=editor)
        session.commit()
        told = session.exec(
            select(OutboxMessage).where(OutboxMessage.template == "publicity.submitted")
        ).all()
    assert sorted(m.user_id for m in told) == sorted([reviewer.id, other_reviewer.id])
    assert all(m.channel == "inapp" and "暑期防溺水提示" in m.subject for m in told)


def test_a_reviewer_who_submits_is_not_told_of_their_own_submission(app, session, reviewer):
    other_reviewer = make_user(session, role="reviewer", name="李审核")
    with app.app_context():
        item = _new(session, reviewer, title="审核员自己写的")
        services.submit(session, item=item, user=reviewer)
        session.commit()
        told = session.exec(
            select(OutboxMessage.user_id).where(OutboxMessage.template == "publicity.submitted")
        ).all()
    assert told == [other_reviewer.id]


def test_editing_a_published_item_keeps_it_live_until_the_new_revision_is_published(
    app, session, editor, reviewer
):
    with app.app_context():
        item = _new(session, editor)
        services.submit(session, item=item, user=editor)
        first = services.publish(session, item=item, reviewer=reviewer)
        second = services.save_draft(
            session, item=item, editor=editor, draft=Draft(title="新标题", body="第二段")
        )
        assert item.live and item.live_revision_id == first.id
        assert services.live_revision(session, item).title == "原标题"
        services.submit(session, item=item, user=editor)
        assert item.status == ItemStatus.PUBLISHED  # still published while the edit waits
        services.publish(session, item=item, reviewer=reviewer)
        assert item.live_revision_id == second.id
        assert session.get(Revision, first.id).status == RevisionStatus.SUPERSEDED


def test_every_save_is_kept_and_can_be_compared_and_restored(app, session, editor, reviewer):
    with app.app_context():
        item = _new(session, editor, body="第一段\n第二段")
        services.save_draft(
            session,
            item=item,
            editor=editor,
            draft=Draft(title="原标题", body="第一段\n第二段（修改）\n第三段"),
        )
        services.save_draft(
            session, item=item, editor=editor, draft=Draft(title="再改", body="全新")
        )
        revisions = session.exec(
            select(Revision).where(Revision.item_id == item.id).order_by(Revision.number)
        ).all()
        assert [r.number for r in revisions] == [1, 2, 3]
        changes = dict(services.revision_diff(revisions[0], revisions[1]))
        assert set(changes) == {"body"}
        assert ("-", "第二段") in changes["body"] and ("+", "第三段") in changes["body"]
        assert (" ", "第一段") in changes["body"]
        restored = services.restore(session, item=item, revision_id=revisions[0].id, editor=editor)
        assert restored.number == 4 and restored.body == "第一段\n第二段"
        assert restored.status == RevisionStatus.DRAFT  # goes through review like any edit
        assert not item.live


def test_scheduled_publication_and_expiry_are_carried_out_by_the_job(
    app, session, editor, reviewer, time_machine
):
    time_machine.move_to(T0, tick=False)
    with app.app_context():
        item = _new(
            session, editor, publish_at=T0 + timedelta(days=1), expire_at=T0 + timedelta(days=3)
        )
        services.submit(session, item=item, user=editor)
        services.publish(session, item=item, reviewer=reviewer)
        assert item.status == ItemStatus.PUBLISHED and not item.live
        assert services.refresh_timed(session) == []
        time_machine.move_to(T0 + timedelta(days=1, seconds=1), tick=False)
        assert services.refresh_timed(session) == [item.id] and item.live
        assert item.published_at == T0 + timedelta(days=1)
        time_machine.move_to(T0 + timedelta(days=3), tick=False)
        assert services.refresh_timed(session) == [item.id] and not item.live
        assert item.status == ItemStatus.PUBLISHED  # expired, still there for editors
        assert services.refresh_timed(session) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": ""}, "title", "Enter a title"),
        ({"title": "   "}, "title", "Enter a title"),
        ({"title": "x" * 201}, "title", "At most 200 characters"),
        ({"title": "t", "summary": "s" * 501}, "summary", "At most 500 characters"),
        ({"title": "t", "body": "b" * 200_001}, "body", "At most 200000 characters"),
        ({"title": "t", "publish_at": T0, "expire_at": T0}, "expire_at", "expiry must come after"),
        ({"title": "t", "meta": {"doc_no": "x" * 121}}, "doc_no", "at most 120"),
    ],
)
def test_bad_drafts_are_refused_on_their_field(app, session, editor, data, field, message):
    with app.app_context(), pytest.raises(PublicityError, match=message) as refused:
        services.create_item(
            session, author=editor, kind="policy", slug="p-one", draft=services.draft(**data)
        )
    assert refused.value.field == field


@pytest.mark.parametrize("slug", ["", "a", "has space", "中文地址", "-dash", "x" * 81, "a/b"])
def test_bad_addresses_are_refused(app, session, editor, slug):
    with app.app_context(), pytest.raises(PublicityError, match="address"):
        services.create_item(session, author=editor, kind="news", slug=slug, draft=Draft(title="t"))


def test_interpretations_link_to_an_existing_policy(app, session, editor, publish):
    with app.app_context():
        with pytest.raises(PublicityError, match="name the policy"):
            services.create_item(
                session,
                author=editor,
                kind="interpretation",
                slug="i-one",
                draft=Draft(title="解读"),
            )
        with pytest.raises(PublicityError, match="no policy"):
            services.create_item(
                session,
                author=editor,
                kind="interpretation",
                slug="i-one",
                draft=Draft(title="解读", policy_slug="missing"),
            )
    policy = publish(kind="policy", slug="p-main", title="政策")
    with app.app_context():
        item = services.create_item(
            session,
            author=editor,
            kind="interpretation",
            slug="i-one",
            draft=Draft(title="解读", policy_slug="p-main"),
        )
        assert item.policy_id == policy.id


def test_review_queue_lists_pending_items(app, session, editor):
    with app.app_context():
        item = _new(session, editor, title="待审")
        assert services.review_queue(session) == []
        services.submit(session, item=item, user=editor)
        assert [r.title for _i, r in services.review_queue(session)] == ["待审"]
