"""The scheduler process: APScheduler 3.11 with one job registry and a database leader lock.

Run it with `flask scheduler run`, never inside a web worker. Each area declares its jobs in its
`jobs.py` with `@job(...)`; a job opens its own transaction(s) through `db.transaction()`.
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
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

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


def run_job(app: Flask, spec: JobSpec) -> object:
    """Run one job in an app context; log its duration and outcome."""
    started = time.perf_counter()
    with app.app_context():
        try:
            result = spec.func()
        except Exception:
            log.exception(
                "job failed",
                extra={
                    "fields": {
                        "job": spec.name,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
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
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "outcome": "ok",
                "result": str(result)[:200] if result is not None else None,
            }
        },
    )
    return result


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


class SchedulerProcess:
    """Wait for the leader lock, run the jobs while holding it, stop cleanly on SIGTERM."""

    def __init__(self, app: Flask, *, heartbeat_seconds: float, stale_seconds: float):
        from portal.extensions import db

        self.app = app
        # The main loop runs inside the CLI's app context; jobs push their own in run_job.
        self.lock = LeaderLock(db, stale_after=timedelta(seconds=stale_seconds))
        self.heartbeat_seconds = heartbeat_seconds
        self.stop_event = threading.Event()
        self.scheduler: BackgroundScheduler | None = None

    def _start_jobs(self) -> None:
        self.scheduler = BackgroundScheduler(timezone=SHANGHAI)
        for spec in load_jobs().values():
            self.scheduler.add_job(
                run_job,
                trigger=spec.trigger,
                args=[self.app, spec],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=spec.misfire_grace_time,
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
            )
        self.scheduler.start()
        log.info(
            "scheduler active",
            extra={"fields": {"owner": self.lock.owner, "jobs": sorted(REGISTRY)}},
        )

    def _stop_jobs(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        log.info("scheduler waiting for the lock", extra={"fields": {"owner": self.lock.owner}})
        try:
            while not self.stop_event.is_set():
                if self.scheduler is None:
                    if self.lock.try_acquire():
                        self._start_jobs()
                elif not self.lock.heartbeat():
                    log.warning(
                        "scheduler lost the lock; standing by",
                        extra={"fields": {"owner": self.lock.owner}},
                    )
                    self._stop_jobs()
                self.stop_event.wait(self.heartbeat_seconds)
        finally:
            self._stop_jobs()
            self.lock.release()
            log.info("scheduler stopped", extra={"fields": {"owner": self.lock.owner}})
