"""Flask-Limiter counts in Redis when REDIS_URL is set, so the limit holds across workers.

Without it several workers each count alone: the portal says so at start and in its status.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
import redis
from flask_babel import force_locale, gettext

from portal.security import RATE_LIMIT_NOT_SHARED, rate_limit_status
from tests.conftest import REDIS_URL, page_text, post, reset_schema

# One "worker": its own process and app, sending login attempts; prints the status codes.
WORKER = r"""
import json, re, sys
from tests.conftest import app_config, reset_schema
from portal import create_app
url, redis_url, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
extra = {"RATELIMIT_KEY_PREFIX": prefix, "PORTAL_LOGIN_RATE_LIMIT": "5 per minute"}
if redis_url != "-":
    extra["REDIS_URL"] = redis_url
app = create_app(app_config(url, **extra))
client = app.test_client()
html = client.get("/auth/login").get_data(as_text=True)
token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
codes = [client.post("/auth/login", data={"login": "13900000000", "password": "wrong guess 1",
                                          "csrf_token": token}).status_code for _ in range(count)]
print(json.dumps(codes))
"""


def _worker(db: str, redis_url: str, prefix: str, count: int) -> list[int]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", WORKER, db, redis_url, prefix, str(count)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        env={**os.environ, "PORTAL_LOG_LEVEL": "WARNING"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture()
def sqlite_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'limit.db'}"
    reset_schema(url)
    return url


@pytest.fixture()
def redis_server():
    """The Redis server; tests marked `redis` skip (or fail under REQUIRE_REDIS=1) without it.

    The check is in conftest.pytest_runtest_setup, before any fixture runs.
    """
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.mark.redis
def test_limit_holds_across_two_workers_sharing_redis(sqlite_db, redis_server):
    prefix = f"test-{uuid.uuid4().hex}"
    first = _worker(sqlite_db, REDIS_URL, prefix, 3)
    second = _worker(sqlite_db, REDIS_URL, prefix, 3)
    assert first == [200, 200, 200]
    # The second worker sees the first one's three attempts: its third is the sixth overall.
    assert second == [200, 200, 429]
    assert any(prefix.encode() in key for key in redis_server.scan_iter(f"*{prefix}*"))
    for key in redis_server.scan_iter(f"*{prefix}*"):
        redis_server.delete(key)


def test_without_redis_each_worker_counts_alone(sqlite_db):
    prefix = f"test-{uuid.uuid4().hex}"
    assert _worker(sqlite_db, "-", prefix, 3) == [200, 200, 200]
    assert _worker(sqlite_db, "-", prefix, 3) == [200, 200, 200]


def _limited_app(new_app, database: str, **limits):
    """An app on a database of its own (what the limited requests commit must not stay for
    other tests), counting under a key prefix of its own."""
    reset_schema(database)
    return new_app(database, RATELIMIT_KEY_PREFIX="t" + uuid.uuid4().hex, **limits)


def test_rate_limited_page_is_clear_and_chinese(new_app, scratch_database):
    app = _limited_app(new_app, scratch_database, PORTAL_LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    codes = [
        post(client, "/auth/login", {"login": "13900000000", "password": "x"}) for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert "操作过于频繁" in page_text(codes[-1])
    assert codes[-1].headers.get("Retry-After")


# Several workers counting alone: a warning at start, and a status for /healthz -----------------

WORKER_ENV = ("PORTAL_WORKERS", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")


@pytest.fixture()
def one_worker(monkeypatch):
    """No variable says several workers, whatever the environment the tests run in."""
    for name in WORKER_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _status(**config) -> dict:
    return rate_limit_status(SimpleNamespace(config=config))


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("PORTAL_WORKERS", "4", "PORTAL_WORKERS=4"),
        ("WEB_CONCURRENCY", "2", "WEB_CONCURRENCY=2"),
        ("GUNICORN_CMD_ARGS", "--bind 127.0.0.1:8000 --workers 3", "GUNICORN_CMD_ARGS --workers 3"),
        ("GUNICORN_CMD_ARGS", "-w 2 --access-logfile -", "GUNICORN_CMD_ARGS --workers 2"),
        ("GUNICORN_CMD_ARGS", "--workers=5", "GUNICORN_CMD_ARGS --workers 5"),
    ],
)
def test_several_workers_counting_in_memory_are_reported(one_worker, name, value, why):
    one_worker.setenv(name, value)
    status = _status(RATELIMIT_STORAGE_URI="memory://")
    assert status == {
        "storage": "memory",
        "shared": False,
        "several_workers": why,
        "warning": RATE_LIMIT_NOT_SHARED,
    }


def test_production_counting_in_memory_is_reported(one_worker):
    status = _status(RATELIMIT_STORAGE_URI="memory://", PORTAL_ENV="production")
    assert status["several_workers"] == "PORTAL_ENV=production"
    assert status["warning"] == RATE_LIMIT_NOT_SHARED


@pytest.mark.parametrize("value", ["1", "0", "", "many"])
def test_one_worker_counting_in_memory_is_fine(one_worker, value):
    one_worker.setenv("PORTAL_WORKERS", value)
    one_worker.setenv("GUNICORN_CMD_ARGS", "--workers 1")
    status = _status(RATELIMIT_STORAGE_URI="memory://", PORTAL_ENV="development")
    assert status == {
        "storage": "memory",
        "shared": False,
        "several_workers": None,
        "warning": None,
    }


@pytest.mark.parametrize(
    "uri", ["redis://127.0.0.1:6379/0", "rediss://cache.internal:6380/0", "redis+sentinel://s/m"]
)
def test_workers_sharing_redis_are_fine(one_worker, uri):
    one_worker.setenv("PORTAL_WORKERS", "4")
    status = _status(RATELIMIT_STORAGE_URI=uri, PORTAL_ENV="production")
    assert status["storage"] == "redis" and status["shared"] is True
    assert status["warning"] is None


@pytest.fixture()
def security_log():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("portal.security")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_starting_several_workers_without_redis_logs_one_warning(
    one_worker, security_log, new_app, tmp_path
):
    url = f"sqlite:///{tmp_path / 'warn.db'}"
    new_app(url)
    assert security_log == []  # one worker: nothing to say
    one_worker.setenv("WEB_CONCURRENCY", "3")
    app = new_app(url)
    (record,) = security_log
    assert record.levelno == logging.WARNING
    assert "REDIS_URL" in record.getMessage()
    assert record.fields == {"storage": "memory", "several_workers": "WEB_CONCURRENCY=3"}
    # The same warning, in Chinese, for whoever shows the status (the health page).
    with app.app_context(), force_locale("zh_CN"):
        chinese = gettext(rate_limit_status(app)["warning"])
    assert chinese != RATE_LIMIT_NOT_SHARED and "REDIS_URL" in chinese
    assert "工作进程" in chinese


# The limiter's before-request check runs only while a limit needs it ---------------------------


def test_before_request_limit_check_runs_only_for_limits_that_need_it(app, client, monkeypatch):
    from portal.extensions import limiter

    calls = []
    monkeypatch.setattr(limiter, "_check_request_limit", lambda *a, **k: calls.append(a))
    assert client.get("/").status_code == 200
    assert calls == []  # the portal's limits are all on views
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", ["a default limit"])
    assert client.get("/sitemap").status_code == 200
    assert len(calls) == 1


def test_a_view_limit_still_holds_without_the_before_request_check(new_app, scratch_database):
    app = _limited_app(new_app, scratch_database, PORTAL_VERIFY_RATE_LIMIT="1 per minute")
    client = app.test_client()
    url = "/volunteers/certificates/verify?number=ZM2026000001"
    assert [client.get(url).status_code for _ in range(2)] == [200, 429]
