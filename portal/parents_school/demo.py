"""The parents' school's demo set: a few clearly labelled lectures of the Women's Federation.

Every lecture is titled 演示·…, organised by the demo account 演示·妇联讲座组织 (19900000007,
office 妇联), and every booking is made by a guardian named 演示·… with a mobile 199000003xx
that belongs to nobody. The set is built through the area's own rules (the organiser's form
checks, the booking core with its seats and waiting list, check-in, walk-ins, feedback), so it
is audited like real work; it is for trying the portal only.

- Three lectures in the coming weeks: one in 西屏街道 with a few bookings (one made for an
  elderly guardian by someone else), one in 古市镇 with one booking, and a small one in 西屏街道
  that is full, with one guardian on the waiting list.
- One lecture ten days ago in 西屏街道: four bookings, three checked in (a no-show among
  them), three walk-ins and two opinions. The text messages its bookings would have queued
  back then (confirmations, reminders, feedback links) are withdrawn, so loading the demo
  texts nobody about the past and the hourly feedback job finds its links already queued.

It needs the demo organiser account (added first by `flask portal demo`) and the area's tables;
without either, it says so and adds nothing. Loading twice adds nothing: a lecture whose title is there already is kept as
it is, with its bookings.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import inspect
from sqlmodel import Session, select

from portal import notify
from portal.auth.models import Role, User
from portal.parents_school import booking, services
from portal.parents_school.models import Booking, Lecture
from portal.timeutil import china_today, utcnow

ORGANISER = "19900000007"  # 演示·妇联讲座组织, office womens_federation
OFFICE = "womens_federation"
XIPING = "331124001"
GUSHI = "331124101"
VILLAGE = "演示村"
PAST_DAYS = 10

# (title, topic, township, venue, days from today, start, end, capacity, speaker, audience)
LECTURES = (
    (
        "演示·隔代教育：祖辈怎样陪孩子写作业",
        "skipped_generation",
        XIPING,
        "演示村文化礼堂",
        7,
        time(14, 30),
        time(16, 0),
        40,
        "演示·吴老师",
        "祖父母、外祖父母",
    ),
    (
        "演示·暑期防溺水安全教育",
        "safety",
        GUSHI,
        "演示村村委会会议室",
        14,
        time(9, 30),
        time(11, 0),
        30,
        "演示·郑教官",
        "家长和受委托监护人",
    ),
    (
        "演示·和在外务工的父母好好说话",
        "communication",
        XIPING,
        "演示村儿童之家",
        21,
        time(19, 0),
        time(20, 30),
        5,
        "演示·冯老师",
        "父母和受委托监护人",
    ),
)
PAST = (
    "演示·留守儿童心理健康讲座",
    "mental_health",
    XIPING,
    "演示村文化礼堂",
    -PAST_DAYS,
    time(14, 30),
    time(16, 0),
    30,
    "演示·蒋医生",
    "家长和受委托监护人",
)
# Bookings per lecture title: (mobile, name, relation, seats, booked_by)
BOOKINGS = {
    LECTURES[0][0]: (
        ("19900000301", "演示·张奶奶", "grandparent", 2, None),
        ("19900000302", "演示·李爸爸", "father", 1, None),
        ("19900000303", "演示·王外婆", "maternal_grandparent", 1, "演示·村妇联主席"),
    ),
    LECTURES[1][0]: (("19900000304", "演示·陈妈妈", "mother", 1, None),),
    LECTURES[2][0]: (
        ("19900000305", "演示·赵爷爷", "grandparent", 3, None),
        ("19900000306", "演示·钱妈妈", "mother", 2, None),
        ("19900000307", "演示·孙奶奶", "grandparent", 1, None),  # the lecture is full: waits
    ),
    PAST[0]: (
        ("19900000311", "演示·周奶奶", "grandparent", 2, None),
        ("19900000312", "演示·吴爸爸", "father", 1, None),
        ("19900000313", "演示·郑外公", "maternal_grandparent", 1, None),
        ("19900000314", "演示·冯姑姑", "entrusted", 1, None),  # did not come
    ),
}
# The past lecture: seats that came per mobile, walk-ins, and opinions per mobile.
ATTENDED = {"19900000311": 2, "19900000312": 1, "19900000313": 1}
WALK_INS = 3
FEEDBACK = {
    "19900000311": (5, "演示：讲得很实在，知道怎么和孙子聊心事了。", ["adolescence"]),
    "19900000312": (4, "演示：希望下次安排在周末晚上。", ["communication", "safety"]),
}


def _organiser(session: Session) -> User | None:
    return session.exec(
        select(User).where(
            User.phone == ORGANISER,
            User.role == Role.LECTURE_ORGANISER,
            User.is_demo.is_(True),
            User.is_active.is_(True),
        )
    ).first()


def _form(spec: tuple, day: date) -> dict:
    title, topic, township, venue, _days, start, end, capacity, speaker, audience = spec
    return {
        "title": title,
        "topic": topic,
        "speaker": speaker,
        "speaker_bio": "演示数据：不是真实的主讲人。",
        "township_code": township,
        "venue": venue,
        "day": day,
        "start_time": start,
        "end_time": end,
        "capacity": str(capacity),
        "audience": audience,
        "description": "演示数据：用于试用家长学校的讲座安排、预约、候补和签到，不是真实的讲座。",
    }


def _book(session: Session, lecture: Lecture, spec: tuple, township: str, now: datetime):
    mobile, name, relation, seats, booked_by = spec
    return booking.book(
        session,
        lecture.id,
        {
            "name": name,
            "mobile": mobile,
            "relation": relation,
            "township_code": township,
            "village": VILLAGE,
            "seats": seats,
            "for_someone_else": booked_by is not None,
            "booked_by": booked_by,
        },
        now=now,
    ).booking


def _exists(session: Session, title: str) -> bool:
    found = session.exec(
        select(Lecture.id).where(Lecture.title == title, Lecture.office == OFFICE)
    ).first()
    return found is not None


def _describe(session: Session, lecture: Lecture) -> str:
    waiting = booking.waiting_count(session, lecture.id)
    text = (
        f"lecture #{lecture.id} {lecture.title} ({booking.when_text(lecture)}): "
        f"{lecture.seats_taken} of {lecture.capacity} seats booked"
    )
    return text + (f", {waiting} waiting" if waiting else "")


def _coming(session: Session, organiser: User, today: date, now: datetime) -> list[str]:
    added = []
    for spec in LECTURES:
        if _exists(session, spec[0]):
            continue
        lecture = services.create(session, organiser, _form(spec, today + timedelta(days=spec[4])))
        for guardian in BOOKINGS[spec[0]]:
            _book(session, lecture, guardian, spec[2], now)
        session.refresh(lecture)
        added.append(_describe(session, lecture))
    return added


def _feedback_link(session: Session, lecture: Lecture, row: Booking) -> None:
    """The message `services.send_feedback_requests` queues, under its key, so the hourly job
    counts the link as sent (it is withdrawn with the booking's other past messages)."""
    link = f"{current_app.config['PORTAL_BASE_URL']}/lectures/feedback/"
    link += services.feedback_token(row.id)
    notify.enqueue(
        session,
        key=f"booking:{row.id}:feedback",
        to=notify.Recipient.by_phone(row.mobile),
        template="lectures.feedback",
        context={"title": lecture.title, "link": link},
        link=link,
    )


def _past(session: Session, organiser: User, today: date) -> list[str]:
    """The lecture ten days ago, written as it happened: created two weeks before it, booked,
    checked in and given opinions at the times they would have been."""
    if _exists(session, PAST[0]):
        return []
    day = today + timedelta(days=PAST[4])
    created = services.china_time(day - timedelta(days=14), time(9, 0))
    lecture = services.create(session, organiser, _form(PAST, day), now=created)
    rows: dict[str, Booking] = {}
    for n, guardian in enumerate(BOOKINGS[PAST[0]]):
        rows[guardian[0]] = _book(
            session, lecture, guardian, PAST[2], created + timedelta(days=1, hours=n)
        )
    during = lecture.starts_at + timedelta(minutes=10)
    for mobile, seats in ATTENDED.items():
        services.set_attended(session, organiser, lecture, rows[mobile].id, seats, now=during)
    services.set_walk_ins(session, organiser, lecture, WALK_INS, now=during)
    after = lecture.ends_at + timedelta(hours=3)
    for mobile, (rating, comment, topics) in FEEDBACK.items():
        services.give_feedback(
            session, rows[mobile], rating=rating, comment=comment, topics=topics, now=after
        )
    for mobile in ATTENDED:  # the links those opinions came through, as the hourly job queues
        _feedback_link(session, lecture, rows[mobile])
    lecture.feedback_sent_at = lecture.ends_at + services.FEEDBACK_AFTER
    session.add(lecture)
    for row in rows.values():  # withdrawn: nothing about the past is texted now
        notify.cancel(session, key_prefix=f"booking:{row.id}:")
    session.flush()
    session.refresh(lecture)
    came = sum(ATTENDED.values()) + WALK_INS
    return [
        f"lecture #{lecture.id} {lecture.title} ({booking.when_text(lecture)}): "
        f"{len(rows)} bookings, {came} people came ({WALK_INS} without booking), "
        f"{len(FEEDBACK)} opinions"
    ]


def load(session: Session) -> list[str]:
    if not inspect(session.connection()).has_table(Lecture.__tablename__):
        return ["nothing added: the lecture tables are missing (run `flask portal init`)"]
    organiser = _organiser(session)
    if organiser is None:
        return [f"skipped: no demo lecture organiser {ORGANISER} (run `flask portal demo`)"]
    today = china_today()
    now = utcnow()
    return _coming(session, organiser, today, now) + _past(session, organiser, today)
