"""Configuration from the environment; production refuses unsafe settings."""

import os
import stat

import pytest
from flask import request

from portal import create_app
from portal.config import ConfigError, load_config, normalise_database_url


def test_secret_key_is_generated_once_into_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config(str(tmp_path))["SECRET_KEY"]
    second = load_config(str(tmp_path))["SECRET_KEY"]
    assert first == second and len(first) >= 64
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_environment_variables_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/portal")
    monkeypatch.setenv("PORTAL_STAFF_IDLE_MINUTES", "10")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    config = load_config(str(tmp_path))
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@db.example/portal"
    assert config["PORTAL_STAFF_IDLE_MINUTES"] == 10
    assert config["REDIS_URL"] == "redis://127.0.0.1:6379/1"


def test_default_database_is_sqlite_under_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert load_config(str(tmp_path))["DATABASE_URL"] == f"sqlite:///{tmp_path / 'portal.db'}"


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_production_refuses_to_start_without_a_real_secret(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "too-short")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_a_data_key(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PORTAL_BASE_URL", "https://lsrt.songyang.gov.cn/")
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.delenv("PORTAL_DATA_KEYS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError, match="PORTAL_DATA_KEYS"):
        create_app()


def test_production_refuses_debug(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PORTAL_DEBUG", "1")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError, match="debug|DEBUG"):
        create_app()


def test_production_refuses_to_start_without_its_public_address(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_BASE_URL"):
        create_app()
    monkeypatch.setenv("PORTAL_BASE_URL", "http://lsrt.songyang.gov.cn")
    with pytest.raises(ConfigError, match="https://"):
        create_app()


def test_production_with_a_real_secret_starts_with_secure_cookies(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("PORTAL_BASE_URL", "https://lsrt.songyang.gov.cn/")
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("PORTAL_DATA_KEYS", "bdLJDEyMcnGFMMYr8CLpb2fnTuwkEgP_ut5jLhy0Q9A=")
    app = create_app()
    assert app.config["PORTAL_BASE_URL"] == "https://lsrt.songyang.gov.cn"
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert not app.debug
    app.extensions["portal_db"].engine.dispose()


def _seen_by_views(app) -> list[tuple[str, str]]:
    """The client address and scheme each request of this app showed its views."""
    seen = []

    @app.before_request
    def remember():
        seen.append((request.remote_addr, request.scheme))

    return seen


def test_behind_a_proxy_the_client_address_and_https_are_seen(new_app, db_url):
    app = new_app(db_url, PORTAL_PROXY_COUNT=1)
    seen = _seen_by_views(app)
    response = app.test_client().get(
        "/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    )
    assert "Strict-Transport-Security" in response.headers
    assert seen == [("203.0.113.9", "https")]


def test_without_proxy_setting_forwarded_headers_are_ignored(new_app, db_url):
    app = new_app(db_url)
    seen = _seen_by_views(app)
    response = app.test_client().get(
        "/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    )
    assert "Strict-Transport-Security" not in response.headers
    assert seen == [("127.0.0.1", "http")]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("PORTAL_MATCH_WEIGHTS", "not json", "PORTAL_MATCH_WEIGHTS"),
        ("PORTAL_MATCH_WEIGHTS", '{"luck": 3}', "unknown weight"),
        ("PORTAL_MATCH_WEIGHTS", '{"need_met": -1}', "whole number"),
        ("PORTAL_MATCH_NEIGHBOURS", '{"331124001": "331124002"}', "list of township codes"),
        ("PORTAL_MATCH_GENDER_POLICY", "random", "PORTAL_MATCH_GENDER_POLICY"),
    ],
)
def test_pairing_settings_are_checked_at_start(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError, match=words):
        create_app()


def test_pairing_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_MATCH_WEIGHTS", '{"same_village": 20}')
    monkeypatch.setenv("PORTAL_MATCH_NEIGHBOURS", '{"331124001": ["331124002"]}')
    monkeypatch.setenv("PORTAL_MATCH_GENDER_POLICY", "same_sex")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    app = create_app()
    with app.app_context():
        from portal.pairing import services

        settings = services.match_settings()
    assert settings.weights["same_village"] == 20 and settings.gender_policy == "same_sex"
    assert settings.allowed("331124002", "331124001")
    app.extensions["portal_db"].engine.dispose()


RATE_LIMITS = {
    "PORTAL_LOGIN_RATE_LIMIT": "30 per minute",
    "PORTAL_SIGNUP_RATE_LIMIT": "10 per hour",
    "PORTAL_BOOKING_RATE_LIMIT": "20 per hour",
    "PORTAL_AID_RATE_LIMIT": "10 per hour",
    "PORTAL_VERIFY_RATE_LIMIT": "30 per minute",
}


@pytest.mark.parametrize(("name", "default"), RATE_LIMITS.items(), ids=list(RATE_LIMITS))
def test_each_rate_limit_is_read_from_the_environment(tmp_path, monkeypatch, name, default):
    monkeypatch.delenv(name, raising=False)
    assert load_config(str(tmp_path))[name] == default
    monkeypatch.setenv(name, "5 per day")
    assert load_config(str(tmp_path))[name] == "5 per day"


@pytest.mark.parametrize("name", RATE_LIMITS)
def test_a_rate_limit_flask_limiter_cannot_read_is_refused_at_start(tmp_path, monkeypatch, name):
    monkeypatch.setenv(name, "twenty an hour")
    with pytest.raises(ConfigError, match=f"{name} is not a rate limit"):
        load_config(str(tmp_path))
