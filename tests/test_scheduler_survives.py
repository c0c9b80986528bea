"""The scheduler survives database trouble: a long write lock, an unreadable database, failing jobs.

The loop and the jobs run for real (threads, a real SQLite file, a second connection holding the
write lock); the tests wait on what the scheduler logs and on what its jobs do, never on the
clock. The lease rules (jobs stop before another process may take over) run on a fake clock.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from portal import db as portal_db
from portal.core.models import SchedulerLock
from portal.extensions import db
from portal.logs import JsonFormatter
from portal.scheduler import Backoff, JobSpec, LeaderLock, SchedulerProcess
from tests.conftest import reset_schema

WAIT = 60  # seconds: a deadline for a condition, never a measured duration


class Records(logging.Handler):
    """The scheduler's log records, with a way to wait until some condition holds."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def mark(self) -> int:
        """Where the log is now: `fields(..., since=mark)` reads only what comes after."""
        with self.changed:
            return len(self.records)

    def fields(self, message: str, since: int = 0) -> list[dict]:
        with self.changed:
            return [
                getattr(r, "fields", {}) for r in self.records[since:] if r.getMessage() == message
            ]

    def wait_for(
        self, predicate: Callable[[], bool], what: str, loop: threading.Thread | None = None
    ) -> None:
        """Wait until `predicate()` holds; give up at once if the scheduler's loop has ended."""
        with self.changed:
            for _ in range(WAIT * 10):
                if predicate():
                    return
                if loop is not None and not loop.is_alive():
                    raise AssertionError(f"the scheduler ended before: {what}")
                self.changed.wait(0.1)
        raise AssertionError(f"the scheduler never got to: {what}")


@pytest.fixture()
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("portal.scheduler")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@pytest.fixture()
def database_file(tmp_path, monkeypatch) -> Path:
    """A SQLite file in a folder of its own, with a busy timeout of 0.25 s instead of 15 s."""
    monkeypatch.setattr(portal_db, "SQLITE_BUSY_TIMEOUT_MS", 250)
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "portal.db"
    reset_schema(f"sqlite:///{path}")
    return path


class Writes:
    """A job writing to the database each time it runs, counting its successful runs."""

    def __init__(self):
        self.done = 0
        self.changed = threading.Condition()

    def __call__(self) -> int:
        with db.transaction() as session:  # BEGIN IMMEDIATE: needs the write lock
            session.execute(text("SELECT count(*) FROM scheduler_lock"))
        with self.changed:
            self.done += 1
            self.changed.notify_all()
        return self.done

    def wait_beyond(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.done > count, timeout=WAIT), (
                "the job did not run again"
            )


def spec_for(func, name: str = "test.writes", seconds: float = 0.05) -> JobSpec:
    return JobSpec(
        name=name,
        func=func,
        trigger=IntervalTrigger(seconds=seconds),
        description="test job",
        misfire_grace_time=60,
    )


@pytest.fixture()
def running(new_app, database_file):
    """Start a real scheduler loop in a thread; stop it and check it stopped cleanly."""
    started: list[tuple[SchedulerProcess, threading.Thread]] = []

    def start(job) -> tuple[SchedulerProcess, threading.Thread]:
        app = new_app(f"sqlite:///{database_file}")
        process = SchedulerProcess(
            app,
            heartbeat_seconds=0.05,
            stale_seconds=30,
            backoff=Backoff(first=0.05, cap=0.2),
            jobs={"test.writes": spec_for(job)},
        )

        def loop():
            with app.app_context():
                process.run()

        # The thread ends only if the loop ends: on request, or by an error (the old failure).
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        started.append((process, thread))
        return process, thread

    yield start
    for process, thread in started:
        process.request_stop()
        thread.join(WAIT)
        assert not thread.is_alive(), "the scheduler did not stop on request"


def test_a_write_lock_held_past_the_busy_timeout_delays_the_scheduler_but_never_ends_it(
    running, records, database_file
):
    job = Writes()
    process, thread = running(job)
    job.wait_beyond(0)
    blocker = sqlite3.connect(database_file, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, held far past 0.25 s
        locked = records.mark()
        records.wait_for(
            lambda: (
                len(records.fields("scheduler cannot reach the database; retrying", locked)) >= 5
                and records.fields("job failed; retrying later", locked)
            ),
            "five failed heartbeats and a failed job",
            thread,
        )
        assert thread.is_alive()
        done_while_locked = job.done
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    released = records.mark()
    records.wait_for(
        lambda: (
            records.fields("scheduler reached the database again", released)
            and records.fields("job recovered", released)
        ),
        "recovery",
        thread,
    )
    job.wait_beyond(done_while_locked)
    assert thread.is_alive()

    failures = records.fields("scheduler cannot reach the database; retrying", locked)
    # One line per failure, numbered, waiting longer each time up to the cap.
    assert [f["attempt"] for f in failures] == list(range(1, len(failures) + 1))
    assert [f["retry_in_s"] for f in failures[:4]] == [0.05, 0.1, 0.2, 0.2]
    assert all(f["phase"] == "heartbeat" and f["transient"] for f in failures)
    assert all(f["error"] == "OperationalError: database is locked" for f in failures)
    job_failures = records.fields("job failed; retrying later", locked)
    assert job_failures[0]["job"] == "test.writes" and job_failures[0]["attempt"] == 1
    assert job_failures[0]["error"] == "OperationalError: database is locked"
    # The jobs kept running all along: the lock was never taken over or given up.
    assert process.scheduler is not None
    assert not records.fields("scheduler cannot confirm the lock; jobs stopped until it can")


def test_an_unreadable_database_file_delays_the_scheduler_but_never_ends_it(
    running, records, database_file
):
    job = Writes()
    process, thread = running(job)
    job.wait_beyond(0)
    folder = database_file.parent
    away = folder.with_name("data-away")
    # The folder is renamed rather than made chmod 000, which root could still read: the
    # database, its WAL and shared-memory files disappear at once and nothing can reopen them.
    gone = records.mark()
    folder.rename(away)

    def unreadable() -> list[dict]:
        return [
            f
            for f in records.fields("scheduler cannot reach the database; retrying", gone)
            if f["error"] == "OperationalError: unable to open database file"
        ]

    try:
        # Open connections would go on using the moved file: the next ones open the path.
        process.app.extensions["portal_db"].engine.dispose()
        records.wait_for(lambda: len(unreadable()) >= 3, "three failed heartbeats", thread)
        assert thread.is_alive()
        done_while_gone = job.done
    finally:
        away.rename(folder)
    back = records.mark()
    records.wait_for(
        lambda: records.fields("scheduler reached the database again", back),
        "the database again",
        thread,
    )
    job.wait_beyond(done_while_gone)
    assert thread.is_alive()
    attempts = [f["attempt"] for f in unreadable()]
    assert attempts == sorted(set(attempts))  # one line per failure, each numbered
    with Session(process.app.extensions["portal_db"].engine) as session:
        assert session.get(SchedulerLock, "scheduler").owner == process.lock.owner


def test_stopping_releases_the_lock(running, records, database_file):
    job = Writes()
    process, thread = running(job)
    job.wait_beyond(0)
    process.request_stop()
    records.wait_for(lambda: records.fields("scheduler stopped"), "the stop")
    with sqlite3.connect(database_file) as check:
        assert check.execute("SELECT count(*) FROM scheduler_lock").fetchone() == (0,)


# The lease: jobs stop before another process may take the lock over ------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _database_down(*_args, **_kwargs):
    raise OperationalError("UPDATE scheduler_lock ...", {}, sqlite3.OperationalError("disk I/O"))


@pytest.fixture()
def committed(new_app, database_file):
    app = new_app(f"sqlite:///{database_file}")
    with app.app_context():
        yield app


class Counts:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def _process(app, clock, jobs, **kwargs) -> SchedulerProcess:
    process = SchedulerProcess(
        app,
        heartbeat_seconds=10,
        stale_seconds=45,
        jobs={spec.name: spec for spec in jobs},
        clock=clock,
        **kwargs,
    )
    return process


def test_jobs_stop_when_the_lock_cannot_be_confirmed_before_another_process_may_take_it(
    committed, records
):
    clock = FakeClock()
    counts = Counts()
    spec = spec_for(counts, name="test.counts", seconds=3600)
    process = _process(committed, clock, [spec], backoff=Backoff(first=30, cap=60))
    try:
        assert process.step() == 10 and process.scheduler is not None
        assert process.lease_seconds == 35  # one heartbeat before the 45 s stale period
        process.lock.heartbeat = process.lock.try_acquire = _database_down

        clock.advance(10)
        # The backoff says 30 s, but the lease ends in 25 s: it wakes up then to stop the jobs.
        assert process.step() == 25
        assert process.scheduler is not None
        process.run_scheduled(spec)
        assert counts.calls == 1  # still confirmed: the job runs

        clock.advance(25)
        process.run_scheduled(spec)
        assert counts.calls == 1  # 35 s without a heartbeat: no job starts
        process.step()
        assert process.scheduler is None  # and the jobs are stopped
        assert records.fields("scheduler cannot confirm the lock; jobs stopped until it can")
    finally:
        process._stop_jobs()

    # Another process may take over only once the last heartbeat is 45 s old, after the stop.
    with Session(committed.extensions["portal_db"].engine) as session:
        heartbeat_at = session.get(SchedulerLock, "scheduler").heartbeat_at
    other = LeaderLock(db, owner="other", stale_after=timedelta(seconds=45))
    assert not other.try_acquire(heartbeat_at + timedelta(seconds=44))
    assert other.try_acquire(heartbeat_at + timedelta(seconds=46))

    # The database is back, but the lock is someone else's now: the first one stands by.
    del process.lock.heartbeat, process.lock.try_acquire
    clock.advance(60)
    assert process.step() == 10 and process.scheduler is None
    process.run_scheduled(spec)
    assert counts.calls == 1


def test_a_failing_job_is_logged_and_retried_and_never_ends_the_scheduler(committed, records):
    clock = FakeClock()
    outcomes: list[BaseException | None] = []

    def flaky():
        error = outcomes.pop(0)
        if error is not None:
            raise error

    spec = spec_for(flaky, name="test.flaky", seconds=3600)
    # The retry is planned 600 s ahead in real time, so it never fires during the test.
    process = _process(committed, clock, [spec], backoff=Backoff(first=600, cap=1200))
    try:
        process.step()
        outcomes[:] = [ZeroDivisionError("a bug"), _database_error(), _database_error(), None]

        process.run_scheduled(spec)  # a bug: logged with its traceback, nothing planned
        (bug,) = records.fields("job failed")
        assert bug["outcome"] == "error"
        assert process.scheduler.get_job("test.flaky#retry") is None

        process.run_scheduled(spec)  # the database: logged, retried later
        retry = process.scheduler.get_job("test.flaky#retry")
        assert retry is not None and retry.kwargs == {"retry": True}

        clock.advance(599)
        assert process.step() == 10  # the heartbeats go on meanwhile
        process.run_scheduled(spec)  # a regular run while backing off is skipped
        assert len(outcomes) == 2

        process.run_scheduled(spec, retry=True)  # the retry runs, fails again, waits longer
        process.run_scheduled(spec, retry=True)  # and then succeeds
        assert outcomes == []
        transient = records.fields("job failed; retrying later")
        assert [(f["attempt"], f["retry_in_s"]) for f in transient] == [(1, 600), (2, 1200)]
        assert all(f["outcome"] == "transient_error" for f in transient)
        assert records.fields("job recovered") == [{"job": "test.flaky", "failures": 2}]
        assert process.job_states["test.flaky"].failures == 0
    finally:
        process._stop_jobs()


def _database_error() -> OperationalError:
    return OperationalError(
        "INSERT INTO sms_log (phone) VALUES (?)",
        ("13900000001",),
        sqlite3.OperationalError("database is locked"),
    )


def test_a_failure_line_names_the_driver_error_never_the_sql_or_its_values(committed):
    clock = FakeClock()

    def fails():
        raise _database_error()

    stream = io.StringIO()
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portal.scheduler")
    logger.addHandler(stream_handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    spec = spec_for(fails, name="test.fails", seconds=3600)
    process = _process(committed, clock, [spec], backoff=Backoff(first=600, cap=600))
    try:
        process.step()
        process.run_scheduled(spec)
    finally:
        process._stop_jobs()
        logger.removeHandler(stream_handler)
        logger.setLevel(old)
    (line,) = [
        json.loads(raw)
        for raw in stream.getvalue().splitlines()
        if json.loads(raw)["msg"] == "job failed; retrying later"
    ]
    assert line["error"] == "OperationalError: database is locked"
    assert "13900000001" not in stream.getvalue() and "INSERT" not in stream.getvalue()


def test_backoff_doubles_from_one_second_up_to_a_minute():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff.delay(10_000) == 60


def test_a_job_failing_while_the_scheduler_stops_does_not_hold_the_stop(
    running, records, database_file
):
    """Stopping waits for running jobs; a job failing meanwhile must not wait for the stop."""
    entered, stopping = threading.Event(), threading.Event()

    def fails_during_the_stop():
        entered.set()
        assert stopping.wait(WAIT)
        raise _database_error()

    process, thread = running(fails_during_the_stop)
    assert entered.wait(WAIT)
    # APScheduler calls its executor's shutdown while holding the lock that planning a job
    # needs: the job fails exactly then.
    executor = process.scheduler._executors["default"]
    real_shutdown = executor.shutdown

    def shutdown(wait=True):
        stopping.set()
        real_shutdown(wait)

    executor.shutdown = shutdown
    process.request_stop()
    thread.join(WAIT)
    assert not thread.is_alive(), "the stop waited for a job that waited for the stop"
    assert records.fields("scheduler stopped")
    (failure,) = records.fields("job failed; retrying later")
    assert failure["error"] == "OperationalError: database is locked"
