"""Service record certificates: issuing, the printable page, public verification, revocation,
and the Party members' quarterly record."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.core.domain import DomainError
from portal.timeutil import china_today
from portal.volunteers import hours
from portal.volunteers.models import Certificate
from tests.conftest import login, make_user, page_text, post
from tests.volunteers.conftest import GUSHI, make_volunteer

TODAY = china_today()
YEAR = TODAY.year


def _volunteer(app, session, n=1, **overrides):
    with app.test_request_context():
        return make_volunteer(session, n, **overrides)


def _staff(session, **fields):
    return make_user(session, role=Role.TOWNSHIP_STAFF, **fields)


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _as_volunteer(app, session, volunteer):
    return _signed_in(app, session.get(User, volunteer.user_id))


def _add(session, volunteer, staff, day, minutes, content="活动"):
    return hours.add_activity(
        session, volunteer, actor=staff, served_on=day, minutes=minutes, content=content
    )


def _issue(session, volunteer, staff, start, end, **changes):
    values = {"content": "关爱留守儿童志愿服务", "issuer": "西屏街道人民政府", **changes}
    return hours.issue_certificate(
        session, volunteer, actor=staff, period_start=start, period_end=end, **values
    )


@pytest.fixture()
def issued(app, session):
    """A volunteer with hours, the township's staff, and a certificate of those hours."""
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    _add(session, volunteer, staff, TODAY - timedelta(days=2), 150)
    certificate = _issue(session, volunteer, staff, TODAY - timedelta(days=30), TODAY)
    session.commit()
    return volunteer, staff, certificate


# Issuing ---------------------------------------------------------------------------------------


def test_certificate_hours_are_the_counted_hours_of_the_period(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    start, end = date(YEAR - 1, 3, 1), date(YEAR - 1, 3, 31)
    _add(session, volunteer, staff, start, 60)
    _add(session, volunteer, staff, end, 45)
    _add(session, volunteer, staff, start - timedelta(days=1), 600)  # before the period
    _add(session, volunteer, staff, end + timedelta(days=1), 600)  # after it
    wrong = _add(session, volunteer, staff, date(YEAR - 1, 3, 15), 300)
    hours.void_record(session, wrong, actor=staff, reason="录错")
    hours.credit_visit(
        session,
        volunteer_id=volunteer.id,
        visit_id=3,
        served_on=date(YEAR - 1, 3, 10),
        minutes=30,
        content="入户走访",
    )
    certificate = _issue(session, volunteer, staff, start, end)
    assert certificate.minutes == 60 + 45 + 30
    assert certificate.minutes == hours.total_minutes(session, volunteer.id, start=start, end=end)
    assert re.fullmatch(rf"ZM{YEAR}\d{{6}}", certificate.number)
    assert (certificate.name, certificate.id_masked) == (volunteer.name, volunteer.id_masked)
    assert "*" in certificate.id_masked
    assert certificate.volunteer_number == volunteer.number and certificate.issued_on == TODAY
    second = _issue(session, volunteer, staff, start, end)
    assert int(second.number[-6:]) == int(certificate.number[-6:]) + 1
    assert session.exec(
        select(AuditEntry).where(AuditEntry.action == "volunteer.service_certificate_issued")
    ).first()


def test_a_period_without_hours_is_refused(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    _add(session, volunteer, staff, TODAY - timedelta(days=100), 60)
    session.commit()
    with pytest.raises(DomainError) as caught:
        _issue(session, volunteer, staff, TODAY - timedelta(days=10), TODAY)
    assert "nothing to certify" in caught.value.message
    client = _signed_in(app, staff)
    response = post(
        client,
        f"/volunteers/staff/{volunteer.id}/certificates/new",
        {
            "period_start": (TODAY - timedelta(days=10)).isoformat(),
            "period_end": TODAY.isoformat(),
            "content": "服务",
            "issuer": "西屏街道人民政府",
        },
    )
    assert response.status_code == 422
    assert "没有服务时长记录，无法开具证明" in page_text(response)
    assert session.exec(select(Certificate)).first() is None


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (TODAY, TODAY + timedelta(days=1), "period_end"),
        (TODAY, TODAY - timedelta(days=1), "period_start"),
    ],
)
def test_a_wrong_period_is_a_field_error(app, session, start, end, field):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    with pytest.raises(DomainError) as caught:
        _issue(session, volunteer, staff, start, end)
    assert caught.value.field == field


def test_staff_issue_through_the_page_with_defaults(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    _add(session, volunteer, staff, TODAY - timedelta(days=5), 90, "暑期夏令营")
    session.commit()
    client = _signed_in(app, staff)
    url = f"/volunteers/staff/{volunteer.id}/certificates/new"
    form_page = client.get(url).get_data(as_text=True)
    assert "西屏街道人民政府" in form_page and "暑期夏令营" in form_page
    assert "1.5" in form_page
    other_period = client.get(f"{url}?period_start=2001-01-01&period_end=2001-12-31")
    assert "无法开具证明" in page_text(other_period)
    response = post(
        client,
        url,
        {
            "period_start": (TODAY - timedelta(days=30)).isoformat(),
            "period_end": TODAY.isoformat(),
            "content": "参加暑期夏令营志愿服务",
            "issuer": "西屏街道人民政府",
        },
    )
    assert response.status_code == 303
    certificate = session.exec(select(Certificate)).one()
    assert response.headers["Location"].endswith(f"/volunteers/certificates/{certificate.number}")
    assert (certificate.minutes, certificate.issuer) == (90, "西屏街道人民政府")


def test_issue_form_errors_keep_what_was_typed(app, session):
    volunteer = _volunteer(app, session)
    staff = _staff(session)
    _add(session, volunteer, staff, TODAY, 60)
    session.commit()
    client = _signed_in(app, staff)
    response = post(
        client,
        f"/volunteers/staff/{volunteer.id}/certificates/new",
        {
            "period_start": TODAY.isoformat(),
            "period_end": TODAY.isoformat(),
            "content": "我写的内容",
            "issuer": "单" * 61,
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="issuer-error"' in html and "我写的内容" in html


def test_default_issuer_follows_the_staff_members_office(app, session):
    township = _staff(session)
    county = make_user(session, role=Role.COUNTY_STAFF)
    admin = make_user(session, role=Role.ADMIN)
    assert hours.default_issuer(session, township) == "西屏街道人民政府"
    assert hours.default_issuer(session, _staff(session, township_code=GUSHI)) == "古市镇人民政府"
    assert hours.default_issuer(session, county) == "松阳县民政局"
    assert hours.default_issuer(session, admin) == "松阳县民政局"


# The printable certificate ---------------------------------------------------------------------


def test_the_volunteer_sees_their_own_certificate_and_not_anothers(app, session, issued):
    volunteer, staff, certificate = issued
    other = _volunteer(app, session, 2)
    _add(session, other, staff, TODAY, 60)
    theirs = _issue(session, other, staff, TODAY, TODAY)
    session.commit()
    client = _as_volunteer(app, session, volunteer)
    own = client.get(f"/volunteers/certificates/{certificate.number}")
    assert own.status_code == 200
    text = page_text(own)
    assert "志愿服务记录证明" in text and volunteer.name in text
    assert volunteer.id_masked in text and volunteer.number in text
    assert "2.5" in text and "西屏街道人民政府" in text
    assert "/volunteers/certificates/verify" in text and certificate.number in text
    assert client.get(f"/volunteers/certificates/{theirs.number}").status_code == 404
    assert certificate.number in page_text(client.get("/volunteers/me"))
    anonymous = app.test_client().get(f"/volunteers/certificates/{certificate.number}")
    assert anonymous.status_code in (302, 303) and "/auth/login" in anonymous.headers["Location"]


def test_staff_of_another_township_get_404_on_the_certificate(app, session, issued):
    _volunteer_, _staff_, certificate = issued
    other = _signed_in(app, _staff(session, township_code=GUSHI))
    assert other.get(f"/volunteers/certificates/{certificate.number}").status_code == 404
    assert other.get(f"/volunteers/certificates/{certificate.number}/revoke").status_code == 404
    assert (
        post(
            other, f"/volunteers/certificates/{certificate.number}/revoke", {"reason": "x"}
        ).status_code
        == 404
    )
    editor = _signed_in(app, make_user(session, role=Role.EDITOR))
    assert editor.get(f"/volunteers/certificates/{certificate.number}").status_code == 404
    own = _signed_in(app, _staff(session))
    assert own.get(f"/volunteers/certificates/{certificate.number}").status_code == 200


def test_revoking_needs_a_reason_and_shows_everywhere(app, session, issued):
    volunteer, staff, certificate = issued
    client = _signed_in(app, staff)
    url = f"/volunteers/certificates/{certificate.number}/revoke"
    assert client.get(url).status_code == 200
    refused = post(client, url, {"reason": ""})
    assert refused.status_code == 422 and 'id="reason-error"' in refused.get_data(as_text=True)
    assert post(client, url, {"reason": "时长计算有误"}).status_code == 303
    session.expire_all()
    revoked = session.get(Certificate, certificate.id)
    assert revoked.revoked_at is not None and revoked.revoke_reason == "时长计算有误"
    page = page_text(client.get(f"/volunteers/certificates/{certificate.number}"))
    assert "已撤销" in page and "时长计算有误" in page
    answer = page_text(
        app.test_client().get(f"/volunteers/certificates/verify?number={certificate.number}")
    )
    assert "已被撤销" in answer
    with pytest.raises(DomainError):
        hours.revoke_certificate(session, revoked, actor=staff, reason="again")


# Public verification -----------------------------------------------------------------------------


def test_verification_shows_only_masked_name_number_hours_and_date(app, session, issued):
    volunteer, _staff_, certificate = issued
    client = app.test_client()
    response = client.get(f"/volunteers/certificates/verify?number={certificate.number.lower()}")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    text = page_text(response)
    assert "真实有效" in text
    assert "王**" in text and volunteer.number in text and "2.5" in text
    assert f"{TODAY.year}年{TODAY.month}月{TODAY.day}日" in text
    html = response.get_data(as_text=True)
    assert volunteer.name not in html
    assert volunteer.id_masked not in html
    assert volunteer.id_masked[-4:] not in html.replace(certificate.number, "")
    for hidden in (certificate.issuer, certificate.content):
        assert hidden not in html


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("ZM2000999999", "没有编号为 ZM2000999999 的证明"),
        ("abc", "ZM 加 10 位数字"),
        ("ZM12", "ZM 加 10 位数字"),
        ("'; DROP TABLE volunteer;--", "ZM 加 10 位数字"),
        ("Z" * 31, "最多 30 个字"),
        ("   ", "请输入证明编号"),
    ],
)
def test_unknown_or_malformed_numbers_get_a_clear_message(app, session, issued, typed, words):
    response = app.test_client().get(
        "/volunteers/certificates/verify", query_string={"number": typed}
    )
    assert response.status_code == 200
    text = page_text(response)
    assert words in text
    assert "真实有效" not in text and issued[0].number not in text


def test_the_verification_form_is_public_and_shows_no_result_at_first(client):
    response = client.get("/volunteers/certificates/verify")
    assert response.status_code == 200
    assert 'name="number"' in response.get_data(as_text=True)
    assert "真实有效" not in page_text(response)


def test_verification_is_rate_limited(app, session):
    client = app.test_client()
    codes = [
        client.get(f"/volunteers/certificates/verify?number=ZM2026{n:06d}").status_code
        for n in range(31)
    ]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    assert client.get("/volunteers/certificates/verify").status_code == 200  # the empty form


# The Party members' quarterly record --------------------------------------------------------------

PARTY = {
    "political_status": "01",
    "category": "party_member",
    "party_organisation": "县教育局机关党支部",
    "residence_village": "城北社区",
    "report_date": date(2025, 3, 1),
    "employer": "松阳县教育局",
}
QUARTER = (YEAR - 1, 3)  # July to September of last year


def _party_data(app, session):
    staff = _staff(session)
    county_staff = make_user(session, role=Role.COUNTY_STAFF)
    member = _volunteer(app, session, 1, name="李党员", **PARTY)
    probationary = _volunteer(app, session, 2, name="赵预备", **{**PARTY, "political_status": "02"})
    other_employer = _volunteer(
        app, session, 3, name="钱党员", **{**PARTY, "employer": "松阳县卫健局"}
    )
    citizen = _volunteer(app, session, 4, name="孙群众")
    elsewhere = _volunteer(app, session, 5, name="周党员", township_code=GUSHI, **PARTY)
    county = county_staff
    in_quarter, before = date(YEAR - 1, 8, 1), date(YEAR - 1, 6, 30)
    _add(session, member, staff, in_quarter, 120, "课业辅导")
    _add(session, member, staff, date(YEAR - 1, 9, 30), 60, "亲情陪伴")
    _add(session, member, staff, before, 600, "上季度的服务")
    voided = _add(session, member, staff, in_quarter, 300, "作废的服务")
    hours.void_record(session, voided, actor=staff, reason="录错")
    _add(session, probationary, staff, date(YEAR - 1, 7, 1), 30, "预备党员服务")
    _add(session, other_employer, staff, in_quarter, 45, "卫健局党员服务")
    _add(session, citizen, staff, in_quarter, 90, "群众的服务")
    _add(session, elsewhere, county, in_quarter, 60, "古市镇的服务")
    session.commit()
    return staff, county


def _sheet_rows(response) -> list[tuple]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    return [tuple(c for c in row) for row in sheet.iter_rows(values_only=True)]


def test_party_export_lists_only_party_members_of_the_quarter_in_scope(app, session):
    staff, county = _party_data(app, session)
    client = _signed_in(app, staff)
    year, quarter = QUARTER
    page = client.get(f"/volunteers/staff/party-record?year={year}&quarter={quarter}")
    assert page.status_code == 200
    text = page_text(page)
    assert "李党员" in text and "周党员" not in text and "孙群众" not in text
    rows = _sheet_rows(
        client.get(f"/volunteers/staff/party-record.xlsx?year={year}&quarter={quarter}")
    )
    text = repr(rows)
    for present in (
        "李党员",
        "赵预备",
        "钱党员",
        "课业辅导",
        "亲情陪伴",
        "县教育局机关党支部",
        "城北社区",
    ):
        assert present in text, present
    for absent in ("孙群众", "周党员", "上季度的服务", "作废的服务", "群众的服务", "古市镇的服务"):
        assert absent not in text, absent
    member_rows = [r for r in rows if r[1] == "李党员"]
    assert [r[8] for r in member_rows] == [2, 1, 3]  # two records, then the total
    assert "合计" in member_rows[-1][7]
    assert member_rows[0][6] == f"{YEAR - 1}-08-01" and member_rows[0][5] == "2025-03-01"
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "volunteer.party_record_exported")
    ).one()
    assert entry.actor_id == staff.id and entry.detail["members"] == 3

    wide = _sheet_rows(
        _signed_in(app, county).get(
            f"/volunteers/staff/party-record.xlsx?year={year}&quarter={quarter}"
        )
    )
    assert "周党员" in repr(wide) and "孙群众" not in repr(wide)


def test_party_export_by_employer(app, session):
    staff, _county = _party_data(app, session)
    client = _signed_in(app, staff)
    year, quarter = QUARTER
    rows = _sheet_rows(
        client.get(
            "/volunteers/staff/party-record.xlsx",
            query_string={"year": year, "quarter": quarter, "employer": "卫健局"},
        )
    )
    assert "钱党员" in repr(rows) and "李党员" not in repr(rows)


def test_party_export_with_a_wrong_choice_goes_back_to_the_form(app, session):
    client = _signed_in(app, _staff(session))
    response = client.get("/volunteers/staff/party-record.xlsx?year=1999&quarter=5")
    assert (
        response.status_code == 303
        and "/volunteers/staff/party-record?" in response.headers["Location"]
    )
    page = client.get(response.headers["Location"])
    assert "请选择 2000 年至 2100 年之间的年份" in page_text(page)
    assert (
        session.exec(
            select(AuditEntry).where(AuditEntry.action == "volunteer.party_record_exported")
        ).first()
        is None
    )
    empty = client.get(f"/volunteers/staff/party-record?year={YEAR - 5}&quarter=1")
    assert "本季度没有党员的服务记录" in page_text(empty)


def test_typed_text_is_never_a_formula_in_the_export(app, session):
    staff = _staff(session)
    member = _volunteer(app, session, 1, name="李党员", **PARTY)
    _add(session, member, staff, date(YEAR - 1, 8, 1), 60, '=HYPERLINK("http://x")')
    session.commit()
    client = _signed_in(app, staff)
    response = client.get(f"/volunteers/staff/party-record.xlsx?year={YEAR - 1}&quarter=3")
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [
        c for row in sheet.iter_rows() for c in row if c.value and str(c.value).startswith("=")
    ]
    assert cells and all(c.data_type == "s" for c in cells)
