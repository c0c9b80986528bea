"""The volunteers area's demo set: a few clearly labelled volunteers in each vetting state.

Their ID numbers are made up (well-formed, region 331124, never issued to anyone) and every
account is marked `is_demo`. Loading twice adds nothing.
"""

from __future__ import annotations

import io
import secrets
from datetime import date, timedelta

from PIL import Image, ImageDraw
from sqlmodel import Session, select

from portal.auth import services as accounts
from portal.auth.models import Role, User
from portal.core import uploads
from portal.timeutil import china_today, utcnow
from portal.volunteers import hours, services
from portal.volunteers.idnumber import make_resident_id
from portal.volunteers.models import ServiceRecord, Status, Volunteer

XIPING = "331124001"
# (mobile, name, born, sex, category, political status, state)
PEOPLE = (
    ("19900000010", "演示·志愿者", date(1988, 5, 12), "F", "teacher", "13", "applied"),
    ("19900000101", "演示·王老师", date(1979, 3, 2), "F", "teacher", "03", "submitted"),
    ("19900000102", "演示·李书记", date(1975, 9, 30), "M", "party_member", "01", "active"),
    ("19900000103", "演示·陈医生", date(1983, 11, 8), "M", "social", "13", "expiring"),
    ("19900000104", "演示·周干部", date(1990, 1, 21), "F", "cadre", "12", "verified"),
)


def _certificate_png() -> bytes:
    image = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(image).text((20, 140), "DEMO - not a real certificate", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def load(session: Session) -> list[str]:
    today = china_today()
    staff = session.exec(
        select(User).where(
            User.role == Role.TOWNSHIP_STAFF, User.township_code == XIPING, User.is_demo.is_(True)
        )
    ).first()
    added = []
    for index, (mobile, name, born, sex, category, political, state) in enumerate(PEOPLE):
        user = session.exec(select(User).where(User.phone == mobile)).first()
        if user is not None and services.for_user(session, user) is not None:
            continue
        if user is None:
            user = accounts.create_user(
                session,
                name=name,
                role=Role.VOLUNTEER,
                password="demo-" + secrets.token_urlsafe(12),
                phone=mobile,
                is_demo=True,
            )
        number = make_resident_id("331124", born, 100 + index * 2, sex=sex)
        data = {
            "name": name,
            "id_type": "resident_id",
            "id_number": number,
            "mobile": mobile,
            "township_code": XIPING,
            "village": "演示村",
            "political_status": political,
            "category": category,
            "skills": ["tutoring", "arts_sports"],
            "availability": ["weekend"],
            "employer": "演示单位",
        }
        if political in ("01", "02"):
            data.update(
                party_organisation="演示党支部",
                residence_village="演示村",
                report_date=date(2026, 3, 1),
            )
        checked, parsed = services.validate(
            session, {**data}, today=today, current=None, check_unique=False
        )
        volunteer = Volunteer(
            **{field: getattr(checked, field) for field in services.PROFILE_FIELDS},
            number="",
            user_id=user.id,
            id_type=parsed.id_type,
            id_masked="",
            birth_date=parsed.birth_date,
            sex=parsed.sex,
            privacy_version=services.PRIVACY_VERSION,
            agreement_version=services.AGREEMENT_VERSION,
            consented_at=utcnow(),
        )
        services._identity(volunteer, parsed)
        services._insert_with_number(session, volunteer, today.year)
        if state == "submitted":
            checked_file = uploads.check(_certificate_png())
            uploads.keep(services.upload_folder(), checked_file)
            volunteer.certificate_sha256 = checked_file.sha256
            volunteer.certificate_type = checked_file.content_type
            volunteer.certificate_uploaded_at = utcnow()
            volunteer.status = Status.SUBMITTED
        elif state in ("active", "verified", "expiring"):
            check = today - timedelta(days=345 if state == "expiring" else 60)
            volunteer.check_date, volunteer.check_expires = (
                check,
                check + timedelta(days=services.valid_days()),
            )
            volunteer.checked_by = staff.id if staff else None
            if state != "verified":
                volunteer.training_date = check + timedelta(days=7)
                volunteer.status = Status.ACTIVE
            else:
                volunteer.status = Status.VERIFIED
        session.add(volunteer)
        session.flush()
        if state == "active":
            for weeks in range(1, 9):
                session.add(
                    ServiceRecord(
                        volunteer_id=volunteer.id,
                        kind="activity",
                        served_on=today - timedelta(weeks=weeks),
                        minutes=120,
                        content="演示：周末学业辅导",
                        entered_by=staff.id if staff else None,
                    )
                )
            session.flush()
        added.append(
            f"volunteer {volunteer.number} {name} ({services.STATUS_TEXT[volunteer.status]}; "
            f"{hours.format_hours(hours.total_minutes(session, volunteer.id))} h)"
        )
    return added
