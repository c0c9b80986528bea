"""The scheduler: job registry and CLI, leader lock, take-over after a crash, clean stop."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from portal import notify
from portal.core.models import SchedulerLock
from portal.extensions import db
from portal.notify import Recipient
from portal.notify.models import OutboxMessage
from portal.scheduler import LeaderLock, load_jobs, run_job
from tests.conftest import reset_schema

ROOT = Path(__file__).resolve().parents[1]


def test_jobs_are_registered_with_explicit_misfire_and_coalescing():
    specs = load_jobs()
    assert {"notify.deliver", "publicity.timed", "search.catch_up"} <= set(specs)
    for spec in specs.values():
        assert spec.misfire_grace_time > 1 and spec.coalesce and spec.max_instances == 1


def test_jobs_command_lists_jobs_with_next_run(base_app):
    result = base_app.test_cli_runner().invoke(args=["scheduler", "jobs"])
    assert result.exit_code == 0
    line = next(line for line in result.output.splitlines() if line.startswith("notify.deliver"))
    assert "next 20" in line and "interval[0:00:10]" in line


def test_run_once_runs_a_job_now(tmp_path, new_app):
    url = f"sqlite:///{tmp_path / 'once.db'}"
    reset_schema(url)
    app = new_app(url, PORTAL_SMS_LOG=str(tmp_path / "sms.log"))
    with app.app_context(), db.transaction() as session:
        notify.enqueue(
            session,
            key="once:1",
            to=Recipient.by_phone("13900000001"),
            template="account.password_changed",
            context={"when": "now"},
        )
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "notify.deliver"])
    assert result.exit_code == 0, result.output
    assert "sent=1" in result.output
    with Session(app.extensions["portal_db"].engine) as s:
        assert s.exec(select(OutboxMessage)).one().status == "sent"


def test_run_once_unknown_job_names_the_known_ones(base_app):
    result = base_app.test_cli_runner().invoke(args=["scheduler", "run-once", "no.such.job"])
    assert result.exit_code != 0
    assert "notify.deliver" in result.output


def test_each_job_run_is_logged_with_duration_and_outcome(base_app):
    spec = load_jobs()["notify.deliver"]  # loaded here: no other test has to have done it
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from portal.logs import JsonFormatter

    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portal.scheduler")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        run_job(base_app, replace(spec, func=lambda: "fine"))
        with pytest.raises(ZeroDivisionError):
            run_job(base_app, replace(spec, func=lambda: 1 / 0))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["outcome"] for line in lines] == ["ok", "error"]
    assert all("ms" in line and line["job"] == "notify.deliver" for line in lines)


def test_leader_lock_is_held_refreshed_and_taken_over_when_stale(tmp_path, new_app):
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    reset_schema(url)
    app = new_app(url)
    t0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    with app.app_context():
        first = LeaderLock(db, owner="a", stale_after=timedelta(seconds=45))
        second = LeaderLock(db, owner="b", stale_after=timedelta(seconds=45))
        assert first.try_acquire(t0)
        assert not second.try_acquire(t0 + timedelta(seconds=1))
        assert first.heartbeat(t0 + timedelta(seconds=40))
        assert not second.try_acquire(t0 + timedelta(seconds=80))
        # The first stops beating: the second takes over once the heartbeat is 45 s old.
        assert second.try_acquire(t0 + timedelta(seconds=86))
        assert not first.heartbeat(t0 + timedelta(seconds=87))
        second.release()
        assert first.try_acquire(t0 + timedelta(seconds=88))


def _lock_owner(url: str) -> str | None:
    from portal.db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as s:
            row = s.get(SchedulerLock, "scheduler")
            return row.owner if row else None
    finally:
        engine.dispose()


def _start_scheduler(url: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "x" * 40,
        "PORTAL_SCHEDULER_HEARTBEAT_SECONDS": "1",
        "PORTAL_SCHEDULER_STALE_SECONDS": "3",
        "PORTAL_SMS_LOG": str(log_path.with_suffix(".sms")),
    }
    with log_path.open("w") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _wait_for(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_a_second_scheduler_waits_and_takes_over_when_the_first_dies(scratch_database, tmp_path):
    reset_schema(scratch_database)
    first = _start_scheduler(scratch_database, tmp_path / "first.log")
    second = None
    try:
        _wait_for(
            lambda: (_lock_owner(scratch_database) or "").split(":")[1:2] == [str(first.pid)], 30
        )
        second = _start_scheduler(scratch_database, tmp_path / "second.log")
        time.sleep(3)
        assert f":{first.pid}:" in _lock_owner(scratch_database)  # the second only waits
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        took = _wait_for(lambda: f":{second.pid}:" in (_lock_owner(scratch_database) or ""), 60)
        assert took < 60
        # SIGTERM stops it cleanly: exit code 0 and the lock released.
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert _lock_owner(scratch_database) is None
        log = (tmp_path / "second.log").read_text()
        assert "scheduler active" in log and "scheduler stopped" in log
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
