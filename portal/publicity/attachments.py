"""Uploads (security.md 20): size limit, type by content, images re-encoded without EXIF.

A file added to or removed from an item goes into its working draft (services.attachment_draft):
the public sees the change once a reviewer publishes that revision, never before.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlmodel import Session

from portal.auth.models import User
from portal.i18n import N_
from portal.publicity import services
from portal.publicity.models import Attachment, Item
from portal.publicity.services import PublicityError

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff(data: bytes) -> tuple[str, str] | None:
    """The content type and extension the bytes really are (PDF, JPEG, PNG), or None."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def _too_large() -> PublicityError:
    return PublicityError(N_("The image is too large (at most 40 megapixels)."), field="file")


def reencode_image(data: bytes, content_type: str) -> bytes:
    """Decode and save the pixels again: EXIF (GPS included) and anything hidden is dropped."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _too_large()
            image.load()
            pixels = image.convert("RGB") if content_type == "image/jpeg" else image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow stops (or, below twice its limit, warns about) very large images before we can
        # measure them: those are too large, not unreadable.
        raise _too_large() from error
    except (UnidentifiedImageError, OSError) as error:
        raise PublicityError(N_("The image could not be read."), field="file") from error
    out = io.BytesIO()
    if content_type == "image/jpeg":
        pixels.save(out, format="JPEG", quality=88, optimize=True)
    else:
        pixels.save(out, format="PNG", optimize=True)
    return out.getvalue()


def safe_filename(name: str, extension: str) -> str:
    stem = Path(name or "file").stem
    stem = re.sub(r"[^\w\-. ]+", "_", stem, flags=re.UNICODE).strip(" ._") or "file"
    return stem[:80] + extension


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
    if not data:
        raise PublicityError(N_("The file is empty."), field="file")
    if len(data) > MAX_FILE_BYTES:
        raise PublicityError(N_("The file is too large (at most 8 MB)."), field="file")
    sniffed = sniff(data)
    if sniffed is None:
        raise PublicityError(N_("Only PDF, JPEG and PNG files can be attached."), field="file")
    content_type, extension = sniffed
    is_image = content_type.startswith("image/")
    if is_image:
        data = reencode_image(data, content_type)
    revision = services.attachment_draft(session, item=item, user=user, ip=ip)
    digest = hashlib.sha256(data).hexdigest()
    upload_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the portal's account only
    path = upload_dir / digest
    if not path.exists():
        tmp = path.with_suffix(".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o600)  # also a part left behind by an earlier crash
            handle.write(data)
        tmp.replace(path)
    attachment = Attachment(
        item_id=item.id,
        filename=safe_filename(filename, extension),
        content_type=content_type,
        size=len(data),
        sha256=digest,
        is_image=is_image,
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
