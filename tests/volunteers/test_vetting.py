"""Vetting: certificate upload, township-scoped decisions, yearly expiry and its reminders."""

from __future__ import annotations

import gc
import io
import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.notify.models import OutboxMessage
from portal.timeutil import china_today
from portal.volunteers import services
from portal.volunteers.models import Status, Volunteer
from tests.conftest import login, make_user, page_text, post
from tests.volunteers.conftest import GUSHI, PASSWORD, XIPING, make_volunteer

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture()
def volunteer(app, session):
    with app.test_request_context():
        return make_volunteer(session, 1)


@pytest.fixture()
def volunteer_client(app, session, volunteer):
    c = app.test_client()
    login(c, session.get(User, volunteer.user_id), PASSWORD)
    return c


@pytest.fixture()
def staff(session):
    return make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏督导")


@pytest.fixture()
def staff_client(app, staff):
    c = app.test_client()
    login(c, staff)
    return c


def upload(c, data: bytes, name: str = "cert.pdf"):
    return post(
        c,
        "/volunteers/me/certificate",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def refreshed(session, volunteer) -> Volunteer:
    session.expire_all()
    return session.get(Volunteer, volunteer.id)


def actions(session, volunteer) -> list[str]:
    rows = session.exec(
        select(AuditEntry.action)
        .where(AuditEntry.target_type == "volunteer", AuditEntry.target_id == str(volunteer.id))
        .order_by(AuditEntry.id)
    )
    return list(rows)


def test_uploading_the_certificate_submits_the_application(
    app, session, volunteer, volunteer_client
):
    response = upload(volunteer_client, PDF)
    assert response.status_code == 303
    v = refreshed(session, volunteer)
    assert v.status == Status.SUBMITTED
    assert v.certificate_type == "application/pdf"
    path = Path(app.config["PORTAL_UPLOAD_DIR"]) / "volunteers" / v.certificate_sha256
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert "volunteer.certificate_uploaded" in actions(session, volunteer)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 not a pdf", "PDF"),
        (b"%PDF" + b"x" * (8 * 1024 * 1024), "large"),
    ],
)
def test_a_bad_certificate_file_is_a_clear_error(
    app, session, volunteer, volunteer_client, data, words, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 20 * 1024 * 1024)
    response = upload(volunteer_client, data)
    assert response.status_code == 422
    assert page_text(response)  # the form again, with the error
    assert refreshed(session, volunteer).status == Status.APPLIED
    # The test client spools a large body to a temporary file it leaves to the collector.
    response.close()
    del response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_staff_verify_and_the_file_is_gone(app, session, volunteer, volunteer_client, staff_client):
    upload(volunteer_client, png(), "cert.png")
    sha = refreshed(session, volunteer).certificate_sha256
    page = staff_client.get(f"/volunteers/staff/{volunteer.id}")
    assert page.status_code == 200
    assert "核验" in page_text(page) or "Verify" in page_text(page)
    opened = staff_client.get(f"/volunteers/staff/{volunteer.id}/certificate-file")
    assert opened.status_code == 200
    assert "no-store" in opened.headers["Cache-Control"]
    opened.close()
    check = date.today() - timedelta(days=3)
    response = post(
        staff_client, f"/volunteers/staff/{volunteer.id}/verify", {"check_date": check.isoformat()}
    )
    assert response.status_code == 303
    v = refreshed(session, volunteer)
    assert v.status == Status.VERIFIED
    assert v.check_date == check and v.check_expires == check + timedelta(days=365)
    assert v.certificate_sha256 is None
    assert not (Path(app.config["PORTAL_UPLOAD_DIR"]) / "volunteers" / sha).exists()
    assert actions(session, volunteer)[-2:] == [
        "volunteer.certificate_viewed",
        "volunteer.verified",
    ]
    # Training completes the vetting.
    post(
        staff_client,
        f"/volunteers/staff/{volunteer.id}/training",
        {"training_date": date.today().isoformat()},
    )
    assert refreshed(session, volunteer).status == Status.ACTIVE
    assert services.pairing_refusal(refreshed(session, volunteer)) is None
    keys = list(
        session.exec(select(OutboxMessage.key).where(OutboxMessage.user_id == volunteer.user_id))
    )
    assert any(":verified:" in k for k in keys) and any(k.endswith(":active") for k in keys)


def test_a_check_date_in_the_future_or_over_a_year_old_is_refused(
    session, volunteer, volunteer_client, staff_client
):
    upload(volunteer_client, PDF)
    for day in (china_today() + timedelta(days=1), china_today() - timedelta(days=400)):
        response = post(
            staff_client,
            f"/volunteers/staff/{volunteer.id}/verify",
            {"check_date": day.isoformat()},
        )
        assert response.status_code == 422
    response = post(
        staff_client, f"/volunteers/staff/{volunteer.id}/verify", {"check_date": "0001-01-01"}
    )
    assert response.status_code == 422
    assert refreshed(session, volunteer).status == Status.SUBMITTED


def test_staff_of_another_township_cannot_see_or_act(app, session, volunteer, volunteer_client):
    upload(volunteer_client, PDF)
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
    c = app.test_client()
    login(c, other)
    assert c.get(f"/volunteers/staff/{volunteer.id}").status_code == 404
    assert c.get(f"/volunteers/staff/{volunteer.id}/certificate-file").status_code == 404
    response = post(
        c, f"/volunteers/staff/{volunteer.id}/verify", {"check_date": date.today().isoformat()}
    )
    assert response.status_code == 404
    assert volunteer.number not in page_text(c.get("/volunteers/staff/"))
    assert refreshed(session, volunteer).status == Status.SUBMITTED
    county = make_user(session, role=Role.COUNTY_STAFF)
    c2 = app.test_client()
    login(c2, county)
    assert volunteer.number in page_text(c2.get("/volunteers/staff/"))


def test_the_staff_list_filters_and_searches(app, session, staff_client):
    with app.test_request_context():
        a = make_volunteer(session, 1, name="赵一")
        b = make_volunteer(session, 2, name="钱二", village="东门村")
        make_volunteer(session, 3, name="孙三", township_code=GUSHI)
    found = page_text(staff_client.get("/volunteers/staff/?q=钱"))
    assert b.number in found and a.number not in found
    assert b.number in page_text(staff_client.get("/volunteers/staff/?q=东门"))
    assert a.number in page_text(staff_client.get(f"/volunteers/staff/?q={a.number}"))
    assert a.number in page_text(staff_client.get("/volunteers/staff/?q=13900000001"))
    assert "孙三" not in page_text(staff_client.get("/volunteers/staff/?q=孙"))
    empty = staff_client.get("/volunteers/staff/?status=active")
    assert a.number not in page_text(empty)
    partial = staff_client.get("/volunteers/staff/?q=钱", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True) and b.number in page_text(partial)


@pytest.mark.parametrize("action", ["reject", "suspend", "return"])
def test_a_decision_needs_a_reason(session, volunteer, volunteer_client, staff_client, action):
    upload(volunteer_client, PDF)
    if action == "suspend":
        post(
            staff_client,
            f"/volunteers/staff/{volunteer.id}/verify",
            {"check_date": date.today().isoformat()},
        )
    response = post(staff_client, f"/volunteers/staff/{volunteer.id}/{action}", {"reason": "  "})
    assert response.status_code == 422


def test_return_reject_suspend_and_reinstate(session, volunteer, volunteer_client, staff_client):
    upload(volunteer_client, PDF)
    post(staff_client, f"/volunteers/staff/{volunteer.id}/return", {"reason": "照片看不清"})
    v = refreshed(session, volunteer)
    assert v.status == Status.APPLIED and v.certificate_sha256 is None
    upload(volunteer_client, PDF)
    post(
        staff_client,
        f"/volunteers/staff/{volunteer.id}/verify",
        {"check_date": date.today().isoformat(), "training_date": date.today().isoformat()},
    )
    assert refreshed(session, volunteer).status == Status.ACTIVE
    post(staff_client, f"/volunteers/staff/{volunteer.id}/suspend", {"reason": "家长投诉，待核实"})
    v = refreshed(session, volunteer)
    assert v.status == Status.SUSPENDED and v.status_reason == "家长投诉，待核实"
    assert services.pairing_refusal(v) is not None
    post(staff_client, f"/volunteers/staff/{volunteer.id}/reinstate")
    assert refreshed(session, volunteer).status == Status.ACTIVE
    assert actions(session, volunteer)[-3:] == [
        "volunteer.verified",
        "volunteer.suspended",
        "volunteer.reinstated",
    ]


def test_the_workspace_counts_what_waits(
    app, session, volunteer, volunteer_client, staff, staff_client
):
    assert services.waiting_count(session, staff) == 0
    upload(volunteer_client, PDF)
    assert services.waiting_count(session, staff) == 1
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
    assert services.waiting_count(session, other) == 0
    assert "1" in page_text(staff_client.get("/workspace"))


# Expiry, with time travel -------------------------------------------------------------------


def _active(session, volunteer, staff, check: date) -> Volunteer:
    v = refreshed(session, volunteer)
    v.status = Status.ACTIVE
    v.check_date, v.check_expires = check, check + timedelta(days=365)
    v.training_date = check
    session.add(v)
    session.commit()
    return v


def test_reminders_30_and_7_days_before_and_at_expiry_each_once(app, session, volunteer, staff):
    v = _active(session, volunteer, staff, date(2025, 12, 1))
    expires = v.check_expires  # 2026-12-01
    with app.app_context():
        assert services.vetting_reminders(session, today=expires - timedelta(days=31)) == {
            "reminded": 0,
            "expired": 0,
        }
        assert (
            services.vetting_reminders(session, today=expires - timedelta(days=30))["reminded"] == 1
        )
        assert (
            services.vetting_reminders(session, today=expires - timedelta(days=29))["reminded"] == 0
        )
        assert (
            services.vetting_reminders(session, today=expires - timedelta(days=7))["reminded"] == 1
        )
        assert (
            services.vetting_reminders(session, today=expires - timedelta(days=2))["reminded"] == 0
        )
        assert services.vetting_reminders(session, today=expires)["expired"] == 1
        assert (
            services.vetting_reminders(session, today=expires + timedelta(days=1))["expired"] == 0
        )
    session.commit()
    # One message per channel (in-app and SMS) under one key: count the keys.
    keys = set(session.exec(select(OutboxMessage.key).where(OutboxMessage.user_id == v.user_id)))
    assert sum("check-expiring" in k for k in keys) == 2
    assert sum("check-expired" in k for k in keys) == 1
    staff_keys = list(
        session.exec(select(OutboxMessage.key).where(OutboxMessage.user_id == staff.id))
    )
    assert len(staff_keys) == 1 and "staff-expired" in staff_keys[0]
    assert services.pairing_refusal(v, expires) is not None
    assert services.pairing_refusal(v, expires - timedelta(days=1)) is None


def test_a_missed_day_still_sends_the_nearest_reminder_once(app, session, volunteer, staff):
    v = _active(session, volunteer, staff, date(2025, 12, 1))
    with app.app_context():
        # The scheduler was down from 30 to 20 days before: the 30-day reminder goes out late.
        assert (
            services.vetting_reminders(session, today=v.check_expires - timedelta(days=20))[
                "reminded"
            ]
            == 1
        )
        assert (
            services.vetting_reminders(session, today=v.check_expires - timedelta(days=19))[
                "reminded"
            ]
            == 0
        )


def test_the_scheduler_job_runs_the_reminders(app, session, volunteer, staff, time_machine):
    from portal.volunteers import jobs

    v = _active(session, volunteer, staff, date(2025, 12, 1))
    time_machine.move_to("2026-11-24T01:00:00+00:00", tick=False)  # 7 days before, China morning
    with app.app_context():
        assert jobs.vetting() == {"reminded": 1, "expired": 0}
    assert v.check_expires == date(2026, 12, 1)


def test_a_renewed_check_gets_its_own_reminders(
    app, session, volunteer, volunteer_client, staff, staff_client
):
    v = _active(session, volunteer, staff, date(2025, 12, 1))
    with app.app_context():
        services.vetting_reminders(session, today=date(2026, 11, 1))
    session.commit()
    upload(volunteer_client, PDF)
    assert refreshed(session, volunteer).status == Status.ACTIVE  # stays active while renewing
    post(
        staff_client,
        f"/volunteers/staff/{volunteer.id}/verify",
        {"check_date": date.today().isoformat()},
    )
    v = refreshed(session, volunteer)
    assert v.check_expires == date.today() + timedelta(days=365)
    with app.app_context():
        assert (
            services.vetting_reminders(session, today=v.check_expires - timedelta(days=30))[
                "reminded"
            ]
            == 1
        )


# The volunteer's own changes ------------------------------------------------------------------


def test_changing_a_key_field_sends_the_profile_back(
    app, session, volunteer, volunteer_client, staff
):
    _active(session, volunteer, staff, date.today() - timedelta(days=10))
    page = volunteer_client.get("/volunteers/me/profile")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="王小明"' in html
    data = services.current_values(
        refreshed(session, volunteer), session.get(User, volunteer.user_id)
    )
    form = {
        k: ("" if v is None else v.isoformat() if isinstance(v, date) else v)
        for k, v in data.items()
    }
    form["id_number"] = ""
    form["skills"] = ["tutoring", "law"]
    response = post(volunteer_client, "/volunteers/me/profile", form)
    assert response.status_code == 303
    v = refreshed(session, volunteer)
    assert v.status == Status.ACTIVE and v.skills == ["tutoring", "law"]
    form["township_code"] = GUSHI
    post(volunteer_client, "/volunteers/me/profile", form)
    v = refreshed(session, volunteer)
    assert v.status == Status.SUBMITTED and v.township_code == GUSHI
    assert services.pairing_refusal(v) is not None
    assert (
        services.waiting_count(
            session, make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
        )
        == 1
    )


def test_withdrawal_erases_the_id_number_and_closes_the_account(
    app, session, volunteer, volunteer_client
):
    page = volunteer_client.get("/volunteers/me/withdraw")
    assert "身份证件号码" in page_text(page) or "identity document number" in page_text(page)
    refused = post(volunteer_client, "/volunteers/me/withdraw", {})
    assert refused.status_code == 200 and refreshed(session, volunteer).status == Status.APPLIED
    response = post(volunteer_client, "/volunteers/me/withdraw", {"confirm": "y"})
    assert response.status_code == 303
    v = refreshed(session, volunteer)
    assert v.status == Status.WITHDRAWN and v.id_cipher is None and v.id_hash is None
    assert v.id_masked and v.number
    user = session.get(User, v.user_id)
    assert not user.is_active and user.phone is None
    assert volunteer_client.get("/volunteers/me").status_code in (302, 303)
    with app.test_request_context():
        again = make_volunteer(session, 1)  # the same person may sign up again later
    assert again.number != v.number
