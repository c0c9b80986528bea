"""The pairing area's demo set: a few clearly labelled children in 西屏街道 and one pairing.

Every child is named 演示·…, has a code ET… given by the area and a guardian phone 199000002xx
that belongs to nobody. The set is built through the area's own rules (registration, the
suggestion, the volunteer's answer, the guardian's consent, the visits), so it is audited like
real work; it is for trying the portal only, never for an instance with real children.

- 演示·小雨 (study): active pairing with the demo volunteer 演示·李书记 (19900000102), two
  visits: one confirmed (its hours credited once by `hours.credit_visit`), one waiting.
- 演示·小林 (emotional wellbeing, safety): a suggestion waiting for staff review, with the
  demo volunteer 演示·陈医生 (19900000103).
- 演示·小禾 (daily life, health): the guardian consented to the record, not to pairing.
- 演示·小舟 (study, health): waiting for a volunteer.

It needs the demo township account of 西屏街道 and the volunteers area's demo set (both added
first by `flask portal demo`); without them it says what it skipped. Loading twice adds nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from portal.auth.models import Role, User
from portal.pairing import children, matching, services, visits
from portal.pairing.models import Child, Pairing
from portal.timeutil import SHANGHAI, china_today
from portal.volunteers import services as volunteers
from portal.volunteers.models import Volunteer

XIPING = "331124001"
VILLAGE = "演示村"
PAIRED_VOLUNTEER = "19900000102"  # 演示·李书记, active in the volunteers area's demo set
SUGGESTED_VOLUNTEER = "19900000103"  # 演示·陈医生, active (check expiring) in the same set
ACTIVE_DAYS_AGO = 40  # the demo pairing became active this many days before loading
# (name, sex, age, needs, guardian, relation, phone, consent to pairing, role in the demo)
CHILDREN = (
    ("演示·小雨", "F", 9, ["study"], "演示·雨奶奶", "grandparent", "19900000201", True, "paired"),
    ("演示·小林", "M", 11, ["psych", "safety"], "演示·林爷爷", "grandparent", "19900000202", True, "suggested"),
    ("演示·小禾", "F", 7, ["life", "health"], "演示·禾外婆", "maternal_grandparent", "19900000203", False, None),
    ("演示·小舟", "M", 13, ["study", "health"], "演示·舟叔叔", "relative", "19900000204", True, None),
)  # fmt: skip
VISITS = (
    # (days before loading, mode, minutes, confirmed)
    (
        30,
        "home",
        90,
        True,
        {
            "condition_study": "演示：数学作业能按时完成，语文阅读较慢。",
            "condition_life": "演示：与奶奶同住，饮食起居正常。",
            "condition_psych": "演示：提到想念在外务工的父母，情绪总体稳定。",
            "help_given": ["tutoring", "goods"],
            "help_note": "演示：辅导阅读，送课外书两本。",
            "follow_up": "演示：下次视频时与孩子一起读完一本书。",
        },
    ),
    (
        5,
        "video",
        30,
        False,
        {
            "condition_study": "演示：期中考试成绩有进步。",
            "condition_psych": "演示：愿意主动说学校里的事。",
            "help_given": ["tutoring"],
            "problems": "演示：家中网络不稳定，视频中断两次。",
            "follow_up": "演示：下次改为入户走访。",
        },
    ),
)


def _staff(session: Session) -> User | None:
    return session.exec(
        select(User)
        .where(
            User.role == Role.TOWNSHIP_STAFF,
            User.township_code == XIPING,
            User.is_demo.is_(True),
            User.is_active.is_(True),
        )
        .order_by(User.id)
    ).first()


def _volunteer(session: Session, mobile: str) -> tuple[User, Volunteer] | tuple[None, None]:
    user = session.exec(select(User).where(User.phone == mobile, User.is_demo.is_(True))).first()
    volunteer = volunteers.for_user(session, user) if user is not None else None
    return (user, volunteer) if volunteer is not None else (None, None)


def _birth_date(today: date, age: int) -> date:
    """A birthday half a year away, so the child keeps this age for months."""
    return today - timedelta(days=age * 365 + age // 4 + 182)


def _child(session: Session, staff: User, spec: tuple, today: date) -> tuple[Child, bool]:
    name, sex, age, needs, guardian, relation, phone, consent, _role = spec
    child = session.exec(
        select(Child).where(Child.name == name, Child.township_code == XIPING)
    ).first()
    if child is not None:
        return child, False
    data = {
        "name": name,
        "sex": sex,
        "birth_date": _birth_date(today, age),
        "township_code": XIPING,
        "village": VILLAGE,
        "school": "演示小学" if age < 12 else "演示中学",
        "grade": None,
        "guardian_name": guardian,
        "guardian_relation": relation,
        "guardian_phone": phone,
        "parents_work_city": "演示市",
        "needs": needs,
        "notes": "演示数据，不是真实儿童。",
        "preferred_volunteer_sex": None,
        "consent_by": guardian,
        "consent_relation": relation,
        "consent_on": today - timedelta(days=ACTIVE_DAYS_AGO + 10),
        "consent_method": "written",
        "consent_to_pairing": consent,
    }
    return children.create(session, data, actor=staff, today=today), True


def _has_pairing(session: Session, child: Child) -> bool:
    return session.exec(select(Pairing.id).where(Pairing.child_id == child.id)).first() is not None


def _suggestion(
    session: Session, staff: User, child: Child, volunteer: Volunteer, today: date
) -> Pairing | None:
    """A suggestion row as the matching engine explains the pair, or None if it is not feasible."""
    feasible, _refusal, score, reasons = matching.explain(
        services.as_case(session, child, today),
        services.as_candidate(session, volunteer, today),
        services.match_settings(),
    )
    if not feasible:
        return None
    row = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=child.township_code,
        score=score,
        reasons=[{"code": r.code, "points": r.points, "detail": r.detail} for r in reasons],
        created_by=staff.id,
    )
    session.add(row)
    session.flush()
    return row


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def _active_pairing(
    session: Session, staff: User, child: Child, user: User, volunteer: Volunteer, today: date
) -> list[str]:
    """Suggested, accepted by staff, accepted by the volunteer, consented: then two visits."""
    started = today - timedelta(days=ACTIVE_DAYS_AGO)
    pairing = _suggestion(session, staff, child, volunteer, started)
    if pairing is None:
        return [f"child {child.code}: {volunteer.number} cannot be paired with it; no pairing"]
    services.accept(session, pairing, actor=staff, today=started)
    services.answer(session, pairing, user=user, accept=True)
    services.record_consent(
        session,
        pairing,
        actor=staff,
        consent_by=child.guardian_name,
        consent_on=started,
        method="in_person",
        today=started,
    )
    # The steps above happened over the days before activation.
    pairing.created_at = _at(started - timedelta(days=6), 9)
    pairing.accepted_at = _at(started - timedelta(days=5), 10)
    pairing.volunteer_answered_at = _at(started - timedelta(days=4), 20)
    session.add(pairing)
    lines = [
        f"pairing #{pairing.id}: {child.code} {child.name} with {volunteer.number} "
        f"{volunteer.name} (active since {started.isoformat()})"
    ]
    for days_ago, mode, minutes, confirm, texts in VISITS:
        day = today - timedelta(days=days_ago)
        visit = visits.log(
            session,
            pairing,
            user=user,
            values={"visited_on": day, "mode": mode, "minutes": minutes, **texts},
            today=today,
        )
        visit.created_at = _at(day, 21)
        session.add(visit)
        if confirm:
            record = visits.confirm(session, visit, actor=staff, today=today)
            visit.confirmed_at = _at(day + timedelta(days=2), 11)
            session.add(visit)
            lines.append(
                f"visit #{visit.id} on {day.isoformat()}: confirmed, {record.minutes} min credited"
            )
        else:
            lines.append(f"visit #{visit.id} on {day.isoformat()}: waiting for confirmation")
    session.flush()
    return lines


def load(session: Session) -> list[str]:
    today = china_today()
    staff = _staff(session)
    if staff is None:
        return ["skipped: no demo township account of 西屏街道 (flask portal demo adds it)"]
    added: list[str] = []
    by_role: dict[str, Child] = {}
    for spec in CHILDREN:
        child, new = _child(session, staff, spec, today)
        if new:
            why = "" if child.consent_to_pairing else "; no consent to pairing"
            added.append(f"child {child.code} {child.name} ({', '.join(child.needs)}{why})")
        if spec[-1]:
            by_role[spec[-1]] = child

    paired = by_role["paired"]
    if not _has_pairing(session, paired):
        user, volunteer = _volunteer(session, PAIRED_VOLUNTEER)
        if volunteer is None or volunteers.pairing_refusal(volunteer, today) is not None:
            added.append(f"skipped the pairing of {paired.code}: {PAIRED_VOLUNTEER} is not active")
        else:
            added.extend(_active_pairing(session, staff, paired, user, volunteer, today))

    suggested = by_role["suggested"]
    if not _has_pairing(session, suggested):
        _user, volunteer = _volunteer(session, SUGGESTED_VOLUNTEER)
        row = None
        if volunteer is not None and volunteers.pairing_refusal(volunteer, today) is None:
            row = _suggestion(session, staff, suggested, volunteer, today)
        if row is None:
            added.append(f"skipped the suggestion for {suggested.code}: no demo volunteer fits")
        else:
            added.append(
                f"suggestion #{row.id}: {suggested.code} {suggested.name} with {volunteer.number} "
                f"{volunteer.name} (score {row.score}), waiting for staff review"
            )
    return added
