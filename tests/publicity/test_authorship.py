"""Nobody publishes text they wrote or changed, however the text came back to the queue."""

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.publicity import services
from portal.publicity.models import Item, Revision
from portal.publicity.services import Draft, NotAllowed
from tests.conftest import login, make_user, page_text, post


@pytest.fixture()
def second_reviewer(session):
    return make_user(session, role=Role.REVIEWER, name="审核丙")


def _draft(title="防溺水提示", body="暑假将至，请看护好孩子。"):
    return Draft(title=title, body=body)


def test_text_sent_back_and_saved_again_unchanged_is_still_its_writers(
    app, session, editor, reviewer, second_reviewer
):
    with app.app_context():
        item = services.create_item(
            session, author=reviewer, kind="news", slug="n-loop", draft=_draft()
        )
        services.submit(session, item=item, user=reviewer)
        services.return_to_author(session, item=item, reviewer=second_reviewer, comment="再看看")
        # The editor saves the reviewer's text as it is and submits it: only the saver changed.
        again = services.save_draft(session, item=item, editor=editor, draft=_draft())
        services.submit(session, item=item, user=editor)
        assert again.created_by == editor.id
        assert set(again.text_authors) == {reviewer.id, editor.id}
        can = services.permissions(session, item, reviewer)
        assert not can.can_publish and "wrote or changed" in can.publish_refusal
        with pytest.raises(NotAllowed, match="wrote or changed"):
            services.publish(session, item=item, reviewer=reviewer)
        assert services.permissions(session, item, second_reviewer).can_publish
        services.publish(session, item=item, reviewer=second_reviewer)
        assert item.live


def test_text_retyped_as_it_was_counts_its_first_writer(
    app, session, editor, reviewer, second_reviewer
):
    """Identical text is its writer's even when the draft it was typed into was someone else's."""
    with app.app_context():
        item = services.create_item(
            session, author=editor, kind="news", slug="n-retyped", draft=_draft(title="初稿")
        )
        first = services.working_revision(session, item)
        services.save_draft(session, item=item, editor=reviewer, draft=_draft(title="审核员改的"))
        # The editor goes back to their own first draft, then types the reviewer's text again.
        restored = services.restore(session, item=item, revision_id=first.id, editor=editor)
        assert restored.text_authors == [editor.id]
        retyped = services.save_draft(
            session, item=item, editor=editor, draft=_draft(title="审核员改的")
        )
        assert set(retyped.text_authors) == {editor.id, reviewer.id}
        services.submit(session, item=item, user=editor)
        with pytest.raises(NotAllowed):
            services.publish(session, item=item, reviewer=reviewer)
        services.publish(session, item=item, reviewer=second_reviewer)


def test_an_editor_may_edit_another_editors_draft_and_both_are_its_authors(
    app, session, editor, reviewer
):
    other_editor = make_user(session, role=Role.EDITOR, name="编辑丁")
    with app.app_context():
        item = services.create_item(
            session, author=editor, kind="notice", slug="t-shared", draft=_draft()
        )
        edited = services.save_draft(
            session, item=item, editor=other_editor, draft=_draft(body="补充了报名时间。")
        )
        assert edited.created_by == other_editor.id
        assert set(edited.text_authors) == {editor.id, other_editor.id}
        services.submit(session, item=item, user=other_editor)
        # A reviewer who wrote none of it publishes it.
        assert services.permissions(session, item, reviewer).can_publish
        services.publish(session, item=item, reviewer=reviewer)
        assert services.live_revision(session, item).id == edited.id


def test_a_reviewer_who_edited_someone_elses_draft_cannot_publish_it(
    app, session, editor, reviewer, second_reviewer
):
    with app.app_context():
        item = services.create_item(
            session, author=editor, kind="news", slug="n-touched", draft=_draft()
        )
        services.save_draft(session, item=item, editor=reviewer, draft=_draft(title="改了标题"))
        services.submit(session, item=item, user=editor)
        assert "wrote or changed" in services.permissions(session, item, reviewer).publish_refusal
        with pytest.raises(NotAllowed):
            services.publish(session, item=item, reviewer=reviewer)
        services.publish(session, item=item, reviewer=second_reviewer)


def test_the_reviewers_screens_follow_the_same_rule(
    app, session, editor, reviewer, second_reviewer
):
    with app.app_context():
        item = services.create_item(
            session, author=reviewer, kind="news", slug="n-screen", draft=_draft()
        )
        services.submit(session, item=item, user=reviewer)
        services.return_to_author(session, item=item, reviewer=second_reviewer, comment="再看看")
        services.save_draft(session, item=item, editor=editor, draft=_draft())
        services.submit(session, item=item, user=editor)
        session.commit()
    writer_of_text = app.test_client()
    login(writer_of_text, reviewer)
    page = writer_of_text.get(f"/publicity/manage/{item.id}")
    assert f'action="/publicity/manage/{item.id}/publish"' not in page.get_data(as_text=True)
    assert "此内容由您撰写或修改过，须由其他审核员发布。" in page_text(page)
    assert "您撰写或修改过" in page_text(writer_of_text.get("/publicity/review"))
    refused = post(writer_of_text, f"/publicity/manage/{item.id}/publish")
    assert refused.status_code == 303
    assert "此内容由您撰写或修改过" in page_text(writer_of_text.get(refused.headers["Location"]))
    session.expire_all()
    assert not session.get(Item, item.id).live
    other = app.test_client()
    login(other, second_reviewer)
    assert "您撰写或修改过" not in page_text(other.get("/publicity/review"))
    assert post(other, f"/publicity/manage/{item.id}/publish").status_code == 303
    session.expire_all()
    assert session.get(Item, item.id).live


def test_shipped_content_has_no_authors(app, session):
    from pathlib import Path

    from portal.extensions import db
    from portal.publicity.loader import load_directory

    with app.app_context():
        load_directory(db, Path(__file__).resolve().parents[2] / "content", report=lambda r: None)
    assert {tuple(r.text_authors) for r in session.exec(select(Revision))} == {()}
