"""Uploaded files (security.md 20): size limit, type by content, images re-encoded, kept private.

Areas call `check()` on the bytes a person sent: it refuses empty, oversized and unknown files
with a field error in the person's language, re-encodes images (dropping EXIF, GPS included) and
answers what to keep; `keep()` writes it under the upload folder by its SHA-256, mode 600.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from portal.core.domain import DomainError
from portal.i18n import N_

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


@dataclass(frozen=True)
class CheckedFile:
    data: bytes
    content_type: str
    extension: str
    sha256: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


def sniff(data: bytes) -> tuple[str, str] | None:
    """The content type and extension the bytes really are (PDF, JPEG, PNG), or None."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def _too_large(error_class: type[DomainError]) -> DomainError:
    return error_class(N_("The image is too large (at most 40 megapixels)."), field="file")


def reencode_image(
    data: bytes, content_type: str, *, error_class: type[DomainError] = DomainError
) -> bytes:
    """Decode and save the pixels again: EXIF (GPS included) and anything hidden is dropped."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise _too_large(error_class)
            image.load()
            pixels = image.convert("RGB") if content_type == "image/jpeg" else image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow stops (or, below twice its limit, warns about) very large images before we can
        # measure them: those are too large, not unreadable.
        raise _too_large(error_class) from error
    except (UnidentifiedImageError, OSError) as error:
        raise error_class(N_("The image could not be read."), field="file") from error
    out = io.BytesIO()
    if content_type == "image/jpeg":
        pixels.save(out, format="JPEG", quality=88, optimize=True)
    else:
        pixels.save(out, format="PNG", optimize=True)
    return out.getvalue()


def check(data: bytes, *, error_class: type[DomainError] = DomainError) -> CheckedFile:
    """Refuse what may not be kept; an image comes back re-encoded."""
    if not data:
        raise error_class(N_("The file is empty."), field="file")
    if len(data) > MAX_FILE_BYTES:
        raise error_class(N_("The file is too large (at most 8 MB)."), field="file")
    sniffed = sniff(data)
    if sniffed is None:
        raise error_class(N_("Only PDF, JPEG and PNG files can be attached."), field="file")
    content_type, extension = sniffed
    if content_type.startswith("image/"):
        data = reencode_image(data, content_type, error_class=error_class)
    return CheckedFile(data, content_type, extension, hashlib.sha256(data).hexdigest())


def keep(folder: Path, checked: CheckedFile) -> Path:
    """Write the file under its SHA-256 (once), readable by the portal's account only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / checked.sha256
    if not path.exists():
        tmp = path.with_suffix(".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o600)  # also a part left behind by an earlier crash
            handle.write(checked.data)
        tmp.replace(path)
    return path


def safe_filename(name: str, extension: str) -> str:
    stem = Path(name or "file").stem
    stem = re.sub(r"[^\w\-. ]+", "_", stem, flags=re.UNICODE).strip(" ._") or "file"
    return stem[:80] + extension
