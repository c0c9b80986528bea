"""Volunteer rosters and the staff list at county scale, in-process on a SQLite file.

1. A 10,000-row roster (.xlsx, valid distinct identities across the 19 townships, a third
   Party members, half with a recent criminal-record check): the time of the check that makes
   the report (`roster.check_roster`) and of the confirmed import (`roster.confirm`, which
   checks the kept file again and then creates 10,000 accounts and records), each in its own
   committed transaction, as a county staff member.
2. With 50,000 volunteers in the database: the staff list for a county staff member through
   the Flask test client, first page and a filtered search, ~200 requests each; p50 and p95.

The last line is JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from datetime import date, timedelta
from urllib.parse import urlencode

from _harness import ROOT, scratch_dir

sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from openpyxl import Workbook  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.auth.models import Role, User  # noqa: E402
from portal.core import numbering, protect  # noqa: E402
from portal.places import TOWNSHIPS  # noqa: E402
from portal.timeutil import china_today, utcnow  # noqa: E402
from portal.volunteers import roster, services  # noqa: E402
from portal.volunteers.idnumber import IdType, make_resident_id  # noqa: E402
from portal.volunteers.models import Volunteer  # noqa: E402
from tests.conftest import app_config, login, make_user, reset_schema  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌晓东海燕玉兰春梅"
VILLAGES = ("城北社区", "城南社区", "上村", "下村", "横山村", "竹溪村", "新村", "大石村", "西坑村")
SEARCH_TOWNSHIP = "331124101"  # 古市镇


def name_of(n: int) -> str:
    rng = random.Random(n)
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def roster_file(count: int, today: date) -> bytes:
    """A valid roster: distinct ID numbers (birth date by row) and mobiles, all townships."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("志愿者名册")
    sheet.append([header for _name, header in roster.COLUMNS])
    for n in range(count):
        born = date(1960, 1, 1) + timedelta(days=n)
        party = n % 3 == 0
        township = TOWNSHIPS[n % len(TOWNSHIPS)]
        values = {
            "name": name_of(n),
            "id_type": "居民身份证",
            "id_number": make_resident_id("331124", born, n % 997, sex="M" if n % 2 else "F"),
            "mobile": f"135{n:08d}",
            "township_code": township[1],
            "village": VILLAGES[n % len(VILLAGES)],
            "political_status": "中共党员" if party else ("共青团员" if n % 3 == 1 else "群众"),
            "category": "共产党员" if party else "社会志愿者",
            "employer": f"松阳县第{n % 40 + 1}单位",
            "skills": "教学辅导、文体" if n % 2 else "心理咨询",
            "party_organisation": "机关第一党支部" if party else None,
            "residence_village": VILLAGES[(n + 1) % len(VILLAGES)] if party else None,
            "report_date": (today - timedelta(days=200)).isoformat() if party else None,
            "check_date": (today - timedelta(days=n % 300)).isoformat() if n % 2 else None,
        }
        sheet.append([values.get(name) for name, _header in roster.COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def fill_volunteers(app, session: Session, total: int, today: date) -> None:
    """Top the database up to `total` volunteers with bulk inserts (not what is measured)."""
    have = session.exec(select(func.count()).select_from(Volunteer)).one()
    missing = total - have
    if missing <= 0:
        return
    now = utcnow()
    start = 1_000_000
    statuses = ["active"] * 5 + ["verified", "applied", "submitted", "suspended", "withdrawn"]
    with app.app_context():
        users = [
            {
                "name": name_of(start + n),
                "phone": f"136{n:08d}",
                "role": "volunteer",
                "password_hash": "!bench",
                "is_active": True,
                "is_demo": False,
                "session_version": 1,
                "created_at": now,
                "password_changed_at": now,
                "notify_by_email": True,
                "notify_by_sms": True,
                "language": "zh_CN",
            }
            for n in range(missing)
        ]
        ids = session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True), users
        ).all()
        numbers = numbering.numbers_from(services.next_number(session, today.year))
        records = []
        for n, user_id in enumerate(ids):
            born = date(1950, 1, 1) + timedelta(days=(start + n) % 15000)
            number = make_resident_id("331124", born, n % 997)
            status = statuses[n % len(statuses)]
            checked = status in ("active", "verified", "suspended")
            check_date = today - timedelta(days=n % 360) if checked else None
            records.append(
                {
                    "name": users[n]["name"],
                    "id_type": IdType.RESIDENT_ID.value,
                    "political_status": "13",
                    "category": "social",
                    "township_code": TOWNSHIPS[n % len(TOWNSHIPS)][0],
                    "village": VILLAGES[n % len(VILLAGES)],
                    "employer": f"松阳县第{n % 40 + 1}单位",
                    "skills": ["tutoring"],
                    "availability": ["weekend"],
                    "number": next(numbers),
                    "user_id": user_id,
                    "id_cipher": protect.encrypt(number),
                    "id_hash": protect.keyed_hash("id", f"resident_id:{number}:{n}"),
                    "id_masked": protect.mask(number),
                    "birth_date": born,
                    "sex": "M" if n % 2 else "F",
                    "status": status,
                    "status_changed_at": now,
                    "check_date": check_date,
                    "check_expires": check_date + timedelta(days=365) if check_date else None,
                    "training_date": check_date if status == "active" else None,
                    "source": "signup",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(insert(Volunteer), records)


def timed_pages(client, url: str, count: int) -> list[float]:
    client.get(url)  # warm-up: templates compiled, statements cached
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def p95(times: list[float]) -> float:
    return round(statistics.quantiles(times, n=20)[-1], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the roster")
    parser.add_argument("--volunteers", type=int, default=50_000, help="volunteers for the list")
    parser.add_argument("--requests", type=int, default=200, help="requests per list URL")
    args = parser.parse_args()
    today = china_today()
    figures: dict[str, float] = {}
    with scratch_dir() as workdir:
        url = f"sqlite:///{workdir / 'bench.db'}"
        reset_schema(url)
        app = create_app(
            app_config(
                url,
                TESTING=False,
                PORTAL_LOG_LEVEL="ERROR",
                PORTAL_UPLOAD_DIR=str(workdir / "uploads"),
                PORTAL_SEARCH_DIR=str(workdir / "search"),
                PORTAL_DATA_KEYS=Fernet.generate_key().decode(),
            )
        )
        db = app.extensions["portal_db"]
        with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
            county = make_user(session, role=Role.COUNTY_STAFF, name="县级人员")

        data = roster_file(args.rows, today)
        print(f"roster: {args.rows:,} rows, {len(data) / 1024:,.0f} KiB")

        from portal.db import Database

        with app.app_context():
            start = time.perf_counter()
            with Database().transaction() as session:
                actor = session.get(User, county.id)
                checked = roster.check_roster(
                    session, actor=actor, data=data, filename="bench.xlsx", today=today
                )
                import_id, errors = checked.id, checked.error_count
            figures["validate_10k_s"] = round(time.perf_counter() - start, 2)
            assert errors == 0, checked.errors[:5]

            start = time.perf_counter()
            with Database().transaction() as session:
                actor = session.get(User, county.id)
                result = roster.confirm(
                    session, roster.get_import(session, actor, import_id), actor=actor, today=today
                )
            figures["import_10k_s"] = round(time.perf_counter() - start, 2)
            assert result.imported == args.rows, result
            print(
                f"check and report: {figures['validate_10k_s']} s; confirmed import "
                f"(checks the file again, then inserts): {figures['import_10k_s']} s; "
                f"{result.imported:,} imported, {result.verified:,} verified"
            )

            with Database().transaction() as session:
                fill_volunteers(app, session, args.volunteers, today)
            with Database().transaction() as session:
                total = session.exec(select(func.count()).select_from(Volunteer)).one()
                target = session.exec(
                    select(Volunteer.name)
                    .where(Volunteer.township_code == SEARCH_TOWNSHIP, Volunteer.status == "active")
                    .limit(1)
                ).one()
        print(f"volunteers in the database: {total:,}")

        client = app.test_client()
        with app.app_context(), Session(db.engine) as session:
            login(client, session.get(User, county.id))
        first_page = timed_pages(client, "/volunteers/staff/", args.requests)
        query = urlencode({"q": target, "status": "active", "township": SEARCH_TOWNSHIP})
        search = timed_pages(client, f"/volunteers/staff/?{query}", args.requests)
        figures["list_p50_ms"] = round(statistics.median(first_page), 2)
        figures["list_p95_ms"] = p95(first_page)
        figures["search_p50_ms"] = round(statistics.median(search), 2)
        figures["search_p95_ms"] = p95(search)
        print(f"{'staff list (county staff)':<34}{'p50 ms':>9}{'p95 ms':>9}")
        print(f"{'first page':<34}{figures['list_p50_ms']:>9}{figures['list_p95_ms']:>9}")
        print(f"{'search ' + target + ', active, 古市镇':<31}", end="")
        print(f"{figures['search_p50_ms']:>9}{figures['search_p95_ms']:>9}")
        db.engine.dispose()
    order = [
        "validate_10k_s",
        "list_p50_ms",
        "search_p50_ms",
        "import_10k_s",
        "list_p95_ms",
        "search_p95_ms",
    ]
    print(json.dumps({key: figures[key] for key in order}))


if __name__ == "__main__":
    main()
