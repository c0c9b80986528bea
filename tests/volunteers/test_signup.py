"""Public sign-up: ID numbers, derived fields, age, uniqueness, every field's bad input, consent."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.core.domain import DomainError
from portal.volunteers import idnumber, services
from portal.volunteers.models import Status, Volunteer
from tests.conftest import page_text, post
from tests.volunteers.conftest import PASSWORD, make_volunteer, signup_data

TODAY = date(2026, 11, 30)
VALID = "11010519491231002X"  # the example of GB 11643-1999


def form(n: int = 1, **overrides) -> dict:
    data = signup_data(n, **overrides)
    data.setdefault("password", PASSWORD)
    data.setdefault("consent", "y")
    return {k: v for k, v in data.items() if v is not None}


def errors_of(response) -> str:
    return page_text(response)


# The ID number ---------------------------------------------------------------------------


def test_a_valid_id_number_gives_birth_date_and_sex():
    parsed = idnumber.parse("resident_id", VALID, today=TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"  # 17th digit 2 is even
    male = idnumber.make_resident_id("331124", date(1990, 2, 3), 11, sex="M")
    assert idnumber.parse("resident_id", male, today=TODAY).sex == "M"


def test_a_lowercase_x_is_accepted_and_stored_upper_case():
    assert idnumber.parse("resident_id", VALID.lower(), today=TODAY).number == VALID


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("110105194912310021", "last character"),  # wrong check character
        ("110105491231002", "15-digit"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100XX", "18 characters"),
        ("990105194912310029", "region"),
        ("110105194913310025", "birth date"),  # month 13
        ("", "Enter the ID number"),
    ],
)
def test_bad_id_numbers_are_refused_with_a_reason(number, words):
    with pytest.raises(DomainError) as refused:
        idnumber.parse("resident_id", number, today=TODAY)
    assert refused.value.field == "id_number"
    assert words in str(refused.value)


def test_a_future_birth_date_is_refused():
    future = idnumber.make_resident_id("331124", date(2027, 1, 1), 11)
    with pytest.raises(DomainError, match="birth date"):
        idnumber.parse("resident_id", future, today=TODAY)


def test_age_counts_whole_years():
    assert idnumber.age_on(date(2008, 12, 1), TODAY) == 17
    assert idnumber.age_on(date(2008, 11, 30), TODAY) == 18


# The page ---------------------------------------------------------------------------------


def test_sign_up_in_chinese_creates_an_account_and_logs_in(client, session):
    page = client.get("/volunteers/signup")
    assert page.status_code == 200
    assert "志愿者" in page_text(page)
    response = post(client, "/volunteers/signup", form())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/volunteers/me")
    volunteer = session.exec(select(Volunteer)).one()
    assert volunteer.number.startswith(f"SY{date.today().year}")
    assert len(volunteer.number) == 12
    assert volunteer.status == Status.APPLIED
    assert volunteer.birth_date == date(1985, 6, 15)
    assert volunteer.privacy_version == services.PRIVACY_VERSION
    assert volunteer.agreement_version == services.AGREEMENT_VERSION
    assert volunteer.consented_at is not None
    user = session.get(User, volunteer.user_id)
    assert user.role == Role.VOLUNTEER and user.phone == "13900000001"
    dashboard = client.get("/volunteers/me")
    assert volunteer.number in page_text(dashboard)
    assert "无犯罪记录证明" in page_text(dashboard)
    assert session.exec(
        select(AuditEntry).where(AuditEntry.action == "volunteer.signed_up")
    ).one().target_id == str(volunteer.id)


def test_a_failed_sign_up_keeps_everything_typed_and_marks_each_wrong_field(client, session):
    bad = form(
        1,
        id_number="110105194912310021",
        mobile="12345",
        village="",
        consent=None,
        employer="松阳县实验小学",
        skills=["tutoring", "law"],
    )
    response = post(client, "/volunteers/signup", bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    text_ = page_text(response)
    assert "最后一位" in text_ or "校验" in text_  # the ID number's check character
    assert "手机号码" in text_
    assert 'value="松阳县实验小学"' in html  # typed text stays
    assert 'value="110105194912310021"' in html
    assert html.count('class="error"') >= 3
    assert 'value="law" checked' in html or "checked" in html
    assert session.exec(select(Volunteer)).first() is None


def test_consent_is_required(client, session):
    response = post(client, "/volunteers/signup", form(consent=None))
    assert response.status_code == 422
    assert "隐私" in page_text(response)
    assert session.exec(select(Volunteer)).first() is None


def test_a_weak_password_is_a_field_error(client, session):
    response = post(client, "/volunteers/signup", form(password="123"))
    assert response.status_code == 422
    assert session.exec(select(Volunteer)).first() is None


def test_applicants_under_18_are_refused_with_an_explanation(client, session):
    young = idnumber.make_resident_id("331124", date(2010, 5, 1), 21)
    response = post(client, "/volunteers/signup", form(id_number=young))
    assert response.status_code == 422
    assert "18" in page_text(response)
    assert session.exec(select(Volunteer)).first() is None


def test_the_mobile_number_must_be_unique(app, client, session):
    with app.test_request_context():
        make_volunteer(session, 1)
    response = post(client, "/volunteers/signup", form(2, mobile="13900000001"))
    assert response.status_code == 422
    assert "已" in page_text(response)
    assert len(session.exec(select(Volunteer)).all()) == 1


def test_the_id_number_must_be_unique(app, client, session):
    with app.test_request_context():
        first = make_volunteer(session, 1)
    again = signup_data(1)["id_number"]
    response = post(client, "/volunteers/signup", form(2, id_number=again))
    assert response.status_code == 422
    assert len(session.exec(select(Volunteer)).all()) == 1
    assert first.id_hash


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "王"),
        ("name", "王" * 21),
        ("name", "Robert'); DROP"),
        ("id_type", "driving_licence"),
        ("mobile", ""),
        ("mobile", "23900000001"),
        ("township_code", ""),
        ("township_code", "331124999"),
        ("village", ""),
        ("village", "村" * 31),
        ("political_status", "14"),
        ("political_status", ""),
        ("category", "celebrity"),
        ("skills", ["juggling"]),
        ("availability", ["never"]),
        ("preferred_township_code", "999999999"),
        ("employer", "单" * 61),
        ("ethnicity", "族" * 11),
    ],
)
def test_every_field_refuses_bad_input_on_that_field(app, session, field, value):
    with app.test_request_context(), pytest.raises(services.InvalidVolunteer) as refused:
        services.validate(session, signup_data(1, **{field: value}), today=TODAY)
    assert field in {p.field for p in refused.value.problems}


def test_other_documents_need_birth_date_and_sex(app, session):
    data = signup_data(1, id_type="passport", id_number="E12345678")
    with app.test_request_context(), pytest.raises(services.InvalidVolunteer) as refused:
        services.validate(session, data, today=TODAY)
    assert {"birth_date", "sex"} <= {p.field for p in refused.value.problems}
    data.update(birth_date=date(1980, 1, 1), sex="M")
    with app.test_request_context():
        checked, parsed = services.validate(session, data, today=TODAY)
    assert parsed.number == "E12345678" and parsed.birth_date == date(1980, 1, 1)


def test_party_members_give_their_reporting_details(app, session):
    data = signup_data(1, political_status="01")
    with app.test_request_context(), pytest.raises(services.InvalidVolunteer) as refused:
        services.validate(session, data, today=TODAY)
    assert {"party_organisation", "residence_village", "report_date"} <= {
        p.field for p in refused.value.problems
    }
    data.update(
        party_organisation="县教育局机关党支部",
        residence_village="城北社区",
        report_date=date(2026, 3, 1),
    )
    with app.test_request_context():
        checked, _parsed = services.validate(session, data, today=TODAY)
    assert checked.party_organisation == "县教育局机关党支部"


def test_party_details_of_a_non_member_are_dropped(app, session):
    data = signup_data(1, political_status="13", party_organisation="某支部")
    with app.test_request_context():
        checked, _parsed = services.validate(session, data, today=TODAY)
    assert checked.party_organisation is None


def test_the_party_fields_are_on_the_page_without_javascript_and_follow_the_choice(client):
    page = page_text(client.get("/volunteers/signup"))
    assert "双报到" in page  # present without JavaScript
    html = client.get("/volunteers/signup").get_data(as_text=True)
    assert 'hx-get="/volunteers/signup/party-fields"' in html
    party = client.get(
        "/volunteers/signup/party-fields?political_status=01", headers={"HX-Request": "true"}
    )
    assert "双报到" in page_text(party)
    other = client.get(
        "/volunteers/signup/party-fields?political_status=13", headers={"HX-Request": "true"}
    )
    assert "双报到" not in page_text(other)
    kept = client.get(
        "/volunteers/signup/party-fields?political_status=02&party_organisation=城东支部",
        headers={"HX-Request": "true"},
    )
    assert 'value="城东支部"' in kept.get_data(as_text=True)


# Identity protection ------------------------------------------------------------------------


def test_the_database_never_holds_the_plain_id_number(app, session):
    with app.test_request_context():
        volunteer = make_volunteer(session, 1)
        plain = signup_data(1)["id_number"]
        assert services.full_id_number(volunteer) == plain
    dump = " ".join(
        str(value)
        for row in session.execute(text("SELECT * FROM volunteer")).all()
        for value in row
    )
    audit_dump = " ".join(
        str(row) for row in session.execute(text("SELECT detail FROM audit_entry")).all()
    )
    assert plain not in dump and plain[6:14] + plain[14:] not in dump
    assert plain not in audit_dump
    assert volunteer.id_masked == plain[:4] + "*" * 10 + plain[-4:]


def test_pages_show_only_the_masked_number(app, client, session):
    from tests.conftest import login, make_user

    with app.test_request_context():
        volunteer = make_volunteer(session, 1)
    plain = signup_data(1)["id_number"]
    volunteer_client = app.test_client()
    login(volunteer_client, session.get(User, volunteer.user_id), PASSWORD)
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code="331124001")
    login(client, staff)
    for c, path in (
        (volunteer_client, "/volunteers/me"),
        (volunteer_client, "/volunteers/me/profile"),
        (volunteer_client, "/volunteers/me/withdraw"),
        (client, f"/volunteers/staff/{volunteer.id}"),
        (client, "/volunteers/staff/"),
    ):
        html = c.get(path).get_data(as_text=True)
        assert plain not in html, path
    assert volunteer.id_masked in client.get(f"/volunteers/staff/{volunteer.id}").get_data(
        as_text=True
    )


def test_numbers_count_up_within_the_year(app, session):
    with app.test_request_context():
        first = make_volunteer(session, 1)
        second = make_volunteer(session, 2)
    assert int(second.number[6:]) == int(first.number[6:]) + 1


def test_sign_up_is_rate_limited_per_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_SIGNUP_RATE_LIMIT", "2 per hour")
    codes = [
        post(client, "/volunteers/signup", form(n, consent=None)).status_code for n in range(3)
    ]
    assert codes[:2] == [422, 422] and codes[2] == 429


def test_a_duplicate_that_slips_past_the_check_is_still_a_field_error(app, session, monkeypatch):
    """Two sign-ups of one person at once both pass the check; the unique index decides."""
    with app.test_request_context():
        make_volunteer(session, 1)
        real = services.validate
        monkeypatch.setattr(
            services, "validate", lambda *a, **k: real(*a, **{**k, "check_unique": False})
        )
        with pytest.raises(services.InvalidVolunteer) as same_id:
            services.sign_up(
                session,
                signup_data(2, id_number=signup_data(1)["id_number"]),
                password=PASSWORD,
                consent=True,
            )
        assert same_id.value.field == "id_number"
        with pytest.raises(services.InvalidVolunteer) as same_mobile:
            services.sign_up(
                session, signup_data(3, mobile="13900000001"), password=PASSWORD, consent=True
            )
        assert same_mobile.value.field == "mobile"
    assert len(session.exec(select(Volunteer)).all()) == 1
