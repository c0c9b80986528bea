"""The staff pairing flow: suggestions, hard limits, overrides, the volunteer's answer, consent,
closure and the buffer, township scoping, and the race for one child."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.pairing import services
from portal.pairing.models import Child, Pairing, PairingStatus
from portal.timeutil import china_today
from portal.volunteers.models import Status, Volunteer
from tests.conftest import login, make_user, page_text, post, reset_schema
from tests.volunteers.conftest import GUSHI, XIPING, make_volunteer

TODAY = china_today()
_codes = iter(range(1, 10_000))


def child(session, township: str = XIPING, **overrides) -> Child:
    n = next(_codes)
    fields = dict(
        code=f"ET{TODAY.year}{n:06d}",
        name="李小花",
        sex="F",
        birth_date=TODAY - timedelta(days=365 * 9),
        township_code=township,
        village="城北社区",
        guardian_name="李奶奶",
        guardian_relation="grandparent",
        guardian_phone="13800000000",
        needs=["study"],
        consent_by="李奶奶",
        consent_relation="grandparent",
        consent_on=TODAY - timedelta(days=3),
        consent_method="written",
        consent_to_pairing=True,
    )
    fields.update(overrides)
    if "created_by" not in fields:
        creator = session.exec(select(User).where(User.role == Role.TOWNSHIP_STAFF)).first()
        creator = creator or make_user(session, role=Role.TOWNSHIP_STAFF, township_code=township)
        fields["created_by"] = creator.id
    row = Child(**fields)
    session.add(row)
    session.commit()
    return row


def active_volunteer(app, session, n: int, **overrides) -> Volunteer:
    with app.test_request_context():
        volunteer = make_volunteer(session, n, **overrides)
    volunteer.status = Status.ACTIVE
    volunteer.check_date = TODAY - timedelta(days=10)
    volunteer.check_expires = volunteer.check_date + timedelta(days=365)
    volunteer.training_date = TODAY - timedelta(days=5)
    session.add(volunteer)
    session.commit()
    return volunteer


@pytest.fixture()
def staff(session):
    return make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏督导")


@pytest.fixture()
def staff_client(app, staff):
    c = app.test_client()
    login(c, staff)
    return c


def refreshed(session, row):
    session.expire_all()
    return session.get(type(row), row.id)


def test_suggestions_come_with_reasons_that_add_up(app, session, staff, staff_client):
    kid = child(session, needs=["study", "life"])
    volunteer = active_volunteer(app, session, 1, skills=["tutoring", "care"], village="城北社区")
    response = post(staff_client, "/pairing/suggest", {"township": XIPING})
    assert response.status_code == 303
    (row,) = session.exec(select(Pairing)).all()
    assert (row.child_id, row.volunteer_id, row.status) == (
        kid.id,
        volunteer.id,
        PairingStatus.SUGGESTED,
    )
    assert row.score == sum(r["points"] for r in row.reasons) > 0
    page = page_text(staff_client.get(f"/pairing/?township={XIPING}"))
    assert kid.code in page and volunteer.number in page
    assert str(row.score) in page_text(staff_client.get(f"/pairing/{row.id}"))


def test_no_volunteer_without_a_valid_check_is_suggested(app, session, staff, staff_client):
    child(session)
    expired = active_volunteer(app, session, 1)
    expired.check_expires = TODAY
    session.add(expired)
    session.commit()
    active_volunteer(app, session, 2, township_code=GUSHI)  # another township
    post(staff_client, "/pairing/suggest", {"township": XIPING})
    assert session.exec(select(Pairing)).all() == []


def test_the_whole_flow_to_active_and_closed(app, session, staff, staff_client):
    kid = child(session)
    volunteer = active_volunteer(app, session, 1)
    post(staff_client, "/pairing/suggest", {"township": XIPING})
    (row,) = session.exec(select(Pairing)).all()
    assert post(staff_client, f"/pairing/{row.id}/accept").status_code == 303
    assert refreshed(session, row).status == PairingStatus.PROPOSED
    vuser = session.get(User, volunteer.user_id)
    with app.test_request_context():
        services.answer(session, refreshed(session, row), user=vuser, accept=True)
    session.commit()
    assert refreshed(session, row).status == PairingStatus.AWAITING_CONSENT
    bad = post(
        staff_client,
        f"/pairing/{row.id}/consent",
        {"consent_by": "李", "consent_on": TODAY.isoformat(), "consent_method": "written"},
    )
    assert bad.status_code == 422
    ok = post(
        staff_client,
        f"/pairing/{row.id}/consent",
        {"consent_by": "李奶奶", "consent_on": TODAY.isoformat(), "consent_method": "in_person"},
    )
    assert ok.status_code == 303
    row = refreshed(session, row)
    assert row.status == PairingStatus.ACTIVE and row.activated_on == TODAY
    refused = post(staff_client, f"/pairing/{row.id}/close", {"close_reason": "misconduct"})
    assert refused.status_code == 422  # misconduct needs a note
    post(
        staff_client,
        f"/pairing/{row.id}/close",
        {"close_reason": "parents_returned", "close_note": ""},
    )
    row = refreshed(session, row)
    assert row.status == PairingStatus.CLOSED and row.close_reason == "parents_returned"
    kid = refreshed(session, kid)
    assert kid.available_from == TODAY + timedelta(days=14)
    actions = list(
        session.exec(select(AuditEntry.action).where(AuditEntry.target_type == "pairing"))
    )
    assert actions == [
        "pairing.accepted",
        "pairing.volunteer_accepted",
        "pairing.consent",
        "pairing.closed",
    ]


def test_the_buffer_keeps_a_child_out_of_suggestions_and_by_hand_needs_a_reason(
    app, session, staff, staff_client
):
    kid = child(session, available_from=TODAY + timedelta(days=5))
    volunteer = active_volunteer(app, session, 1)
    post(staff_client, "/pairing/suggest", {"township": XIPING})
    assert session.exec(select(Pairing)).all() == []
    data = {"child_id": str(kid.id), "volunteer_id": str(volunteer.id)}
    refused = post(staff_client, f"/pairing/by-hand?township={XIPING}", data)
    assert refused.status_code == 422
    assert session.exec(select(Pairing)).all() == []
    ok = post(
        staff_client,
        f"/pairing/by-hand?township={XIPING}",
        {**data, "override_reason": "监护人请求尽快恢复帮扶"},
    )
    assert ok.status_code == 303
    (row,) = session.exec(select(Pairing)).all()
    assert row.by_hand and row.override_reason and row.status == PairingStatus.PROPOSED


def test_by_hand_never_overrides_vetting_capacity_or_a_second_pairing(app, session, staff):
    kid = child(session)
    other_kid = child(session)
    volunteer = active_volunteer(app, session, 1)
    unvetted = active_volunteer(app, session, 2)
    unvetted.status = Status.VERIFIED
    session.add(unvetted)
    session.commit()
    with app.test_request_context():
        with pytest.raises(services.PairingError):
            services.pair_by_hand(
                session, actor=staff, child=kid, volunteer=unvetted, override_reason="急需"
            )
        services.pair_by_hand(session, actor=staff, child=kid, volunteer=volunteer)
        with pytest.raises(services.PairingError, match="as many children"):
            services.pair_by_hand(
                session, actor=staff, child=other_kid, volunteer=volunteer, override_reason="x"
            )
        second = active_volunteer(app, session, 3)
        with pytest.raises(services.PairingError, match="open pairing"):
            services.pair_by_hand(
                session, actor=staff, child=kid, volunteer=second, override_reason="x"
            )
        services.set_capacity(
            session, volunteer, actor=staff, capacity=2, reason="退休教师，时间充裕"
        )
        services.pair_by_hand(session, actor=staff, child=other_kid, volunteer=volunteer)
    assert len(session.exec(select(Pairing).where(Pairing.volunteer_id == volunteer.id)).all()) == 2


def test_another_township_cannot_see_or_decide(app, session, staff, staff_client):
    child(session)
    active_volunteer(app, session, 1)
    post(staff_client, "/pairing/suggest", {"township": XIPING})
    (row,) = session.exec(select(Pairing)).all()
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
    c = app.test_client()
    login(c, other)
    assert c.get(f"/pairing/{row.id}").status_code == 404
    assert post(c, f"/pairing/{row.id}/accept").status_code == 404
    assert refreshed(session, row).status == PairingStatus.SUGGESTED
    # A township staff member's own township is the only one they can ask about.
    post(c, "/pairing/suggest", {"township": XIPING})
    assert refreshed(session, row).status == PairingStatus.SUGGESTED
    volunteer_client = app.test_client()
    login(volunteer_client, make_user(session, role=Role.VOLUNTEER))
    assert volunteer_client.get(f"/pairing/{row.id}").status_code == 403


def test_two_suggestions_for_one_child_give_one_pairing(app, session, staff):
    kid = child(session)
    a = active_volunteer(app, session, 1)
    b = active_volunteer(app, session, 2)
    first = Pairing(child_id=kid.id, volunteer_id=a.id, township_code=XIPING, created_by=staff.id)
    second = Pairing(child_id=kid.id, volunteer_id=b.id, township_code=XIPING, created_by=staff.id)
    session.add_all([first, second])
    session.commit()
    with app.test_request_context():
        services.accept(session, first, actor=staff)
        with pytest.raises(services.PairingError):
            services.accept(session, second, actor=staff)


@pytest.fixture()
def real_app(scratch_database, new_app):
    reset_schema(scratch_database)
    return new_app(scratch_database)


def test_two_staff_pairing_the_same_child_at_once_give_one_pairing(real_app):
    """Both pass the checks before either commits; the partial unique index decides."""
    db = real_app.extensions["portal_db"]
    with Session(db.engine) as s:
        staff = User(
            name="督导",
            role=Role.TOWNSHIP_STAFF,
            township_code=XIPING,
            phone="13700000001",
            password_hash="x",
        )
        s.add(staff)
        s.commit()
        kid = child(s)
        ids = []
        with real_app.test_request_context():
            for n in (1, 2):
                v = active_volunteer(real_app, s, n)
                ids.append(v.id)
        staff_id, kid_id = staff.id, kid.id
    from portal.extensions import db as portal_db

    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def pair(volunteer_id: int) -> None:
        # As two POST requests: on SQLite the second writer waits for the first (IMMEDIATE)
        # and then sees its pairing; on PostgreSQL both pass the check and the index decides.
        barrier.wait()
        with real_app.test_request_context(), portal_db.new_session() as s:
            actor = s.get(User, staff_id)
            the_child = s.get(Child, kid_id)
            volunteer = s.get(Volunteer, volunteer_id)
            try:
                services.pair_by_hand(s, actor=actor, child=the_child, volunteer=volunteer)
                s.commit()
                outcomes.append("paired")
            except services.PairingError:
                s.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=pair, args=(vid,)) for vid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(db.engine) as s:
        open_rows = s.exec(
            select(Pairing).where(
                Pairing.child_id == kid_id,
                Pairing.status.in_(["proposed", "awaiting_consent", "active"]),
            )
        ).all()
    assert len(open_rows) == 1
    assert outcomes.count("paired") == 1


@pytest.mark.parametrize(
    ("name", "given"), [("李小花", "小花"), ("演示·小雨", "小雨"), ("阿依古丽·买买提", "买买提")]
)
def test_volunteers_see_the_given_name_only(name, given):
    assert services.first_name(Child(name=name)) == given
