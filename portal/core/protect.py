"""Personal identity data at rest (security.md 30): encrypted, hashed for lookups, masked.

A number people must not see in full (an ID number, a bank account) is kept three ways:

- `encrypt()`: a Fernet token (AES-128-CBC with HMAC-SHA256), readable only with a key from
  `PORTAL_DATA_KEYS`. Several comma-separated keys allow rotation: the first encrypts, each of
  them decrypts.
- `keyed_hash()`: HMAC-SHA256 under a key derived from the *last* key of the list, so a unique
  index can refuse a second record with the same number without anyone holding the number; the
  last key therefore stays in the list while such records exist.
- `mask()`: the copy that pages, exports and certificates show.

Nothing here needs a request: jobs, the CLI and the importer use the app's config.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class DataKeyError(RuntimeError):
    """The data keys are missing or malformed."""


@lru_cache(maxsize=4)
def _keys(setting: str) -> tuple[MultiFernet, bytes]:
    keys = [k.strip() for k in setting.split(",") if k.strip()]
    if not keys:
        raise DataKeyError("PORTAL_DATA_KEYS is empty: identity data cannot be protected.")
    try:
        fernets = [Fernet(k) for k in keys]
    except ValueError as error:
        raise DataKeyError("PORTAL_DATA_KEYS holds a key that is not a Fernet key.") from error
    hash_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal identity lookup hash"
    ).derive(keys[-1].encode())
    return MultiFernet(fernets), hash_key


def _current(setting: str | None) -> tuple[MultiFernet, bytes]:
    return _keys(setting if setting is not None else current_app.config["PORTAL_DATA_KEYS"])


def encrypt(plain: str, *, keys: str | None = None) -> str:
    return _current(keys)[0].encrypt(plain.encode()).decode()


def decrypt(token: str, *, keys: str | None = None) -> str:
    """The plain text; raises DataKeyError when no configured key opens the token."""
    try:
        return _current(keys)[0].decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise DataKeyError("No configured data key opens this value.") from error


def keyed_hash(kind: str, plain: str, *, keys: str | None = None) -> str:
    """A lookup hash of a normalised value; `kind` keeps two kinds of number apart."""
    message = f"{kind}:{plain}".encode()
    return hmac.new(_current(keys)[1], message, hashlib.sha256).hexdigest()


def mask(value: str, *, keep_start: int = 4, keep_end: int = 4) -> str:
    """`331124199001011234` → `3311**********1234`; short values keep one character each end."""
    if len(value) <= keep_start + keep_end + 1:
        keep_start = keep_end = 1 if len(value) > 2 else 0
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + (value[-keep_end:] if keep_end else "")


def mask_name(name: str) -> str:
    """A name shown to the public: the family name and stars (张**, 欧阳*), never the whole."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name + "*"
    return name[0] + "*" * (len(name) - 1)
