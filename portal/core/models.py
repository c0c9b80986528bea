"""Kernel tables: the scheduler's leader lock and each area's public content version."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow


class SchedulerLock(SQLModel, table=True):
    """Leader lock with a heartbeat: exactly one scheduler process runs the jobs."""

    __tablename__ = "scheduler_lock"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=64)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    acquired_at: datetime = Field(sa_type=UTCDateTime)


class ContentVersion(SQLModel, table=True):
    """What one area shows the public, as a number its services bump on every change.

    Cached public pages are keyed on the versions of the areas they depend on, so a change in
    one area drops only that area's pages.
    """

    __tablename__ = "content_version"

    area: str = Field(primary_key=True, max_length=40)
    version: int = Field(default=1)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
