"""Configuration read from the environment (PORTAL_*, DATABASE_URL, SECRET_KEY)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

TRUE_WORDS = {"1", "true", "yes", "on"}
# The weights the pairing engine knows (portal.pairing.matching.DEFAULT_WEIGHTS).
MATCH_WEIGHTS = ("need_met", "same_village", "preferred_township", "gender")


class ConfigError(RuntimeError):
    """The configuration cannot run safely."""


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in TRUE_WORDS


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def _rate_limit(name: str, default: str) -> str:
    """A Flask-Limiter limit ("20 per hour"); one it cannot read is refused at start."""
    from limits import parse_many

    value = os.environ.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f'{name} is not a rate limit such as "20 per hour": {value!r}') from None
    return value


def _json_object(name: str) -> dict:
    """A JSON object from the environment ({} when unset); anything else is refused at start."""
    value = os.environ.get(name, "").strip()
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise ConfigError(f"{name} is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f'{name} must be a JSON object, such as {{"need_met": 10}}.')
    return parsed


def _match_settings() -> dict:
    """The pairing engine's settings: weights, allowed neighbour townships, gender policy."""
    weights = _json_object("PORTAL_MATCH_WEIGHTS")
    for key, points in weights.items():
        if key not in MATCH_WEIGHTS:
            raise ConfigError(f"PORTAL_MATCH_WEIGHTS: unknown weight {key!r}.")
        if isinstance(points, bool) or not isinstance(points, int) or points < 0:
            raise ConfigError(f"PORTAL_MATCH_WEIGHTS: {key!r} must be a whole number of 0 or more.")
    neighbours = _json_object("PORTAL_MATCH_NEIGHBOURS")
    for township, others in neighbours.items():
        if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
            raise ConfigError(
                f"PORTAL_MATCH_NEIGHBOURS: {township!r} must map to a list of township codes."
            )
    policy = os.environ.get("PORTAL_MATCH_GENDER_POLICY", "").strip() or "respect_preference"
    if policy not in ("none", "same_sex", "respect_preference"):
        raise ConfigError(
            "PORTAL_MATCH_GENDER_POLICY must be none, same_sex or respect_preference."
        )
    return {
        "PORTAL_MATCH_WEIGHTS": weights,
        "PORTAL_MATCH_NEIGHBOURS": neighbours,
        "PORTAL_MATCH_GENDER_POLICY": policy,
    }


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secret_from_instance(instance_path: Path) -> str:
    """Read the generated secret key, creating it (mode 0600) on first run."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def _data_key_from_instance(instance_path: Path) -> str:
    """Read the generated data key (a Fernet key), creating it (mode 0600) on first run."""
    import base64

    path = instance_path / "data_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return path.read_text().strip()


def load_config(instance_path: str) -> dict:
    """Build the settings from environment variables."""
    instance = Path(instance_path)
    env = os.environ.get("PORTAL_ENV", "development")
    secret = os.environ.get("SECRET_KEY", "")
    secret_generated = not secret
    sqlite_default = f"sqlite:///{instance / 'portal.db'}"
    remember_days = _int("PORTAL_REMEMBER_DAYS", 14)
    config = {
        "PORTAL_ENV": env,
        "DEBUG": _flag("PORTAL_DEBUG"),
        "SECRET_KEY": secret,
        "SECRET_KEY_GENERATED": secret_generated,
        "DATABASE_URL": normalise_database_url(os.environ.get("DATABASE_URL", sqlite_default)),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "SESSION_COOKIE_SECURE": _flag("PORTAL_SECURE_COOKIES", env == "production"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag("PORTAL_SECURE_COOKIES", env == "production"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Remember-me (volunteers only): the cookie and, checked by the server, the login
        # it carries last PORTAL_REMEMBER_DAYS.
        "REMEMBER_COOKIE_DURATION": timedelta(days=remember_days),
        "PORTAL_REMEMBER_DAYS": remember_days,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # The session cookie is sent again only when the session changed: its last-seen time
        # moves once a minute (security.SEEN_STEP), which keeps its expiry sliding, instead of
        # signing and sending it again on every request.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "MAX_CONTENT_LENGTH": _int("PORTAL_MAX_UPLOAD_MB", 10) * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": 3600 * 12,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "PORTAL_LANGUAGES": ["zh_CN", "en"],
        "PORTAL_STAFF_IDLE_MINUTES": _int("PORTAL_STAFF_IDLE_MINUTES", 30),
        "PORTAL_SESSION_ABSOLUTE_HOURS": _int("PORTAL_SESSION_ABSOLUTE_HOURS", 12),
        "PORTAL_REAUTH_MINUTES": _int("PORTAL_REAUTH_MINUTES", 15),
        "PORTAL_LOGIN_MAX_FAILURES": _int("PORTAL_LOGIN_MAX_FAILURES", 6),
        "PORTAL_LOGIN_WINDOW_SECONDS": _int("PORTAL_LOGIN_WINDOW_SECONDS", 60),
        "PORTAL_LOGIN_LOCK_MINUTES": _int("PORTAL_LOGIN_LOCK_MINUTES", 30),
        # Requests per client address (Flask-Limiter), per kind of public form.
        "PORTAL_LOGIN_RATE_LIMIT": _rate_limit("PORTAL_LOGIN_RATE_LIMIT", "30 per minute"),
        "PORTAL_SIGNUP_RATE_LIMIT": _rate_limit("PORTAL_SIGNUP_RATE_LIMIT", "10 per hour"),
        "PORTAL_BOOKING_RATE_LIMIT": _rate_limit("PORTAL_BOOKING_RATE_LIMIT", "20 per hour"),
        "PORTAL_AID_RATE_LIMIT": _rate_limit("PORTAL_AID_RATE_LIMIT", "10 per hour"),
        "PORTAL_VERIFY_RATE_LIMIT": _rate_limit("PORTAL_VERIFY_RATE_LIMIT", "30 per minute"),
        "PORTAL_RESET_LINK_MINUTES": _int("PORTAL_RESET_LINK_MINUTES", 60),
        "PORTAL_PAGE_SIZE": _int("PORTAL_PAGE_SIZE", 20),
        # Volunteers and pairing (days).
        "PORTAL_VETTING_VALID_DAYS": _int("PORTAL_VETTING_VALID_DAYS", 365),
        "PORTAL_PAIRING_BUFFER_DAYS": _int("PORTAL_PAIRING_BUFFER_DAYS", 14),
        "PORTAL_VISIT_REMINDER_DAYS": _int("PORTAL_VISIT_REMINDER_DAYS", 30),
        "PORTAL_VISIT_ESCALATION_DAYS": _int("PORTAL_VISIT_ESCALATION_DAYS", 45),
        # Emergency aid: two approvers above this many fen (¥5,000), aid per child per
        # calendar year, days of public notice before payment.
        "PORTAL_AID_TWO_APPROVERS_ABOVE_FEN": _int("PORTAL_AID_TWO_APPROVERS_ABOVE_FEN", 500_000),
        "PORTAL_AID_YEARLY_CAP": _int("PORTAL_AID_YEARLY_CAP", 1),
        "PORTAL_AID_NOTICE_DAYS": _int("PORTAL_AID_NOTICE_DAYS", 7),
        # Pairing suggestions: JSON weights and neighbour townships, and the gender policy.
        **_match_settings(),
        "PORTAL_LOG_LEVEL": os.environ.get("PORTAL_LOG_LEVEL", "INFO"),
        # Notifications: e-mail over SMTP (off while no host is set), SMS through a provider.
        "PORTAL_SMTP_HOST": os.environ.get("PORTAL_SMTP_HOST", ""),
        "PORTAL_SMTP_PORT": _int("PORTAL_SMTP_PORT", 587),
        "PORTAL_SMTP_SECURITY": os.environ.get("PORTAL_SMTP_SECURITY", "starttls"),
        "PORTAL_SMTP_USER": os.environ.get("PORTAL_SMTP_USER", ""),
        "PORTAL_SMTP_PASSWORD": os.environ.get("PORTAL_SMTP_PASSWORD", ""),
        "PORTAL_SMTP_FROM": os.environ.get("PORTAL_SMTP_FROM", "noreply@songyang.gov.cn"),
        "PORTAL_SMTP_TIMEOUT": _int("PORTAL_SMTP_TIMEOUT", 10),
        "PORTAL_SMS_PROVIDER": os.environ.get("PORTAL_SMS_PROVIDER", "log"),
        "PORTAL_SMS_LOG": os.environ.get("PORTAL_SMS_LOG", str(instance / "sms.log")),
        "PORTAL_OUTBOX_BATCH": _int("PORTAL_OUTBOX_BATCH", 500),
        "PORTAL_OUTBOX_MAX_ATTEMPTS": _int("PORTAL_OUTBOX_MAX_ATTEMPTS", 8),
        "PORTAL_OUTBOX_BACKOFF_SECONDS": _int("PORTAL_OUTBOX_BACKOFF_SECONDS", 30),
        "PORTAL_OUTBOX_LEASE_SECONDS": _int("PORTAL_OUTBOX_LEASE_SECONDS", 300),
        "PORTAL_SCHEDULER_HEARTBEAT_SECONDS": _int("PORTAL_SCHEDULER_HEARTBEAT_SECONDS", 10),
        "PORTAL_SCHEDULER_STALE_SECONDS": _int("PORTAL_SCHEDULER_STALE_SECONDS", 45),
        "PORTAL_SEARCH_DIR": os.environ.get("PORTAL_SEARCH_DIR", str(instance / "search")),
        "PORTAL_UPLOAD_DIR": os.environ.get("PORTAL_UPLOAD_DIR", str(instance / "uploads")),
        "PORTAL_CONTENT_DIR": os.environ.get("PORTAL_CONTENT_DIR", "content"),
        # Anonymous public pages: entries kept per worker, and how often the version is checked.
        "PORTAL_PAGE_CACHE_SIZE": _int("PORTAL_PAGE_CACHE_SIZE", 2000),
        "PORTAL_PAGE_CACHE_TTL": float(os.environ.get("PORTAL_PAGE_CACHE_TTL", "1")),
        # How many reverse proxies set X-Forwarded-* in front of the portal (0: none trusted).
        "PORTAL_PROXY_COUNT": _int("PORTAL_PROXY_COUNT", 0),
        # The portal's one public address: every absolute link (feeds, sitemap, robots.txt,
        # e-mailed links) is built from it, never from the request's Host header.
        "PORTAL_BASE_URL": os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        # Host names the portal answers to (comma-separated); empty: any. Others get 400.
        "PORTAL_ALLOWED_HOSTS": [
            h.strip().lower()
            for h in os.environ.get("PORTAL_ALLOWED_HOSTS", "").split(",")
            if h.strip()
        ],
    }
    if secret_generated and env != "production":
        config["SECRET_KEY"] = _secret_from_instance(instance)
    # Key(s) for personal identity data at rest (ID and account numbers); comma-separated
    # Fernet keys, the first encrypts, all decrypt (rotation). Outside production one is
    # generated into the instance folder on first run.
    config["PORTAL_DATA_KEYS"] = os.environ.get("PORTAL_DATA_KEYS", "")
    if not config["PORTAL_DATA_KEYS"] and env != "production":
        config["PORTAL_DATA_KEYS"] = _data_key_from_instance(instance)
    return config


def check_production(config: dict) -> None:
    """Refuse to run a production deployment that is unsafe."""
    if config.get("PORTAL_ENV") != "production":
        return
    if config.get("DEBUG"):
        raise ConfigError("PORTAL_ENV=production refuses to start with PORTAL_DEBUG on.")
    secret = config.get("SECRET_KEY") or ""
    if config.get("SECRET_KEY_GENERATED") or len(secret) < 32:
        raise ConfigError(
            "PORTAL_ENV=production needs SECRET_KEY set to a random value of 32+ characters."
        )
    base = config.get("PORTAL_BASE_URL") or ""
    if not base.startswith("https://") or "127.0.0.1" in base or "localhost" in base:
        raise ConfigError(
            "PORTAL_ENV=production needs PORTAL_BASE_URL set to the portal's public https:// "
            "address (absolute links are built from it, never from the request)."
        )
    if not config.get("PORTAL_DATA_KEYS"):
        raise ConfigError(
            "PORTAL_ENV=production needs PORTAL_DATA_KEYS (a Fernet key) to protect ID numbers."
        )
