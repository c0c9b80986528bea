"""The pairing area's demo set, loaded by `flask portal demo` after the volunteers' one."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from portal.auth import services as accounts
from portal.auth.models import User
from portal.pairing.models import Child, Pairing, PairingStatus, Visit, VisitStatus
from portal.volunteers.models import ServiceRecord, Volunteer
from tests.conftest import page_text, post

XIPING = "331124001"


@pytest.fixture()
def demo_app(tmp_path, new_app):
    app = new_app(f"sqlite:///{tmp_path / 'demo.db'}")
    app.config["PORTAL_UPLOAD_DIR"] = str(tmp_path / "uploads")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["portal", "init"]).exit_code == 0
    return app


def _demo(app) -> str:
    result = app.test_cli_runner().invoke(args=["portal", "demo"])
    assert result.exit_code == 0, result.output
    return result.output


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Child, Pairing, Visit, ServiceRecord, User, Volunteer)
    }


def test_the_demo_loads_twice_without_adding_anything_the_second_time(demo_app):
    first = _demo(demo_app)
    assert "[pairing] child ET" in first and "[pairing] pairing #" in first
    assert "skipped" not in first
    engine = demo_app.extensions["portal_db"].engine
    with Session(engine) as s:
        before = _counts(s)
    second = _demo(demo_app)
    assert "[pairing]" not in second
    with Session(engine) as s:
        assert _counts(s) == before
        assert before["Child"] == 4


def test_the_demo_is_labelled_and_names_nobody(demo_app):
    _demo(demo_app)
    with Session(demo_app.extensions["portal_db"].engine) as s:
        kids = s.exec(select(Child)).all()
    assert {c.township_code for c in kids} == {XIPING}
    for child in kids:
        assert child.name.startswith("演示·") and child.guardian_name.startswith("演示·")
        assert child.code.startswith("ET")
        assert child.guardian_phone.startswith("199000002")
    assert len({frozenset(c.needs) for c in kids}) == len(kids)
    assert [c.name for c in kids if not c.consent_to_pairing] == ["演示·小禾"]


def test_the_demo_pairing_is_active_with_two_visits_and_hours_credited_once(demo_app):
    _demo(demo_app)
    _demo(demo_app)
    with Session(demo_app.extensions["portal_db"].engine) as s:
        (active,) = s.exec(select(Pairing).where(Pairing.status == PairingStatus.ACTIVE)).all()
        volunteer = s.get(Volunteer, active.volunteer_id)
        assert volunteer.name == "演示·李书记"
        assert s.get(User, volunteer.user_id).phone == "19900000102"
        assert active.consent_by and active.activated_on is not None
        found = s.exec(select(Visit).where(Visit.pairing_id == active.id)).all()
        assert sorted(v.status for v in found) == [VisitStatus.CONFIRMED, VisitStatus.LOGGED]
        (confirmed,) = [v for v in found if v.status == VisitStatus.CONFIRMED]
        credits = s.exec(
            select(ServiceRecord).where(ServiceRecord.source_key.like("visit:%"))
        ).all()
        assert [(c.source_key, c.minutes) for c in credits] == [
            (f"visit:{confirmed.id}", confirmed.minutes)
        ]
        (suggestion,) = s.exec(
            select(Pairing).where(Pairing.status == PairingStatus.SUGGESTED)
        ).all()
        assert suggestion.reasons and suggestion.child_id != active.child_id
        pairing_id = active.id
        # Let the demo volunteer log in (its password is never printed).
        user = s.get(User, volunteer.user_id)
        user.password_hash = accounts.hash_password("demo volunteer phrase")
        s.add(user)
        s.commit()
    client = demo_app.test_client()
    response = post(
        client, "/auth/login", {"login": "19900000102", "password": "demo volunteer phrase"}
    )
    assert response.status_code == 303
    text = page_text(client.get(f"/pairing/mine/{pairing_id}"))
    assert "小雨" in text and "演示村" in text
    assert "19900000201" in text  # the guardian's contact, the pairing being active
