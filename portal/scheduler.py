"""The scheduler process: APScheduler 3.11 with one job registry and a database leader lock.

Run it with `flask scheduler run`, never inside a web worker. Each area declares its jobs in its
`jobs.py` with `@job(...)`; a job opens its own transaction(s) through `db.transaction()`.
The process ends only on SIGTERM or SIGINT: database errors make it wait and try again, with
the jobs stopped whenever it cannot confirm that it still holds the lock (docs/deploy/ has the
systemd units that start it and restart it).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from portal.core.models import SchedulerLock
from portal.timeutil import SHANGHAI, utcnow

log = logging.getLogger("portal.scheduler")
LOCK_NAME = "scheduler"
# The kernel's own jobs; each area's jobs module comes from its declaration (core.registry).
KERNEL_JOB_MODULES = ("portal.notify.jobs", "portal.search.jobs")


@dataclass
class JobSpec:
    name: str
    func: Callable[[], object]
    trigger: BaseTrigger
    description: str
    # A missed run is dropped if it is this late; runs that piled up are coalesced into one.
    misfire_grace_time: int = 60
    coalesce: bool = True
    max_instances: int = 1
    options: dict = field(default_factory=dict)


REGISTRY: dict[str, JobSpec] = {}


def job(
    name: str,
    *,
    seconds: int | None = None,
    cron: str | None = None,
    misfire_grace_time: int = 60,
    coalesce: bool = True,
) -> Callable:
    """Register a scheduled job: every N seconds, or on a cron line (Asia/Shanghai)."""
    if (seconds is None) == (cron is None):
        raise ValueError("give exactly one of seconds= or cron=")
    trigger = (
        IntervalTrigger(seconds=seconds, timezone=SHANGHAI)
        if seconds
        else CronTrigger.from_crontab(cron, timezone=SHANGHAI)
    )

    def decorator(func: Callable) -> Callable:
        REGISTRY[name] = JobSpec(
            name=name,
            func=func,
            trigger=trigger,
            description=(func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "",
            misfire_grace_time=misfire_grace_time,
            coalesce=coalesce,
        )
        return func

    return decorator


def job_modules() -> list[str]:
    from portal.core import registry

    return [*KERNEL_JOB_MODULES, *registry.job_modules()]


def load_jobs() -> dict[str, JobSpec]:
    """Import the kernel's and every area's jobs module so their jobs register.

    A module that does not exist is an error, never skipped: a misspelt name must stop the
    scheduler at start rather than leave its reminders unsent.
    """
    for module in job_modules():
        importlib.import_module(module)
    return dict(REGISTRY)


def run_job(app: Flask, spec: JobSpec, *, log_errors: bool = True) -> object:
    """Run one job in an app context; log its duration and outcome, and re-raise a failure.

    The scheduler process passes `log_errors=False` and writes its own line for a failure, with
    what it does next (see `SchedulerProcess.run_scheduled`).
    """
    started = time.perf_counter()
    with app.app_context():
        try:
            result = spec.func()
        except Exception:
            if log_errors:
                log.exception(
                    "job failed",
                    extra={
                        "fields": {
                            "job": spec.name,
                            "ms": _ms_since(started),
                            "outcome": "error",
                        }
                    },
                )
            raise
    log.info(
        "job finished",
        extra={
            "fields": {
                "job": spec.name,
                "ms": _ms_since(started),
                "outcome": "ok",
                "result": str(result)[:200] if result is not None else None,
            }
        },
    )
    return result


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def next_run_time(spec: JobSpec, now: datetime | None = None) -> datetime | None:
    now = (now or utcnow()).astimezone(SHANGHAI)
    return spec.trigger.get_next_fire_time(None, now)


# Leader lock ------------------------------------------------------------------------------


class LeaderLock:
    """A row in scheduler_lock: held while its owner's heartbeat is fresh."""

    def __init__(self, database, *, owner: str | None = None, stale_after: timedelta):
        self.database = database
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stale_after = stale_after

    def try_acquire(self, now: datetime | None = None) -> bool:
        """Take the lock if it is free, stale or already ours; refresh the heartbeat."""
        now = now or utcnow()
        table = SchedulerLock.__table__
        with self.database.transaction() as session:
            result = session.execute(
                update(table)
                .where(
                    table.c.name == LOCK_NAME,
                    or_(table.c.owner == self.owner, table.c.heartbeat_at < now - self.stale_after),
                )
                .values(owner=self.owner, heartbeat_at=now)
            )
            if result.rowcount:
                return True
        try:
            with self.database.transaction() as session:
                session.execute(
                    insert(table).values(
                        name=LOCK_NAME, owner=self.owner, heartbeat_at=now, acquired_at=now
                    )
                )
            return True
        except IntegrityError:
            return False

    def heartbeat(self, now: datetime | None = None) -> bool:
        """Refresh the lock; False when another process has taken it over."""
        table = SchedulerLock.__table__
        with self.database.transaction() as session:
            result = session.execute(
                update(table)
                .where(table.c.name == LOCK_NAME, table.c.owner == self.owner)
                .values(heartbeat_at=now or utcnow())
            )
            return bool(result.rowcount)

    def release(self) -> None:
        table = SchedulerLock.__table__
        with self.database.transaction() as session:
            session.execute(
                delete(table).where(table.c.name == LOCK_NAME, table.c.owner == self.owner)
            )


# Errors a database restart, a long write lock or a briefly unreadable database file cause: the
# loop and the jobs wait and try again instead of ending the process.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeoutError, OSError)


def describe(error: BaseException) -> str:
    """The error for a log line: the driver's own message, never the SQL statement.

    SQLAlchemy's text of an error carries the statement and its parameters, which can hold a
    phone number; the driver's message ("database is locked") says what went wrong.
    """
    inner = getattr(error, "orig", None) or error
    return f"{type(inner).__name__}: {inner}"[:200]


@dataclass(frozen=True)
class Backoff:
    """How long to wait after consecutive failures: first, 2 × first, 4 × first, … at most cap."""

    first: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        if failures < 1:
            return 0.0
        return min(self.cap, self.first * 2 ** min(failures - 1, 32))


@dataclass
class JobState:
    """One job's run of transient failures, and when it may run again."""

    failures: int = 0
    not_before: float = 0.0  # a clock() value: regular runs before it are skipped
    running: threading.Lock = field(default_factory=threading.Lock)


class SchedulerProcess:
    """Wait for the leader lock, run the jobs while holding it, stop cleanly on SIGTERM.

    Only a signal (SIGTERM, SIGINT) ends it. When the database is locked, restarting or
    unreadable, the loop logs one line, waits (1 s, 2 s, 4 s … at most 60 s) and tries again;
    a job that fails the same way is retried after the same kind of wait, and any other failure
    of a job is logged and the job runs again at its next time.

    Jobs run only while the lock is confirmed. Another process may take the lock over once our
    last heartbeat is `stale_seconds` old, so when no heartbeat could be written for
    `lease_seconds` (one heartbeat less than that) the jobs are stopped, and no job starts,
    until the lock is confirmed again: two schedulers never run jobs at once.
    """

    def __init__(
        self,
        app: Flask,
        *,
        heartbeat_seconds: float,
        stale_seconds: float,
        backoff: Backoff | None = None,
        jobs: dict[str, JobSpec] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        from portal.extensions import db

        self.app = app
        # The main loop runs inside the CLI's app context; jobs push their own in run_job.
        self.lock = LeaderLock(db, stale_after=timedelta(seconds=stale_seconds))
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = max(stale_seconds - heartbeat_seconds, stale_seconds / 2)
        self.backoff = backoff or Backoff()
        self.clock = clock
        # Loaded before the first turn: a misspelt jobs module stops the process at start.
        self.jobs = dict(jobs) if jobs is not None else load_jobs()
        self.job_states = {name: JobState() for name in self.jobs}
        self.stop_event = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        # Job threads plan retries only while this is open; closing it comes before a shutdown
        # that waits for them (which holds APScheduler's lock that add_job needs).
        self._retries_lock = threading.Lock()
        self._retries_open = False
        self.confirmed_at: float | None = None  # clock() when the lock was last confirmed
        self.failures = 0  # consecutive turns that could not reach the database

    # The lock ---------------------------------------------------------------------------

    def lock_confirmed(self) -> bool:
        """Whether the lock was confirmed recently enough for jobs to run."""
        confirmed_at = self.confirmed_at
        return confirmed_at is not None and self.clock() - confirmed_at < self.lease_seconds

    def step(self) -> float:
        """One turn of the loop: take or refresh the lock; return the seconds until the next."""
        if self.scheduler is not None and not self.lock_confirmed():
            log.warning(
                "scheduler cannot confirm the lock; jobs stopped until it can",
                extra={"fields": {"owner": self.lock.owner, "lease_s": self.lease_seconds}},
            )
            self._stop_jobs()
        attempt_at = self.clock()
        try:
            if self.scheduler is None:
                if self.lock.try_acquire():
                    self.confirmed_at = attempt_at
                    self._start_jobs()
            elif self.lock.heartbeat():
                self.confirmed_at = attempt_at
            else:
                log.warning(
                    "scheduler lost the lock; standing by",
                    extra={"fields": {"owner": self.lock.owner}},
                )
                self.confirmed_at = None
                self._stop_jobs()
        except Exception as error:  # noqa: BLE001 - nothing but a signal ends the process
            return self._loop_failed(error)
        if self.failures:
            log.info(
                "scheduler reached the database again",
                extra={"fields": {"owner": self.lock.owner, "failures": self.failures}},
            )
            self.failures = 0
        return self.heartbeat_seconds

    def _loop_failed(self, error: Exception) -> float:
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        transient = isinstance(error, TRANSIENT_ERRORS)
        fields = {
            "owner": self.lock.owner,
            "phase": "acquire" if self.scheduler is None else "heartbeat",
            "error": describe(error),
            "transient": transient,
            "attempt": self.failures,
            "retry_in_s": delay,
            "jobs_running": self.scheduler is not None,
        }
        if transient:
            log.warning("scheduler cannot reach the database; retrying", extra={"fields": fields})
        else:
            log.error("scheduler loop failed; retrying", exc_info=True, extra={"fields": fields})
        if self.scheduler is not None and self.confirmed_at is not None:
            # Wake up in time to stop the jobs when the lease ends.
            remaining = self.confirmed_at + self.lease_seconds - self.clock()
            delay = min(delay, max(remaining, 0.0))
        return delay

    # The jobs ---------------------------------------------------------------------------

    def _start_jobs(self) -> None:
        self.scheduler = BackgroundScheduler(timezone=SHANGHAI)
        with self._retries_lock:
            self._retries_open = True
        for spec in self.jobs.values():
            self.scheduler.add_job(
                self.run_scheduled,
                trigger=spec.trigger,
                args=[spec],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=spec.misfire_grace_time,
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
            )
            state = self.job_states[spec.name]
            if state.failures:  # a retry planned before the jobs were stopped
                self._schedule_retry(spec, max(state.not_before - self.clock(), 0.0))
        self.scheduler.start()
        log.info(
            "scheduler active",
            extra={"fields": {"owner": self.lock.owner, "jobs": sorted(self.jobs)}},
        )

    def _stop_jobs(self) -> None:
        if self.scheduler is not None:
            with self._retries_lock:
                self._retries_open = False
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def _schedule_retry(self, spec: JobSpec, delay: float) -> None:
        """Run the job again in `delay` seconds, unless the jobs are stopping.

        A retry that has not run when the jobs stop is planned again when they start.
        """
        with self._retries_lock:
            scheduler = self.scheduler
            if not self._retries_open or scheduler is None:
                return
            scheduler.add_job(
                self.run_scheduled,
                trigger=DateTrigger(run_date=utcnow() + timedelta(seconds=delay)),
                args=[spec],
                kwargs={"retry": True},
                id=f"{spec.name}#retry",
                name=f"{spec.name} (retry)",
                misfire_grace_time=spec.misfire_grace_time,
                replace_existing=True,
            )

    def run_scheduled(self, spec: JobSpec, *, retry: bool = False) -> None:
        """Run a job for the scheduler: never raises; a transient failure is retried later."""
        state = self.job_states[spec.name]
        if not self.lock_confirmed():
            log.debug("job skipped: lock not confirmed", extra={"fields": {"job": spec.name}})
            return
        if not retry and self.clock() < state.not_before:
            return  # backing off; the retry is planned
        if not state.running.acquire(blocking=False):
            return  # the regular run and a retry never overlap
        started = time.perf_counter()
        try:
            run_job(self.app, spec, log_errors=False)
        except TRANSIENT_ERRORS as error:
            state.failures += 1
            delay = self.backoff.delay(state.failures)
            state.not_before = self.clock() + delay
            self._schedule_retry(spec, delay)
            log.warning(
                "job failed; retrying later",
                extra={
                    "fields": {
                        "job": spec.name,
                        "ms": _ms_since(started),
                        "outcome": "transient_error",
                        "error": describe(error),
                        "attempt": state.failures,
                        "retry_in_s": delay,
                    }
                },
            )
        except Exception:  # noqa: BLE001 - a job's failure never ends the scheduler
            log.exception(
                "job failed",
                extra={"fields": {"job": spec.name, "ms": _ms_since(started), "outcome": "error"}},
            )
        else:
            if state.failures:
                log.info(
                    "job recovered",
                    extra={"fields": {"job": spec.name, "failures": state.failures}},
                )
            state.failures = 0
            state.not_before = 0.0
        finally:
            state.running.release()

    # The process ------------------------------------------------------------------------

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Loop until a signal (or `request_stop`); release the lock on the way out."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        log.info("scheduler waiting for the lock", extra={"fields": {"owner": self.lock.owner}})
        try:
            while not self.stop_event.is_set():
                self.stop_event.wait(self.step())
        finally:
            self._stop_jobs()
            try:
                self.lock.release()
            except Exception as error:  # noqa: BLE001 - the lock goes stale and is taken over
                log.warning(
                    "scheduler could not release the lock; it will go stale",
                    extra={"fields": {"owner": self.lock.owner, "error": describe(error)}},
                )
            log.info("scheduler stopped", extra={"fields": {"owner": self.lock.owner}})
