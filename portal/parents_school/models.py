"""The parents' school (家长学校): lectures, bookings and feedback.

A booking is confirmed while seats remain and waits in line otherwise. `Lecture.seats_taken` is
the sum of the confirmed bookings' seats; it only changes through a conditional UPDATE
(`seats_taken + n <= capacity`) inside the booking's transaction, so however many people book at
once, no more seats are confirmed than there are (security.md 22).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, String, text
from sqlmodel import Field, SQLModel

from portal.timeutil import UTCDateTime, utcnow

# Topics of the guidance lectures (domain.md).
TOPICS = (
    "skipped_generation",  # 隔代教育
    "habits",  # 习惯养成
    "safety",  # 安全教育（防溺水、防火、交通、防性侵）
    "mental_health",  # 心理健康
    "communication",  # 亲子沟通
    "adolescence",  # 青春期教育
    "nutrition",  # 营养保健
    "guardianship_law",  # 监护责任与法律
)
RELATIONS = ("father", "mother", "grandparent", "maternal_grandparent", "entrusted")


class LectureStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class LectureBase(SQLModel):
    """What an organiser writes."""

    title: str = Field(min_length=2, max_length=80)
    topic: str = Field(max_length=30)
    speaker: str = Field(min_length=2, max_length=40)
    speaker_bio: str | None = Field(default=None, max_length=300)
    township_code: str = Field(foreign_key="township.code", max_length=9, index=True)
    venue: str = Field(min_length=2, max_length=80)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    capacity: int = Field(ge=1, le=500)
    audience: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class Lecture(LectureBase, table=True):
    __tablename__ = "lecture"

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(max_length=20, index=True)  # the organiser's office (auth.models.Office)
    status: LectureStatus = Field(default=LectureStatus.SCHEDULED, sa_type=String(12))
    seats_taken: int = Field(default=0, ge=0)
    # Lectures repeated in one step share the first one's id.
    series_id: int | None = Field(default=None)
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, max_length=200)
    walk_ins: int = Field(default=0, ge=0)  # people who came without a booking
    feedback_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


_LIVE_SQL = "status IN ('confirmed', 'waitlisted')"


class BookingBase(SQLModel):
    name: str = Field(min_length=2, max_length=20)
    mobile: str = Field(min_length=11, max_length=11)
    relation: str = Field(max_length=20)
    township_code: str = Field(foreign_key="township.code", max_length=9)
    village: str = Field(min_length=1, max_length=30)
    seats: int = Field(ge=1, le=3)
    # A child director or relative booking on a guardian's behalf.
    for_someone_else: bool = False
    booked_by: str | None = Field(default=None, max_length=20)


class Booking(BookingBase, table=True):
    __tablename__ = "lecture_booking"
    __table_args__ = (
        # One live booking per mobile and lecture: booking again shows the existing one.
        Index(
            "uq_booking_live_mobile",
            "lecture_id",
            "mobile",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
        Index("ix_booking_queue", "lecture_id", "status", "queued_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lecture_id: int = Field(foreign_key="lecture.id", index=True)
    code: str = Field(max_length=8, unique=True)
    status: BookingStatus = Field(sa_type=String(12))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Order on the waiting list (the time the booking joined it).
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    promoted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attended: int = Field(default=0, ge=0)  # seats checked in
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Feedback(SQLModel, table=True):
    """What an attendee thought of a lecture (one per booking)."""

    __tablename__ = "lecture_feedback"

    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="lecture_booking.id", unique=True)
    lecture_id: int = Field(foreign_key="lecture.id", index=True)
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)
    topics_wanted: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
