"""Publicity rules: writing, review (Plone's simple publication workflow), revisions, timing.

Who may write and who may publish:

- Any editor or reviewer may edit any item, another writer's draft included (a newsroom works
  so). Each save is a new revision attributed to the person who saved it (`created_by`).
- A revision records everyone whose text it holds (`text_authors`): its saver, the authors of
  the revision it was started from, and the authors of any earlier revision of the item with the
  same text. Adding or removing an attachment changes the working draft and counts as well.
- Nobody publishes a revision whose text they wrote or changed: a reviewer among its authors is
  refused, by `publish` and by the screens alike (`_publish_refusal`). Text sent back and saved
  again unchanged by someone else is still its writer's, so its writer still cannot publish it.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, false, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased, defer
from sqlmodel import Session, select

from portal import audit, cache, notify
from portal.auth.models import Role, User
from portal.core.domain import DomainError
from portal.core.domain import NotAllowed as KernelNotAllowed
from portal.core.fields import max_length, validated
from portal.i18n import N_, translated
from portal.notify.models import Channel
from portal.pagination import Page, paginate
from portal.publicity.markdown import render
from portal.publicity.models import (
    Attachment,
    Item,
    ItemStatus,
    Kind,
    Revision,
    RevisionCreate,
    RevisionStatus,
)
from portal.timeutil import utcnow

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}[a-z0-9]$")
# Limits come from the models, once (the forms read the same ones).
TITLE_MAX = max_length(Revision, "title")
SUMMARY_MAX = max_length(Revision, "summary")
BODY_MAX = max_length(Revision, "body")
COMMENT_MAX = max_length(Revision, "review_comment")
WRITERS = frozenset({Role.EDITOR, Role.REVIEWER})
REVIEWERS = frozenset({Role.REVIEWER})


@dataclass(frozen=True)
class Column:
    kind: Kind
    segment: str
    title: object  # lazy string
    listed: bool = True


COLUMNS: tuple[Column, ...] = (
    Column(Kind.NEWS, "news", _l("Work news")),
    Column(Kind.NOTICE, "notices", _l("Notices")),
    Column(Kind.POLICY, "policies", _l("Policy documents")),
    Column(Kind.INTERPRETATION, "interpretations", _l("Policy interpretations")),
    Column(Kind.LAW, "laws", _l("Laws and regulations")),
    Column(Kind.CASE, "cases", _l("Typical cases")),
    Column(Kind.AD, "ads", _l("Public-service ads")),
    Column(Kind.GUIDE, "guides", _l("Service guides")),
    Column(Kind.PAGE, "pages", _l("Web pages"), listed=False),
)
COLUMN_BY_SEGMENT = {c.segment: c for c in COLUMNS}
COLUMN_BY_KIND = {c.kind: c for c in COLUMNS}

# Metadata fields a kind carries, in display order (policy: the county's own table).
META_FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.POLICY: ("index_no", "topic", "issuer", "written", "doc_no", "norm_no", "validity"),
    Kind.LAW: ("issuer", "written", "effective", "validity"),
}
META_LABELS = {
    "index_no": _l("Index number"),  # 索引号
    "topic": _l("Subject category"),  # 主题分类
    "issuer": _l("Issuing body"),  # 发布机构
    "written": _l("Date written"),  # 成文日期
    "doc_no": _l("Document number"),  # 文号
    "norm_no": _l("Normative document number"),  # 规范性文件统一编号
    "validity": _l("Validity"),  # 有效性
    "effective": _l("In force since"),
}
META_MAX = 120

notify.register_template(
    "publicity.published",
    subject=N_("Published: {title}"),
    body=N_("Your item “{title}” was published by a reviewer."),
)
notify.register_template(
    "publicity.submitted",
    subject=N_("To review: {title}"),
    body=N_("“{title}” was submitted for review by {author}. It waits in the review queue."),
)
notify.register_template(
    "publicity.returned",
    subject=N_("Sent back: {title}"),
    body=N_("A reviewer sent your item “{title}” back with this comment: {comment}"),
)


class PublicityError(DomainError):
    """A publicity rule was broken; the message is translatable."""


class NotAllowed(PublicityError, KernelNotAllowed):
    """The user may not do this to this item."""


Draft = RevisionCreate


def draft(**data: Any) -> RevisionCreate:
    """A validated draft; a value over a model limit is a PublicityError on its field."""
    try:
        return validated(RevisionCreate, data)
    except DomainError as error:
        raise PublicityError(error.message, field=error.field, params=error.params) from None


def _check_draft(session: Session, kind: Kind, draft: Draft) -> tuple[dict, int | None]:
    # The lengths were checked when the draft was built (RevisionCreate); these rules remain.
    if not (draft.title or "").strip():
        raise PublicityError(N_("Enter a title."), field="title")
    if draft.publish_at and draft.expire_at and draft.expire_at <= draft.publish_at:
        raise PublicityError(
            N_("The expiry must come after the publication time."), field="expire_at"
        )
    meta = {}
    for name in META_FIELDS.get(kind, ()):
        value = (draft.meta or {}).get(name)
        if isinstance(value, date | datetime):
            value = value.isoformat()[:10]
        value = str(value).strip() if value not in (None, "") else ""
        if len(value) > META_MAX:
            raise PublicityError(
                N_("A metadata field may have at most 120 characters."), field=name
            )
        if value:
            meta[name] = value
    related = (draft.meta or {}).get("related") or []
    if related:
        meta["related"] = [str(s) for s in related][:10]
    if (draft.meta or {}).get("image"):
        meta["image"] = str(draft.meta["image"])[:200]
    policy_id = None
    if kind == Kind.INTERPRETATION:
        if not draft.policy_slug:
            raise PublicityError(
                N_("An interpretation must name the policy it explains."), field="policy_slug"
            )
        policy = session.exec(select(Item).where(Item.slug == draft.policy_slug)).first()
        if policy is None or policy.kind != Kind.POLICY:
            raise PublicityError(
                N_("There is no policy document with that address."), field="policy_slug"
            )
        policy_id = policy.id
    return meta, policy_id


def audit_item(
    session: Session,
    action: str,
    *,
    item: Item,
    actor_id: int | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Append an audit entry about a content item (who, from where, and what of it)."""
    audit.record(
        session,
        action=action,
        actor_id=actor_id,
        ip=ip,
        target_type="item",
        target_id=item.id,
        **detail,
    )


def _require(user: User, roles: frozenset[Role]) -> None:
    if user.role not in roles:
        raise NotAllowed(N_("Your account is not allowed to do this."))


def _authors(*groups) -> list[int]:
    return sorted({int(user_id) for group in groups for user_id in group if user_id is not None})


def _same_text_authors(session: Session, item: Item, title: str, summary: str, body: str, meta):
    """Authors of the item's earlier revisions whose text is exactly this one."""
    rows = session.exec(
        select(Revision.meta, Revision.text_authors).where(
            Revision.item_id == item.id,
            Revision.title == title,
            Revision.summary == summary,
            Revision.body == body,
        )
    ).all()
    return _authors(*(authors for old_meta, authors in rows if old_meta == meta))


def _new_revision(
    session: Session,
    item: Item,
    draft: Draft,
    meta: dict,
    user_id: int | None,
    status: RevisionStatus = RevisionStatus.DRAFT,
    base: Revision | None = None,
) -> Revision:
    """A new revision, its Markdown rendered now, with the authors of the text it holds."""
    number = (
        session.exec(select(func.max(Revision.number)).where(Revision.item_id == item.id)).one()
        or 0
    ) + 1
    title, summary, body = draft.title.strip(), (draft.summary or "").strip(), draft.body or ""
    rendered = render(body)
    revision = Revision(
        item_id=item.id,
        number=number,
        title=title,
        summary=summary,
        body=body,
        body_html=rendered.html,
        toc=[list(entry) for entry in rendered.toc],
        meta=meta,
        status=status,
        created_by=user_id,
        text_authors=_authors(
            [user_id],
            base.text_authors if base is not None else [],
            _same_text_authors(session, item, title, summary, body, meta),
        ),
    )
    session.add(revision)
    session.flush()
    return revision


def create_item(
    session: Session,
    *,
    author: User,
    kind: Kind | str,
    slug: str,
    draft: Draft,
    ip: str | None = None,
) -> Item:
    """A new item in draft, with its first revision."""
    _require(author, WRITERS)
    kind = Kind(kind)
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise PublicityError(
            N_("The address may use a-z, 0-9 and hyphens (3-80 characters)."), field="slug"
        )
    if session.exec(select(Item.id).where(Item.slug == slug)).first():
        raise PublicityError(N_("Another item already uses this address."), field="slug")
    meta, policy_id = _check_draft(session, kind, draft)
    item = Item(
        slug=slug,
        kind=kind,
        author_id=author.id,
        policy_id=policy_id,
        publish_at=draft.publish_at,
        expire_at=draft.expire_at,
    )
    session.add(item)
    session.flush()
    revision = _new_revision(session, item, draft, meta, author.id)
    item.working_revision_id = revision.id
    audit_item(
        session,
        action="content.created",
        item=item,
        actor_id=author.id,
        ip=ip,
        kind=str(kind),
    )
    return item


def working_revision(session: Session, item: Item) -> Revision | None:
    return session.get(Revision, item.working_revision_id) if item.working_revision_id else None


def live_revision(session: Session, item: Item) -> Revision | None:
    return session.get(Revision, item.live_revision_id) if item.live_revision_id else None


def save_draft(
    session: Session,
    *,
    item: Item,
    editor: User,
    draft: Draft,
    ip: str | None = None,
    base: Revision | None = None,
) -> Revision:
    """Every save is kept as a new revision; the live text stays until a reviewer publishes.

    Any writer may save any item's draft; the revision is attributed to them and still holds
    the authors of the text it started from (`base`, by default the working revision).
    """
    _require(editor, WRITERS)
    current = working_revision(session, item)
    if current is not None and current.status == RevisionStatus.PENDING:
        raise PublicityError(N_("This item is waiting for review; wait for the outcome."))
    meta, policy_id = _check_draft(session, item.kind, draft)
    if current is not None and current.status == RevisionStatus.DRAFT:
        current.status = RevisionStatus.SUPERSEDED
        session.add(current)
    revision = _new_revision(
        session, item, draft, meta, editor.id, base=base if base is not None else current
    )
    item.working_revision_id = revision.id
    item.policy_id = policy_id if item.kind == Kind.INTERPRETATION else item.policy_id
    item.publish_at, item.expire_at = draft.publish_at, draft.expire_at
    if item.status == ItemStatus.RETRACTED:
        item.status = ItemStatus.DRAFT
    item.updated_at = utcnow()
    session.add(item)
    audit_item(
        session,
        action="content.edited",
        item=item,
        actor_id=editor.id,
        ip=ip,
        revision=revision.number,
    )
    return revision


def submit(session: Session, *, item: Item, user: User, ip: str | None = None) -> Revision:
    """Send the working revision to the reviewers."""
    _require(user, WRITERS)
    revision = working_revision(session, item)
    if revision is None or revision.status != RevisionStatus.DRAFT:
        raise PublicityError(N_("There is no new draft to submit."))
    if item.kind == Kind.AD and not any(
        a.is_image for a in revision_attachments(session, revision)
    ):
        raise PublicityError(N_("A public-service ad needs its image: attach a JPEG or PNG first."))
    revision.status = RevisionStatus.PENDING
    session.add(revision)
    if item.status != ItemStatus.PUBLISHED:
        item.status = ItemStatus.PENDING
    item.updated_at = utcnow()
    session.add(item)
    _tell_reviewers(session, item, revision, user)
    audit_item(
        session,
        action="content.submitted",
        item=item,
        actor_id=user.id,
        ip=ip,
        revision=revision.number,
    )
    return revision


def pending_revision(session: Session, item: Item) -> Revision | None:
    revision = working_revision(session, item)
    return revision if revision is not None and revision.status == RevisionStatus.PENDING else None


def is_live(item: Item, now: datetime) -> bool:
    return (
        item.status == ItemStatus.PUBLISHED
        and (item.publish_at is None or item.publish_at <= now)
        and (item.expire_at is None or item.expire_at > now)
    )


def _set_live(session: Session, item: Item, now: datetime) -> bool:
    """Recompute whether the public sees the item; True when that (or its text) changed."""
    live = is_live(item, now)
    changed = live != item.live
    item.live = live
    session.add(item)
    return changed


AREA = "publicity"


def bump_content_version(session: Session) -> None:
    """The publicity pages cached under this area's version are dropped at commit."""
    cache.bump(session, AREA)


def _public_change(session: Session, item: Item) -> None:
    item.public_version += 1
    session.add(item)
    bump_content_version(session)
    from portal.publicity.search import source
    from portal.search import sync_after_commit

    sync_after_commit(session, source.name, [item.id])


def _tell_reviewers(session: Session, item: Item, revision: Revision, author: User) -> None:
    """Every active reviewer but the author is told in the portal that a revision waits."""
    from flask import has_request_context, url_for

    reviewers = session.exec(
        select(User).where(
            User.role == Role.REVIEWER, User.is_active.is_(True), User.id != author.id
        )
    ).all()
    link = url_for("publicity.item", item_id=item.id) if has_request_context() else None
    for reviewer in reviewers:
        notify.enqueue(
            session,
            key=f"publicity:revision:{revision.id}:submitted:{reviewer.id}",
            to=notify.Recipient.for_user(reviewer),
            template="publicity.submitted",
            context={"title": revision.title, "author": author.name},
            channels=[Channel.INAPP],
            link=link,
        )


def _tell_author(session: Session, revision: Revision, template: str, **context) -> None:
    if revision.created_by is None:
        return
    author = session.get(User, revision.created_by)
    if author is None:
        return
    notify.enqueue(
        session,
        key=f"publicity:revision:{revision.id}:{template}",
        to=notify.Recipient.for_user(author),
        template=template,
        context={"title": revision.title, **context},
        channels=[Channel.INAPP],
    )


def may_review(user: User) -> bool:
    """Whether this account reviews (publishes, sends back, retracts) content."""
    return user.role in REVIEWERS


def wrote(user: User, revision: Revision) -> bool:
    """Whether this user wrote or changed any of the revision's text."""
    return user.id in revision.text_authors or revision.created_by == user.id


def _publish_refusal(reviewer: User, revision: Revision) -> str | None:
    """Why this reviewer may not publish this revision (None: they may).

    The one rule, for the action and the screens: nobody publishes a revision whose text they
    wrote or changed, even when someone else saved it again unchanged.
    """
    if wrote(reviewer, revision):
        return N_("You wrote or changed this text, so another reviewer must publish it.")
    return None


@dataclass(frozen=True)
class ItemPermissions:
    """What a user may do to an item now: the screens show only these actions."""

    can_edit: bool = False
    can_submit: bool = False
    can_publish: bool = False
    can_send_back: bool = False
    can_retract: bool = False
    can_restore: bool = False
    publish_refusal: str | None = None  # shown to a reviewer who may not publish


def permissions(session: Session, item: Item, user: User) -> ItemPermissions:
    """The item's actions open to this user, by the same rules the actions check."""
    working = working_revision(session, item)
    writer, reviewer = user.role in WRITERS, user.role in REVIEWERS
    pending = working is not None and working.status == RevisionStatus.PENDING
    refusal = _publish_refusal(user, working) if reviewer and pending else None
    return ItemPermissions(
        can_edit=writer and not pending,
        can_submit=writer and working is not None and working.status == RevisionStatus.DRAFT,
        can_publish=reviewer and pending and refusal is None,
        can_send_back=reviewer and pending,
        can_retract=reviewer and item.status == ItemStatus.PUBLISHED,
        can_restore=writer and working is not None and not pending,
        publish_refusal=refusal,
    )


def item_context(session: Session, item: Item, user: User) -> dict[str, Any]:
    """Everything the item's management page shows, with the user's permissions."""
    working, live = working_revision(session, item), live_revision(session, item)
    current = working or live
    attachments = revision_attachments(session, current) if current else []
    live_files = revision_attachments(session, live) if live else []
    kept = {a.id for a in attachments}
    return {
        "item": item,
        "revisions": session.exec(
            select(Revision).where(Revision.item_id == item.id).order_by(Revision.number.desc())
        ).all(),
        "working": working,
        "live": live,
        # The working revision's files (those not public yet marked) and the public files it
        # takes away: what a reviewer publishes along with the text.
        "attachments": attachments,
        "new_attachments": kept - {a.id for a in live_files},
        "removed_attachments": [a for a in live_files if a.id not in kept],
        "can": permissions(session, item, user),
    }


def publish(
    session: Session,
    *,
    item: Item,
    reviewer: User,
    now: datetime | None = None,
    ip: str | None = None,
) -> Revision:
    """Make the pending revision live (at publish_at, if that is later)."""
    _require(reviewer, REVIEWERS)
    revision = pending_revision(session, item)
    if revision is None:
        raise PublicityError(N_("Nothing is waiting for review on this item."))
    refusal = _publish_refusal(reviewer, revision)
    if refusal:
        raise NotAllowed(refusal)
    now = now or utcnow()
    previous = live_revision(session, item)
    if previous is not None and previous.id != revision.id:
        previous.status = RevisionStatus.SUPERSEDED
        session.add(previous)
    revision.status = RevisionStatus.PUBLISHED
    revision.reviewed_by, revision.reviewed_at = reviewer.id, now
    session.add(revision)
    item.live_revision_id = revision.id
    item.status = ItemStatus.PUBLISHED
    if item.published_at is None:
        item.published_at = max(now, item.publish_at) if item.publish_at else now
    item.updated_at = now
    _set_live(session, item, now)
    _public_change(session, item)
    _tell_author(session, revision, "publicity.published")
    audit_item(
        session,
        action="content.published",
        item=item,
        actor_id=reviewer.id,
        ip=ip,
        revision=revision.number,
    )
    return revision


def publish_shipped(
    session: Session,
    *,
    item: Item,
    draft: Draft,
    published_at: datetime,
    date_precision: str = "day",
    source_file: str,
    source_hash: str,
) -> Revision:
    """Publish content shipped in content/: it was reviewed with the code, so no review here."""
    meta, policy_id = _check_draft(session, item.kind, draft)
    previous = live_revision(session, item)
    if previous is not None:
        previous.status = RevisionStatus.SUPERSEDED
        session.add(previous)
    revision = _new_revision(session, item, draft, meta, None, status=RevisionStatus.PUBLISHED)
    item.live_revision_id = item.working_revision_id = revision.id
    item.status = ItemStatus.PUBLISHED
    item.policy_id = policy_id
    item.publish_at, item.expire_at = draft.publish_at, draft.expire_at
    item.published_at = published_at
    item.date_precision = date_precision
    item.source_file, item.source_hash = source_file, source_hash
    item.updated_at = utcnow()
    _set_live(session, item, utcnow())
    _public_change(session, item)
    return revision


def return_to_author(
    session: Session, *, item: Item, reviewer: User, comment: str, ip: str | None = None
) -> Revision:
    """Send the pending revision back with a comment; a live text stays live."""
    _require(reviewer, REVIEWERS)
    comment = (comment or "").strip()
    if not comment:
        raise PublicityError(N_("Say what needs to change."), field="comment")
    if len(comment) > COMMENT_MAX:
        raise PublicityError(N_("The comment may have at most 1,000 characters."), field="comment")
    revision = pending_revision(session, item)
    if revision is None:
        raise PublicityError(N_("Nothing is waiting for review on this item."))
    revision.status = RevisionStatus.RETURNED
    revision.reviewed_by, revision.reviewed_at = reviewer.id, utcnow()
    revision.review_comment = comment
    session.add(revision)
    if item.status == ItemStatus.PENDING:
        item.status = ItemStatus.DRAFT
    # The returned text becomes the writer's starting point again.
    item.working_revision_id = revision.id
    session.add(item)
    _tell_author(session, revision, "publicity.returned", comment=comment)
    audit_item(
        session,
        action="content.returned",
        item=item,
        actor_id=reviewer.id,
        ip=ip,
        revision=revision.number,
    )
    return revision


def retract(session: Session, *, item: Item, reviewer: User, ip: str | None = None) -> None:
    """Take a published item off the public pages (it stays for editors)."""
    _require(reviewer, REVIEWERS)
    if item.status != ItemStatus.PUBLISHED:
        raise PublicityError(N_("Only a published item can be retracted."))
    item.status = ItemStatus.RETRACTED
    item.updated_at = utcnow()
    _set_live(session, item, utcnow())
    _public_change(session, item)
    audit_item(
        session,
        action="content.retracted",
        item=item,
        actor_id=reviewer.id,
        ip=ip,
    )


def _draft_of(session: Session, item: Item, revision: Revision) -> Draft:
    """A revision's text as a draft, with the item's current timing and policy link."""
    policy = session.get(Item, item.policy_id) if item.policy_id else None
    return Draft(
        title=revision.title,
        summary=revision.summary,
        body=revision.body,
        meta=dict(revision.meta),
        publish_at=item.publish_at,
        expire_at=item.expire_at,
        policy_slug=policy.slug if policy else None,
    )


def restore(
    session: Session, *, item: Item, revision_id: int, editor: User, ip: str | None = None
) -> Revision:
    """Start a new draft from an old revision; it goes through review like any edit.

    The text comes back with its authors; the attachments stay as they are now.
    """
    old = session.get(Revision, revision_id)
    if old is None or old.item_id != item.id:
        raise PublicityError(N_("That revision does not belong to this item."))
    revision = save_draft(
        session, item=item, editor=editor, draft=_draft_of(session, item, old), ip=ip, base=old
    )
    audit_item(
        session,
        action="content.restored",
        item=item,
        actor_id=editor.id,
        ip=ip,
        from_revision=old.number,
        revision=revision.number,
    )
    return revision


# Attachments -----------------------------------------------------------------------------


_ADDED_IN, _REMOVED_IN = aliased(Revision), aliased(Revision)  # built once: costly per call


def _in_revision(number: int):
    """Attachments that belong to the item's revision with this number."""
    return (
        select(Attachment)
        .join(_ADDED_IN, _ADDED_IN.id == Attachment.added_in_revision_id)
        .outerjoin(_REMOVED_IN, _REMOVED_IN.id == Attachment.removed_in_revision_id)
        .where(
            _ADDED_IN.number <= number,
            or_(_REMOVED_IN.id.is_(None), _REMOVED_IN.number > number),
        )
    )


# Built once, run with parameters: the pages that read them skip building and keying a query.
_REVISION_ATTACHMENTS = (
    _in_revision(bindparam("number"))
    .where(Attachment.item_id == bindparam("item_id"))
    .order_by(Attachment.id)
)


def revision_attachments(session: Session, revision: Revision | LiveRevision) -> list[Attachment]:
    """The files of this revision: added in it or before it, and not removed by then."""
    params = {"number": revision.number, "item_id": revision.item_id}
    return list(session.exec(_REVISION_ATTACHMENTS, params=params).all())


def attachment_is_public(session: Session, attachment: Attachment) -> bool:
    """Whether anyone may download the file: it belongs to its item's live revision."""
    row = session.exec(
        select(Item.live, Revision.number)
        .join(Revision, Revision.id == Item.live_revision_id)
        .where(Item.id == attachment.item_id)
    ).first()
    if row is None or not row[0]:
        return False
    found = session.exec(_in_revision(row[1]).where(Attachment.id == attachment.id)).first()
    return found is not None


def attachment_draft(session: Session, *, item: Item, user: User, ip: str | None = None):
    """The working draft that a change of files goes into, so it is reviewed like the text.

    An open draft is used (its authors now include this user); otherwise a new draft starts
    from the working text. Refused while a revision waits for review.
    """
    _require(user, WRITERS)
    current = working_revision(session, item)
    if current is not None and current.status == RevisionStatus.PENDING:
        raise PublicityError(N_("This item is waiting for review; wait for the outcome."))
    if current is not None and current.status == RevisionStatus.DRAFT:
        if not wrote(user, current):
            current.text_authors = _authors(current.text_authors, [user.id])
            session.add(current)
        return current
    base = current or live_revision(session, item)
    return save_draft(
        session, item=item, editor=user, draft=_draft_of(session, item, base), ip=ip, base=base
    )


def remove_attachment(
    session: Session, *, item: Item, attachment_id: int, user: User, ip: str | None = None
) -> Attachment:
    """Take a file off the item in the working draft; the public keeps it until publication."""
    _require(user, WRITERS)
    current = working_revision(session, item) or live_revision(session, item)
    attachment = session.get(Attachment, attachment_id)
    if (
        attachment is None
        or current is None
        or attachment not in revision_attachments(session, current)
    ):
        raise PublicityError(N_("That file is not attached to this item."))
    revision = attachment_draft(session, item=item, user=user, ip=ip)
    attachment.removed_in_revision_id = revision.id
    session.add(attachment)
    item.updated_at = utcnow()
    session.add(item)
    audit_item(
        session,
        action="content.attachment_removed",
        item=item,
        actor_id=user.id,
        ip=ip,
        attachment=attachment.id,
        revision=revision.number,
    )
    return attachment


def revision_diff(old: Revision, new: Revision) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per field, lines marked ' ' same, '-' removed, '+' added (only fields that differ)."""
    fields = [
        ("title", old.title, new.title),
        ("summary", old.summary, new.summary),
        ("body", old.body, new.body),
        ("meta", _meta_text(old.meta), _meta_text(new.meta)),
    ]
    result = []
    for name, a, b in fields:
        if a == b:
            continue
        lines = []
        for line in difflib.ndiff(a.splitlines(), b.splitlines()):
            if line.startswith("? "):
                continue
            lines.append((line[0], line[2:]))
        result.append((name, lines))
    return result


def _meta_text(meta: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in sorted(meta.items()))


def refresh_timed(session: Session, *, now: datetime | None = None) -> list[int]:
    """Carry out publish-at and expire-at: items whose visibility changed since the last run."""
    now = now or utcnow()
    candidates = session.exec(
        select(Item).where(
            Item.status == ItemStatus.PUBLISHED,
            or_(Item.publish_at.is_not(None), Item.expire_at.is_not(None)),
        )
    ).all()
    changed = []
    for item in candidates:
        if _set_live(session, item, now):
            changed.append(item.id)
            _public_change(session, item)
            audit_item(
                session,
                action="content.went_live" if item.live else "content.expired",
                item=item,
            )
    return changed


# Reading ---------------------------------------------------------------------------------


def live_items(session: Session, *, kind: Kind | None = None, year: int | None = None):
    statement = select(Item).where(Item.live.is_(True))
    if kind is not None:
        statement = statement.where(Item.kind == kind)
    return statement


def page_of(session: Session, statement, *, page: int, per_page: int, live: bool = True) -> Page:
    """A page of items, newest first, each with its (live or working) revision."""
    found = paginate(session, statement, page=page, per_page=per_page)
    return found.with_items(with_revisions(session, found.items, live=live))


def live_page(session: Session, *, kind: Kind | None, page: int, per_page: int) -> Page:
    """Published items of a column (or all), newest first."""
    statement = live_items(session, kind=kind).order_by(Item.published_at.desc(), Item.id.desc())
    return page_of(session, statement, page=page, per_page=per_page)


def manage_page(session: Session, *, status: str, kind: str, page: int, per_page: int) -> Page:
    """Every item for the writers' list, filtered by status and column, last changed first."""
    statement = select(Item)
    if status in {s.value for s in ItemStatus}:
        statement = statement.where(Item.status == status)
    if kind in {k.value for k in Kind}:
        statement = statement.where(Item.kind == kind)
    statement = statement.order_by(Item.updated_at.desc(), Item.id.desc())
    return page_of(session, statement, page=page, per_page=per_page, live=False)


# A list shows titles, summaries and dates: a revision's text is loaded only if it is read.
LISTED = (defer(Revision.body), defer(Revision.body_html), defer(Revision.toc))


def with_revisions(
    session: Session, items: list[Item], *, live: bool = True
) -> list[tuple[Item, Revision]]:
    ids = [i.live_revision_id if live else i.working_revision_id for i in items]
    statement = select(Revision).where(Revision.id.in_([i for i in ids if i])).options(*LISTED)
    revisions = {r.id: r for r in session.exec(statement)}
    return [
        (item, revisions[rid]) for item, rid in zip(items, ids, strict=True) if rid in revisions
    ]


# The public detail page reads plain columns: building ORM objects (identity map, instrumented
# attributes, deferred loaders) for rows that are only shown cost more than the query itself.
_ITEMS, _REVISIONS, _FILES = Item.__table__, Revision.__table__, Attachment.__table__
_ITEM_COLUMNS = (
    _ITEMS.c.id,
    _ITEMS.c.slug,
    _ITEMS.c.kind,
    _ITEMS.c.policy_id,
    _ITEMS.c.published_at,
    _ITEMS.c.date_precision,
)


@dataclass(frozen=True, slots=True)
class LiveItem:
    """What public pages show of a live item (read as columns, never written)."""

    id: int
    slug: str
    kind: str
    policy_id: int | None
    published_at: datetime | None
    date_precision: str
    # Whether any file was ever attached to the item (if not, its files are not looked up).
    has_files: bool = True


@dataclass(frozen=True, slots=True)
class LiveRevision:
    """The live text of an item as its page shows it (not the Markdown source)."""

    id: int
    item_id: int
    number: int
    title: str
    summary: str
    body_html: str
    toc: list
    meta: dict


@dataclass(frozen=True, slots=True)
class ListedRevision:
    """What a list row shows of an item's live revision."""

    title: str


def _live_columns(*columns, condition):
    return (
        core_select(*_ITEM_COLUMNS, *columns)
        .join(_REVISIONS, _REVISIONS.c.id == _ITEMS.c.live_revision_id)
        .where(_ITEMS.c.live.is_(True), condition)
    )


# The detail page's queries, built once and run with parameters.
_LIVE_BY_SLUG = _live_columns(
    exists().where(_FILES.c.item_id == _ITEMS.c.id),
    _REVISIONS.c.id,
    _REVISIONS.c.number,
    _REVISIONS.c.title,
    _REVISIONS.c.summary,
    _REVISIONS.c.body_html,
    _REVISIONS.c.toc,
    _REVISIONS.c.meta,
    condition=_ITEMS.c.slug == bindparam("slug"),
)


@functools.lru_cache(maxsize=64)
def _around(slug_count: int):
    """The query of the items around a page, for this many related slugs (s0, s1, ...).

    One statement per count, each compiled once, instead of an expanding IN whose SQL is
    rewritten at every execution.
    """
    slugs = [bindparam(f"s{i}") for i in range(slug_count)]
    return _live_columns(
        _REVISIONS.c.title,
        condition=or_(
            _ITEMS.c.slug.in_(slugs) if slugs else false(),
            _ITEMS.c.id == bindparam("explains"),
            _ITEMS.c.policy_id == bindparam("policy"),
        ),
    )


def live_by_slug(session: Session, slug: str) -> tuple[LiveItem, LiveRevision] | None:
    """A live item and its live revision, as its page shows them (not the Markdown source)."""
    row = session.connection().execute(_LIVE_BY_SLUG, {"slug": slug}).first()
    if row is None:
        return None
    item = LiveItem(*row[:7])
    return item, LiveRevision(row[7], item.id, *row[8:])


_LIVE_TEXTS = (
    select(Item.id, Revision.body_html)
    .join(Revision, Revision.id == Item.live_revision_id)
    .where(Item.id.in_(bindparam("ids", expanding=True)))
)


def live_texts(session: Session, ids: list[int]) -> dict[int, str]:
    """The visible text of these items' live revisions (for search snippets)."""
    from portal.search.sources import plain_text

    rows = session.exec(_LIVE_TEXTS, params={"ids": ids}).all()
    return {item_id: plain_text(body) for item_id, body in rows}


def detail_context(
    session: Session, item: Item | LiveItem, revision: Revision | LiveRevision
) -> dict[str, Any]:
    """What a detail page shows around the text: metadata, links, attachments, contents.

    The public page passes what `live_by_slug` read, a preview the ORM objects.
    """
    # The related items, the policy explained and the interpretations: one query for all.
    slugs = [str(slug) for slug in revision.meta.get("related") or []]
    explains = item.policy_id if item.kind == Kind.INTERPRETATION else None
    policy_id = item.id if item.kind == Kind.POLICY else None
    rows = []
    if slugs or explains or policy_id:
        # A parameter left None matches nothing (`= NULL`), as a condition left out would.
        params = {"explains": explains or None, "policy": policy_id}
        params.update((f"s{i}", slug) for i, slug in enumerate(slugs))
        found = session.connection().execute(_around(len(slugs)), params)
        rows = [(LiveItem(*row[:6]), ListedRevision(row[6])) for row in found]
        rows.sort(key=lambda row: row[0].id)
    related = sorted(
        (row for row in rows if row[0].slug in slugs), key=lambda row: slugs.index(row[0].slug)
    )
    policy = next((row for row in rows if row[0].id == explains), None)
    interpretations = [
        row for row in rows if item.kind == Kind.POLICY and row[0].policy_id == item.id
    ]
    meta = [
        (translated(META_LABELS[name]), revision.meta[name])
        for name in META_FIELDS.get(item.kind, ())
        if revision.meta.get(name)
    ]
    return {
        "item": item,
        "revision": revision,
        "meta": meta,
        "related": related,
        "policy": policy,
        "interpretations": interpretations,
        "attachments": revision_attachments(session, revision)
        if not isinstance(item, LiveItem) or item.has_files
        else [],
        "toc": revision.toc,  # stored when the revision was saved
    }


def _waiting_for_review(statement):
    """Restrict a select over items to those whose working revision waits for review."""
    return statement.join(Revision, Revision.id == Item.working_revision_id).where(
        Revision.status == RevisionStatus.PENDING
    )


def review_queue(session: Session) -> list[tuple[Item, Revision]]:
    rows = session.exec(
        _waiting_for_review(select(Item, Revision)).order_by(Revision.created_at)
    ).all()
    return [(item, revision) for item, revision in rows]


def review_page_context(session: Session, user: User) -> dict[str, Any]:
    """The review queue, with the revisions this reviewer wrote (others must publish them)."""
    rows = review_queue(session)
    return {"rows": rows, "own": {revision.id for _item, revision in rows if wrote(user, revision)}}


def review_count(session: Session, user: User) -> int:
    """Items waiting for a reviewer (the staff workspace's queue)."""
    return session.exec(_waiting_for_review(select(func.count()).select_from(Item))).one()


def returned_count(session: Session, user: User) -> int:
    """This writer's drafts that a reviewer sent back and that wait for a new draft."""
    return session.exec(
        select(func.count())
        .select_from(Item)
        .join(Revision, Revision.id == Item.working_revision_id)
        .where(Revision.status == RevisionStatus.RETURNED, Revision.created_by == user.id)
    ).one()


def sitemap_entries(session: Session):
    """The special column's public pages, for /sitemap.xml."""
    from flask import url_for

    from portal.core.registry import SitemapEntry

    yield SitemapEntry(url_for("publicity.index"))
    for column in COLUMNS:
        if column.listed:
            yield SitemapEntry(url_for("publicity.column", segment=column.segment))
    for item in session.exec(select(Item).where(Item.live.is_(True)).order_by(Item.id)):
        yield SitemapEntry(public_url(item), item.updated_at)


def public_url(item: Item | LiveItem) -> str:
    """The public address of an item (needs an application context).

    Inside a request it is its column's path up to the slug, built by url_for once per
    application and script root, followed by the slug: lists build many of these links.
    """
    from flask import has_request_context

    slug = item.slug
    if has_request_context() and slug.isascii() and slug.replace("-", "").isalnum():
        return _url_prefixes()[item.kind] + slug  # nothing in such a slug is quoted
    return _built_url(item.kind, slug)


def _built_url(kind: str, slug: str) -> str:
    from flask import url_for

    if kind == Kind.PAGE:
        return url_for("publicity.page", slug=slug)
    return url_for("publicity.detail", segment=COLUMN_BY_KIND[kind].segment, slug=slug)


_PLACEHOLDER = "placeholder-slug"


def _url_prefixes() -> dict[str, str]:
    """{kind: its items' public path up to the slug} for this application and script root."""
    from flask import request

    from portal.web import app_memo

    return app_memo("publicity_url_prefixes", request.script_root, _built_prefixes, bound=100)


def _built_prefixes() -> dict[str, str]:
    prefixes = {}
    for column in COLUMNS:
        url = _built_url(column.kind, _PLACEHOLDER)
        if not url.endswith("/" + _PLACEHOLDER):
            raise RuntimeError(f"the address of an item does not end with its slug: {url}")
        prefixes[column.kind] = url.removesuffix(_PLACEHOLDER)
    return prefixes
