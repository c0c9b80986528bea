"""Roster import (check, report, confirm) and export (masked, township-scoped, audited)."""

from __future__ import annotations

import io
import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.timeutil import china_today
from portal.volunteers import roster
from portal.volunteers.idnumber import make_resident_id
from portal.volunteers.models import RosterImport, Status, Volunteer
from tests.conftest import csrf_token, login, make_user, page_text, post
from tests.volunteers.conftest import GUSHI, XIPING, make_volunteer, signup_data

HEADERS = [header for _name, header in roster.COLUMNS]
IMPORT = "/volunteers/staff/import"


def row(n: int, **values) -> dict:
    """A valid roster row by Chinese column name; n makes the person unique."""
    data = {
        "姓名": "李志愿",
        "证件号码": make_resident_id("331124", date(1980, 1, 1) + timedelta(days=n), 11),
        "手机号码": f"137{n:08d}",
        "乡镇（街道）": "西屏街道",
        "村（社区）": "城北社区",
        "政治面貌": "群众",
        "志愿者类别": "社会志愿者",
        "特长": "教学辅导、文体",
    }
    data.update(values)
    return data


def workbook_bytes(rows: list[dict], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for values in rows:
        sheet.append([values.get(h) for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, data: bytes, filename: str = "名册.xlsx"):
    # Encoded here, in memory: the test client spools a large body to a file it never closes.
    file = FileStorage(io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    body = {"csrf_token": csrf_token(client), "file": file}
    boundary, encoded = encode_multipart(body)
    return client.post(
        IMPORT, data=encoded, content_type=f"multipart/form-data; boundary={boundary}"
    )


def import_id(response) -> int:
    match = re.search(r"/volunteers/staff/import/(\d+)$", response.headers.get("Location", ""))
    assert response.status_code == 303 and match, page_text(response)[:2000]
    return int(match.group(1))


def imported(session) -> list[Volunteer]:
    session.expire_all()
    return list(
        session.exec(select(Volunteer).where(Volunteer.source == "import").order_by(Volunteer.id))
    )


def actions(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture()
def staff(app, session, client):
    user = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING)
    login(client, user)
    return user


# Import ----------------------------------------------------------------------------------------


def test_a_good_roster_is_imported_only_after_confirm(app, session, client, staff):
    today = china_today()
    rows = [
        row(1, 无犯罪记录核查日期=(today - timedelta(days=20)).isoformat()),
        row(
            2,
            政治面貌="中共党员",
            志愿者类别="共产党员",
            党组织="县教育局机关党支部",
            **{"居住村（社区）": "城北社区"},
            报到日期="2025/3/1",
        ),
        row(
            3,
            证件类型="护照",
            证件号码="E12345678",
            出生日期=date(1979, 4, 2),
            性别="女",
            **{"乡镇（街道）": ""},  # township staff may leave their own township out
        ),
        row(4, 无犯罪记录核查日期=(today - timedelta(days=400)).isoformat()),  # too old
    ]
    response = upload(client, workbook_bytes(rows))
    number = import_id(response)
    assert imported(session) == []

    report = client.get(f"/volunteers/staff/import/{number}")
    assert report.status_code == 200
    assert f"/volunteers/staff/import/{number}/confirm" in report.get_data(as_text=True)
    checked = session.get(RosterImport, number)
    assert (checked.rows, checked.error_count, checked.imported_at) == (4, 0, None)
    kept = Path(app.config["PORTAL_UPLOAD_DIR"]) / "volunteer-imports" / checked.sha256
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    confirmed = post(client, f"/volunteers/staff/import/{number}/confirm")
    assert confirmed.status_code == 303
    people = imported(session)
    assert len(people) == 4
    first, party, passport, old_check = people
    assert first.status == Status.VERIFIED
    assert first.check_date == today - timedelta(days=20)
    assert first.check_expires == first.check_date + timedelta(days=365)
    assert first.checked_by == staff.id
    assert first.skills == ["tutoring", "arts_sports"]
    assert party.political_status == "01" and party.category == "party_member"
    assert party.report_date == date(2025, 3, 1) and party.residence_village == "城北社区"
    assert passport.id_type == "passport" and passport.sex == "F"
    assert passport.birth_date == date(1979, 4, 2) and passport.township_code == XIPING
    assert old_check.status == Status.APPLIED and old_check.check_date is None
    numbers = [int(v.number[-6:]) for v in people]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    for volunteer in people:
        assert volunteer.consented_at is None and volunteer.privacy_version is None
        assert "*" in volunteer.id_masked and volunteer.id_cipher and volunteer.id_hash
        account = session.get(User, volunteer.user_id)
        assert account.role == Role.VOLUNTEER and account.is_active
        assert account.password_hash.startswith("!")
    assert session.get(User, first.user_id).phone == "13700000001"
    imported_entries = actions(session, "volunteer.roster_imported")
    assert len(imported_entries) == 1 and imported_entries[0].detail["imported"] == 4
    assert actions(session, "volunteer.roster_checked")
    # The report now says it is done, and offers no second confirmation.
    html = client.get(f"/volunteers/staff/import/{number}").get_data(as_text=True)
    assert "/confirm" not in html


def test_an_imported_person_cannot_log_in_without_a_set_up_link(app, session, client, staff):
    number = import_id(upload(client, workbook_bytes([row(1)])))
    post(client, f"/volunteers/staff/import/{number}/confirm")
    account = session.get(User, imported(session)[0].user_id)
    other = app.test_client()
    response = post(other, "/auth/login", {"login": account.phone, "password": "!"})
    assert response.status_code != 303


def test_confirming_twice_imports_once(session, client, staff):
    number = import_id(upload(client, workbook_bytes([row(1), row(2)])))
    assert post(client, f"/volunteers/staff/import/{number}/confirm").status_code == 303
    assert post(client, f"/volunteers/staff/import/{number}/confirm").status_code == 303
    assert len(imported(session)) == 2
    assert len(actions(session, "volunteer.roster_imported")) == 1
    # The same file uploaded again: every row is now a duplicate of a registered volunteer.
    again = import_id(upload(client, workbook_bytes([row(1), row(2)])))
    assert session.get(RosterImport, again).error_count == 4


def test_bad_rows_are_reported_with_row_and_column_and_block_the_confirm(
    app, session, client, staff
):
    make_user(session, role=Role.VOLUNTEER, phone="13600000009")
    good_id = row(1)["证件号码"]
    bad_checksum = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    minor = make_resident_id("331124", china_today() - timedelta(days=365 * 10), 11)
    rows = [
        row(1),  # Excel row 2
        row(2, 证件号码=bad_checksum),  # 3
        row(3, 证件号码="331124800101123"),  # 4: 15 digits
        row(4, 手机号码="13700000001"),  # 5: same mobile as row 2
        row(5, 手机号码="13600000009"),  # 6: mobile already registered
        row(6, **{"乡镇（街道）": "火星乡"}),  # 7: unknown township
        row(7, **{"乡镇（街道）": "古市镇"}),  # 8: another township
        row(8, 证件号码=minor),  # 9: under 18
        row(9, 政治面貌="中共党员"),  # 10: no Party details
        row(10, 证件号码=row(1)["证件号码"]),  # 11: same ID as row 2
    ]
    number = import_id(upload(client, workbook_bytes(rows)))
    checked = session.get(RosterImport, number)
    found = {(e["row"], e["field"]) for e in checked.errors}
    expected = {
        (3, "id_number"),
        (4, "id_number"),
        (5, "mobile"),
        (6, "mobile"),
        (7, "township_code"),
        (8, "township_code"),
        (9, "id_number"),
        (10, "party_organisation"),
        (10, "residence_village"),
        (10, "report_date"),
        (11, "id_number"),
    }
    assert expected <= found
    assert not any(e["row"] == 2 for e in checked.errors)
    assert checked.error_count == len(checked.errors)

    report = client.get(f"/volunteers/staff/import/{number}")
    text = page_text(report)
    assert report.status_code == 200
    for column in ("证件号码", "手机号码", "乡镇（街道）", "党组织", "报到日期"):
        assert column in text
    assert "/confirm" not in report.get_data(as_text=True)
    assert "15" in text  # the 15-digit message says what to do
    refused = post(client, f"/volunteers/staff/import/{number}/confirm")
    assert refused.status_code == 303
    assert imported(session) == []


def test_a_long_report_is_paginated(session, client, staff):
    rows = [row(n, 手机号码="12345") for n in range(1, 80)]
    number = import_id(upload(client, workbook_bytes(rows)))
    first = client.get(f"/volunteers/staff/import/{number}").get_data(as_text=True)
    assert 'rel="next"' in first
    second = client.get(f"/volunteers/staff/import/{number}?page=2")
    assert second.status_code == 200 and ">80<" not in first


def test_county_staff_imports_any_township_and_must_name_it(session, client):
    login(client, make_user(session, role=Role.COUNTY_STAFF))
    rows = [row(1, **{"乡镇（街道）": "古市"}), row(2, **{"乡镇（街道）": "331124205"}), row(3)]
    rows[2]["乡镇（街道）"] = None
    number = import_id(upload(client, workbook_bytes(rows)))
    checked = session.get(RosterImport, number)
    assert [(e["row"], e["field"]) for e in checked.errors] == [(4, "township_code")]


def test_rows_that_become_duplicates_before_the_confirm_import_nothing(app, session, client, staff):
    number = import_id(upload(client, workbook_bytes([row(1), row(2)])))
    with app.test_request_context():
        make_volunteer(session, 5, mobile="13700000002")
    response = post(client, f"/volunteers/staff/import/{number}/confirm")
    assert response.status_code == 303
    assert imported(session) == []
    session.expire_all()
    checked = session.get(RosterImport, number)
    assert checked.imported_at is None and checked.error_count == 1
    assert checked.errors[0]["row"] == 3 and checked.errors[0]["field"] == "mobile"


@pytest.mark.parametrize(
    "data, filename",
    [
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n", "名册.xlsx"),
        (b"PK\x03\x04" + b"\0" * (5 * 1024 * 1024), "名册.xlsx"),
        (b"PK\x03\x04 not really a zip", "名册.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "名册.xls"),
        (b"", "名册.xlsx"),
    ],
)
def test_a_file_that_is_not_a_roster_is_a_field_error(session, client, staff, data, filename):
    response = upload(client, data, filename)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="error" id="file-error">[^<]+</p>', html), page_text(response)
    assert session.exec(select(func.count()).select_from(RosterImport)).one() == 0


def test_file_errors_are_in_chinese(session, client, staff):
    too_big = upload(client, b"PK\x03\x04" + b"\0" * (5 * 1024 * 1024))
    assert "5 MB" in page_text(too_big) and "文件" in page_text(too_big)
    wrong = upload(client, workbook_bytes([{"名字": "张三"}], headers=["名字"]))
    assert wrong.status_code == 422 and "证件号码" in page_text(wrong)


def test_too_many_rows_are_refused(session, client, staff, monkeypatch):
    monkeypatch.setattr(roster, "MAX_ROWS", 3)
    response = upload(client, workbook_bytes([row(n) for n in range(1, 6)]))
    assert response.status_code == 422 and "3" in page_text(response)


def test_the_template_has_chinese_headers_and_its_example_row_is_skipped(session, client, staff):
    response = client.get("/volunteers/staff/import-template.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(roster.XLSX_TYPE)
    data = response.get_data()
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]][:4] == ["姓名", "证件类型", "证件号码", "手机号码"]
    assert str(sheet["Q2"].value).startswith("示例")
    assert upload(client, data).status_code == 422  # only the example: nothing to import
    sheet.append([row(1).get(h) for h in HEADERS])
    out = io.BytesIO()
    book.save(out)
    number = import_id(upload(client, out.getvalue()))
    checked = session.get(RosterImport, number)
    assert (checked.rows, checked.error_count) == (1, 0)


def test_a_report_of_another_township_is_not_found(app, session, client, staff):
    number = import_id(upload(client, workbook_bytes([row(1)])))
    other = app.test_client()
    login(other, make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI))
    assert other.get(f"/volunteers/staff/import/{number}").status_code == 404
    assert post(other, f"/volunteers/staff/import/{number}/confirm").status_code == 404
    assert imported(session) == []
    colleague = app.test_client()
    login(colleague, make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING))
    assert colleague.get(f"/volunteers/staff/import/{number}").status_code == 200
    county = app.test_client()
    login(county, make_user(session, role=Role.COUNTY_STAFF))
    assert county.get(f"/volunteers/staff/import/{number}").status_code == 200
    assert number in [r.id for r in roster.recent_imports(session, staff)]


def test_volunteers_cannot_reach_the_roster_pages(session, client):
    login(client, make_user(session, role=Role.VOLUNTEER))
    for path in (IMPORT, "/volunteers/staff/import-template.xlsx", "/volunteers/staff/export.xlsx"):
        assert client.get(path).status_code == 403


# Export ----------------------------------------------------------------------------------------


def exported_rows(response) -> list[list]:
    assert response.status_code == 200, page_text(response)[:1000]
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


@pytest.fixture()
def two_townships(app, session):
    with app.test_request_context():
        here = make_volunteer(session, 1, employer='=HYPERLINK("http://x")')
        there = make_volunteer(session, 2, township_code=GUSHI, village="古市村")
    return here, there


def test_export_has_masked_ids_only_and_the_township_scope(session, client, staff, two_townships):
    here, there = two_townships
    rows = exported_rows(client.get("/volunteers/staff/export.xlsx"))
    assert len(rows) == 2
    flat = " ".join(str(v) for r in rows for v in r)
    assert here.number in flat and there.number not in flat
    assert here.id_masked in flat
    assert signup_data(1)["id_number"] not in flat
    assert signup_data(1)["mobile"] in flat
    assert '=HYPERLINK("http://x")' in rows[1]  # text stays text, never a formula
    entries = actions(session, "volunteer.exported")
    assert len(entries) == 1 and entries[0].detail["rows"] == 1
    assert entries[0].actor_id == staff.id


def test_export_follows_the_list_filters(session, client, two_townships):
    login(client, make_user(session, role=Role.COUNTY_STAFF))
    here, there = two_townships
    everyone = exported_rows(client.get("/volunteers/staff/export.xlsx"))
    assert len(everyone) == 3
    filtered = exported_rows(client.get(f"/volunteers/staff/export.xlsx?township={GUSHI}"))
    assert len(filtered) == 2 and filtered[1][0] == there.number
    by_name = exported_rows(client.get("/volunteers/staff/export.xlsx?q=古市村&status=active"))
    assert len(by_name) == 1


def test_the_full_export_needs_the_password_again_and_is_audited(
    app, session, client, two_townships
):
    county = app.test_client()
    login(county, make_user(session, role=Role.COUNTY_STAFF))
    assert county.get("/volunteers/staff/export-full.xlsx").status_code == 403

    admin = make_user(session, role=Role.ADMIN)
    login(client, admin)
    with client.session_transaction() as state:
        state["auth_at"] = 0  # the password was last given long ago
    response = client.get("/volunteers/staff/export-full.xlsx")
    assert response.status_code == 303 and "/auth/reauth" in response.headers["Location"]
    assert actions(session, "volunteer.exported_with_ids") == []

    again = post(client, response.headers["Location"], {"password": "correct horse battery"})
    assert again.status_code == 303
    rows = exported_rows(client.get(again.headers["Location"]))
    flat = " ".join(str(v) for r in rows for v in r)
    assert signup_data(1)["id_number"] in flat and signup_data(2)["id_number"] in flat
    entries = actions(session, "volunteer.exported_with_ids")
    assert len(entries) == 1 and entries[0].detail["rows"] == 2
    assert signup_data(1)["id_number"] not in str(entries[0].detail)


def test_only_admins_see_the_full_export_link(app, session, client):
    login(client, make_user(session, role=Role.ADMIN))
    assert "/volunteers/staff/export-full.xlsx" in client.get("/volunteers/staff/").get_data(
        as_text=True
    )
    county = app.test_client()
    login(county, make_user(session, role=Role.COUNTY_STAFF))
    html = county.get("/volunteers/staff/").get_data(as_text=True)
    assert "/volunteers/staff/export.xlsx" in html and "export-full" not in html
