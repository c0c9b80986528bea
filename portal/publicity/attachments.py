"""Uploads (security.md 20): size limit, type by content, images re-encoded without EXIF.

A file added to or removed from an item goes into its working draft (services.attachment_draft):
the public sees the change once a reviewer publishes that revision, never before.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from portal.auth.models import User
from portal.core import uploads
from portal.publicity import services
from portal.publicity.models import Attachment, Item
from portal.publicity.services import PublicityError


def store(
    session: Session,
    *,
    item: Item,
    filename: str,
    data: bytes,
    user: User,
    upload_dir: Path,
    ip: str | None = None,
) -> Attachment:
    """Check, clean and keep one uploaded file for an item, in its working draft."""
    checked = uploads.check(data, error_class=PublicityError)
    revision = services.attachment_draft(session, item=item, user=user, ip=ip)
    uploads.keep(upload_dir, checked)
    attachment = Attachment(
        item_id=item.id,
        filename=uploads.safe_filename(filename, checked.extension),
        content_type=checked.content_type,
        size=len(checked.data),
        sha256=checked.sha256,
        is_image=checked.is_image,
        created_by=user.id,
        added_in_revision_id=revision.id,
    )
    session.add(attachment)
    item.updated_at = attachment.created_at
    session.add(item)
    session.flush()
    # Nothing public changed: the file shows once a reviewer publishes this revision.
    services.audit_item(
        session,
        action="content.attachment_added",
        item=item,
        actor_id=user.id,
        ip=ip,
        attachment=attachment.id,
        revision=revision.number,
    )
    return attachment


def file_path(upload_dir: Path, attachment: Attachment) -> Path:
    return upload_dir / attachment.sha256
