"""Visits: logging and its checks, confirmation crediting hours once, returns and corrections,
township scoping, gap reminders and escalation, safety alerts, and what the volunteer sees."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from portal.audit import AuditEntry
from portal.auth.models import Role, User
from portal.core.domain import DomainError, NotFound
from portal.notify import OutboxMessage
from portal.pairing import visits
from portal.pairing.models import Pairing, PairingStatus, Visit, VisitStatus
from portal.timeutil import china_today
from portal.volunteers.models import ServiceRecord
from tests.conftest import login, make_user, page_text, post
from tests.pairing.conftest import GUSHI, XIPING, make_child
from tests.volunteers.conftest import make_volunteer

TODAY = china_today()


# Helpers ------------------------------------------------------------------------------------


def _volunteer(app, session, n: int = 1, **overrides):
    with app.test_request_context():
        return make_volunteer(session, n, **overrides)


def _account(session, volunteer) -> User:
    return session.get(User, volunteer.user_id)


def _pairing(
    session,
    child,
    volunteer,
    *,
    status=PairingStatus.ACTIVE,
    activated_on: date | None = None,
    township: str | None = None,
) -> Pairing:
    staff = make_user(session, role=Role.COUNTY_STAFF, name="配对人")
    if status == PairingStatus.ACTIVE and activated_on is None:
        activated_on = TODAY - timedelta(days=20)
    pairing = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=township or child.township_code,
        status=status,
        activated_on=activated_on,
        created_by=staff.id,
    )
    session.add(pairing)
    session.commit()
    return pairing


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _form(**changes) -> dict:
    data = {
        "visited_on": (TODAY - timedelta(days=2)).isoformat(),
        "mode": "home",
        "minutes": "60",
        "condition_study": "作业按时完成",
        "condition_life": "",
        "condition_psych": "想念妈妈",
        "condition_safety": "",
        "help_given": ["tutoring", "counselling"],
        "help_note": "",
        "problems": "",
        "follow_up": "下周电话",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _values(**changes) -> dict:
    values = {
        "visited_on": TODAY - timedelta(days=2),
        "mode": "phone",
        "minutes": 30,
        "help_given": [],
        "safety_concern": False,
    }
    values.update(changes)
    return values


@pytest.fixture()
def paired(app, session):
    """An active pairing in Xiping, its volunteer signed in, and the township's staff."""
    child = make_child(
        session,
        name="李小花",
        birth_date=date(TODAY.year - 9, 3, 15),
        school="西屏实验小学",
        notes="父母离异，避免提起",
        parents_work_city="义乌",
        needs=["study", "psych"],
    )
    volunteer = _volunteer(app, session)
    pairing = _pairing(session, child, volunteer)
    staff = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏督导")
    return {
        "child": child,
        "volunteer": volunteer,
        "user": _account(session, volunteer),
        "pairing": pairing,
        "staff": staff,
        "client": _signed_in(app, _account(session, volunteer)),
    }


def _visits(session, pairing) -> list[Visit]:
    session.expire_all()
    return list(session.exec(select(Visit).where(Visit.pairing_id == pairing.id)))


def _credits(session, visit) -> list[ServiceRecord]:
    session.expire_all()
    return list(
        session.exec(select(ServiceRecord).where(ServiceRecord.source_key == f"visit:{visit.id}"))
    )


def _outbox(session, prefix: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage).where(
                OutboxMessage.key.startswith(prefix), OutboxMessage.channel == "inapp"
            )
        )
    )


def _log(app, session, paired, **changes) -> Visit:
    with app.test_request_context():
        visit = visits.log(
            session, paired["pairing"], user=paired["user"], values=_values(**changes)
        )
    session.commit()
    return visit


# Logging ------------------------------------------------------------------------------------


def test_volunteer_logs_a_visit_on_the_phone_page(session, paired):
    client, pairing = paired["client"], paired["pairing"]
    url = f"/pairing/mine/{pairing.id}/visits/new"
    page = client.get(url)
    assert page.status_code == 200
    text = page_text(page)
    assert "记录一次帮扶" in text and "入户走访" in text and "心理疏导" in text
    assert f'value="{TODAY.isoformat()}"' in page.get_data(as_text=True)  # today by default
    response = post(client, url, _form())
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/pairing/mine/{pairing.id}")
    (visit,) = _visits(session, pairing)
    assert visit.status == VisitStatus.LOGGED
    assert (visit.mode, visit.minutes) == ("home", 60)
    assert visit.help_given == ["tutoring", "counselling"]
    assert visit.condition_study == "作业按时完成" and visit.condition_life is None
    assert not visit.safety_concern
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "visit.logged")).one()
    assert entry.target_id == str(visit.id) and entry.actor_id == paired["user"].id
    shown = page_text(client.get(f"/pairing/mine/{pairing.id}"))
    assert "已记录" in shown and "等待确认" in shown


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"visited_on": (TODAY + timedelta(days=1)).isoformat()}, "visited_on", "不能是将来"),
        ({"visited_on": (TODAY - timedelta(days=21)).isoformat()}, "visited_on", "配对生效"),
        ({"visited_on": "1999-12-31"}, "visited_on", "2000"),
        ({"visited_on": ""}, "visited_on", "日期"),
        ({"mode": None}, "mode", "联系方式"),
        ({"mode": "letter"}, "mode", "联系方式"),
        ({"minutes": ""}, "minutes", "分钟"),
        ({"minutes": "4"}, "minutes", "5"),
        ({"minutes": "721"}, "minutes", "720"),
        ({"minutes": "一小时"}, "minutes", "整数"),
        ({"help_given": ["goods", "money"]}, "help_given", "列表"),
        ({"condition_study": "字" * 201}, "condition_study", "200"),
        ({"problems": "字" * 501}, "problems", "500"),
        ({"safety_concern": "y", "condition_safety": ""}, "condition_safety", "安全问题"),
    ],
)
def test_bad_visits_are_field_errors_that_keep_what_was_typed(
    session, paired, changes, field, message
):
    client, pairing = paired["client"], paired["pairing"]
    response = post(client, f"/pairing/mine/{pairing.id}/visits/new", _form(**changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    error = html.split(f'id="{field}-error">', 1)[1].split("<", 1)[0]
    assert message in error
    assert "下周电话" in html  # what was typed stays
    assert _visits(session, pairing) == []


def test_full_width_minutes_are_read(session, paired):
    response = post(
        paired["client"], f"/pairing/mine/{paired['pairing'].id}/visits/new", _form(minutes="４５")
    )
    assert response.status_code == 303
    assert _visits(session, paired["pairing"])[0].minutes == 45


@pytest.mark.parametrize(
    "status", [PairingStatus.PROPOSED, PairingStatus.AWAITING_CONSENT, PairingStatus.CLOSED]
)
def test_visits_only_for_an_active_pairing(app, session, status):
    child = make_child(session)
    volunteer = _volunteer(app, session)
    pairing = _pairing(session, child, volunteer, status=status, activated_on=TODAY)
    user = _account(session, volunteer)
    client = _signed_in(app, user)
    url = f"/pairing/mine/{pairing.id}/visits/new"
    assert client.get(url).status_code == 303
    response = post(client, url, _form(visited_on=TODAY.isoformat()), follow_redirects=True)
    assert "只有生效的配对" in page_text(response)
    assert _visits(session, pairing) == []
    with app.test_request_context(), pytest.raises(DomainError):
        visits.log(session, pairing, user=user, values=_values(visited_on=TODAY))


def test_only_the_paired_volunteer_can_log(app, session, paired):
    other = _volunteer(app, session, 2)
    client = _signed_in(app, _account(session, other))
    url = f"/pairing/mine/{paired['pairing'].id}/visits/new"
    assert client.get(url).status_code == 404
    assert post(client, url, _form()).status_code == 404
    with app.test_request_context(), pytest.raises(NotFound):
        visits.log(session, paired["pairing"], user=_account(session, other), values=_values())
    staff_client = _signed_in(app, paired["staff"])
    assert staff_client.get(url).status_code == 403
    assert _visits(session, paired["pairing"]) == []


# Confirmation and hours ---------------------------------------------------------------------


def test_confirming_credits_the_hours_once(app, session, paired):
    visit = _log(app, session, paired, minutes=90)
    staff_client = _signed_in(app, paired["staff"])
    page = staff_client.get(f"/pairing/visits/{visit.id}")
    assert page.status_code == 200 and "确认这次帮扶" in page_text(page)
    response = post(staff_client, f"/pairing/visits/{visit.id}/confirm", follow_redirects=True)
    assert response.status_code == 200 and "1.5" in page_text(response)
    (record,) = _credits(session, visit)
    assert (record.minutes, record.kind, record.content) == (90, "visit", "帮扶走访")
    assert record.volunteer_id == paired["volunteer"].id
    assert record.served_on == visit.visited_on
    again = post(staff_client, f"/pairing/visits/{visit.id}/confirm", follow_redirects=True)
    assert "已经确认" in page_text(again)
    assert len(_credits(session, visit)) == 1
    session.expire_all()
    confirmed = session.get(Visit, visit.id)
    assert confirmed.status == VisitStatus.CONFIRMED
    assert confirmed.confirmed_by == paired["staff"].id
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.target_id == str(visit.id))
    ).all()
    assert "visit.confirmed" in actions
    mine = page_text(paired["client"].get(f"/pairing/mine/{paired['pairing'].id}"))
    assert "已确认" in mine and "1.5" in mine


def test_a_returned_visit_is_corrected_resent_and_credited_once(app, session, paired):
    visit = _log(app, session, paired, minutes=40)
    staff_client = _signed_in(app, paired["staff"])
    bad = post(staff_client, f"/pairing/visits/{visit.id}/return", {"comment": " "})
    assert bad.status_code == 422
    response = post(
        staff_client, f"/pairing/visits/{visit.id}/return", {"comment": "时长填错了，请核对"}
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.RETURNED
    assert _credits(session, visit) == []
    # The returned visit cannot be confirmed before it is corrected.
    post(staff_client, f"/pairing/visits/{visit.id}/confirm")
    assert _credits(session, visit) == []
    (told,) = _outbox(session, f"pairing-visit:{visit.id}:returned:")
    assert told.user_id == paired["user"].id and "时长填错了" in told.body

    client = paired["client"]
    mine = page_text(client.get(f"/pairing/mine/{paired['pairing'].id}"))
    assert "时长填错了，请核对" in mine and "修改后重新提交" in mine
    edit = client.get(f"/pairing/mine/visits/{visit.id}/edit")
    assert edit.status_code == 200 and 'value="40"' in edit.get_data(as_text=True)
    wrong = post(client, f"/pairing/mine/visits/{visit.id}/edit", _form(minutes="0"))
    assert wrong.status_code == 422
    resent = post(client, f"/pairing/mine/visits/{visit.id}/edit", _form(minutes="50"))
    assert resent.status_code == 303
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.LOGGED
    # Only a returned visit can be edited.
    assert client.get(f"/pairing/mine/visits/{visit.id}/edit").status_code == 303

    post(staff_client, f"/pairing/visits/{visit.id}/confirm")
    post(staff_client, f"/pairing/visits/{visit.id}/confirm")
    (record,) = _credits(session, visit)
    assert record.minutes == 50
    actions = session.exec(
        select(AuditEntry.action)
        .where(AuditEntry.target_type == "pairing_visit", AuditEntry.target_id == str(visit.id))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["visit.logged", "visit.returned", "visit.resubmitted", "visit.confirmed"]


def test_confirming_twice_in_the_service_credits_once(app, session, paired):
    visit = _log(app, session, paired)
    with app.test_request_context():
        visits.confirm(session, visit, actor=paired["staff"])
        with pytest.raises(DomainError):
            visits.confirm(session, visit, actor=paired["staff"])
    session.commit()
    assert len(_credits(session, visit)) == 1


def test_staff_of_another_township_get_404(app, session, paired):
    visit = _log(app, session, paired)
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI, name="古市督导")
    client = _signed_in(app, other)
    assert client.get(f"/pairing/visits/{visit.id}").status_code == 404
    assert post(client, f"/pairing/visits/{visit.id}/confirm").status_code == 404
    assert post(client, f"/pairing/visits/{visit.id}/return", {"comment": "x"}).status_code == 404
    listing = client.get("/pairing/visits/")
    assert listing.status_code == 200 and "没有等待确认的帮扶记录" in page_text(listing)
    assert _credits(session, visit) == []
    session.expire_all()
    assert session.get(Visit, visit.id).status == VisitStatus.LOGGED
    # Their own township's staff and county staff see it.
    own = page_text(_signed_in(app, paired["staff"]).get("/pairing/visits/"))
    assert "李小花" in own and paired["volunteer"].number in own
    county = make_user(session, role=Role.COUNTY_STAFF, name="县民政")
    assert _signed_in(app, county).get(f"/pairing/visits/{visit.id}").status_code == 200


def test_staff_list_filters_by_status_and_pages(app, session, paired):
    app.config["PORTAL_PAGE_SIZE"], size = 2, app.config["PORTAL_PAGE_SIZE"]
    try:
        for days in (1, 2, 3):
            _log(app, session, paired, visited_on=TODAY - timedelta(days=days))
        client = _signed_in(app, paired["staff"])
        first = client.get("/pairing/visits/")
        assert "3 次帮扶" in page_text(first)
        assert 'rel="next"' in first.get_data(as_text=True)
        assert client.get("/pairing/visits/?page=2").status_code == 200
        confirmed = client.get("/pairing/visits/?status=confirmed")
        assert "没有符合" in page_text(confirmed)
        assert client.get("/pairing/visits/?status=bogus").status_code == 200
    finally:
        app.config["PORTAL_PAGE_SIZE"] = size


# Gaps without a visit ----------------------------------------------------------------------


def test_reminder_at_30_days_and_escalation_at_45_each_once(app, session, paired):
    pairing = paired["pairing"]
    start = pairing.activated_on
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)

    def run(days: int) -> dict:
        with app.app_context():
            result = visits.gap_reminders(session, today=start + timedelta(days=days))
        session.commit()
        return result

    assert run(29) == {"reminded": 0, "escalated": 0}
    assert run(30) == {"reminded": 1, "escalated": 0}
    assert run(30) == {"reminded": 0, "escalated": 0}
    assert run(44) == {"reminded": 0, "escalated": 0}
    assert run(45) == {"reminded": 0, "escalated": 1}
    assert run(46) == {"reminded": 0, "escalated": 0}
    key = f"pairing:{pairing.id}:visit-gap:{start.isoformat()}"
    (reminder,) = _outbox(session, f"{key}:remind")
    assert reminder.user_id == paired["user"].id and "小花" in reminder.body
    assert "李小花" not in reminder.body
    (escalation,) = _outbox(session, f"{key}:escalate:")
    assert escalation.user_id == paired["staff"].id
    assert paired["child"].code in escalation.subject
    assert not [m for m in _outbox(session, key) if m.user_id == other.id]


def test_a_new_visit_starts_a_new_gap(app, session, paired, time_machine):
    pairing = paired["pairing"]
    start = pairing.activated_on
    time_machine.move_to(f"{(start + timedelta(days=31)).isoformat()}T04:00:00+00:00", tick=False)
    with app.app_context():
        assert visits.gap_reminders(session)["reminded"] == 1
    session.commit()
    visit = _log(app, session, paired, visited_on=start + timedelta(days=31))
    with app.app_context():
        assert visits.gap_reminders(session) == {"reminded": 0, "escalated": 0}
    # A returned visit does not count: the gap is counted from the activation again.
    staff_client = _signed_in(app, paired["staff"])
    post(staff_client, f"/pairing/visits/{visit.id}/return", {"comment": "请补充情况"})
    time_machine.move_to(f"{(start + timedelta(days=46)).isoformat()}T04:00:00+00:00", tick=False)
    with app.app_context():
        assert visits.gap_reminders(session) == {"reminded": 0, "escalated": 1}
    # Corrected and sent again: a new gap from the visit's day, with its own reminder.
    session.expire_all()
    with app.test_request_context():
        visits.resubmit(
            session,
            session.get(Visit, visit.id),
            user=paired["user"],
            values=_values(visited_on=start + timedelta(days=31)),
        )
    session.commit()
    with app.app_context():
        assert visits.gap_reminders(session) == {"reminded": 0, "escalated": 0}
        later = start + timedelta(days=61)
        assert visits.gap_reminders(session, today=later) == {"reminded": 1, "escalated": 0}
    new_key = f"pairing:{pairing.id}:visit-gap:{(start + timedelta(days=31)).isoformat()}"
    assert len(_outbox(session, f"{new_key}:remind")) == 1


def test_gap_days_are_settings(app, session, paired):
    pairing = paired["pairing"]
    names = ("PORTAL_VISIT_REMINDER_DAYS", "PORTAL_VISIT_ESCALATION_DAYS")
    before = {name: app.config.get(name) for name in names}
    app.config.update(dict(zip(names, (10, 15), strict=True)))
    try:
        with app.app_context():
            day = pairing.activated_on + timedelta(days=14)
            assert visits.gap_reminders(session, today=day) == {"reminded": 1, "escalated": 0}
            day = pairing.activated_on + timedelta(days=15)
            assert visits.gap_reminders(session, today=day) == {"reminded": 0, "escalated": 1}
    finally:
        for name, value in before.items():
            if value is None:
                app.config.pop(name, None)
            else:
                app.config[name] = value


def test_only_active_pairings_are_reminded(app, session):
    child = make_child(session)
    volunteer = _volunteer(app, session)
    _pairing(
        session,
        child,
        volunteer,
        status=PairingStatus.CLOSED,
        activated_on=TODAY - timedelta(days=90),
    )
    with app.app_context():
        assert visits.gap_reminders(session) == {"reminded": 0, "escalated": 0}


# Safety problems ----------------------------------------------------------------------------


def test_a_safety_problem_alerts_township_staff_at_once(app, session, paired):
    second = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, name="西屏主任")
    gone = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING, is_active=False)
    elsewhere = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
    response = post(
        paired["client"],
        f"/pairing/mine/{paired['pairing'].id}/visits/new",
        _form(safety_concern="y", condition_safety="独自在河边玩水"),
        follow_redirects=True,
    )
    assert "已通知乡镇工作人员" in page_text(response)
    (visit,) = _visits(session, paired["pairing"])
    assert visit.safety_concern
    alerts = _outbox(session, f"pairing-visit:{visit.id}:safety:")
    assert {m.user_id for m in alerts} == {paired["staff"].id, second.id}
    assert gone.id not in {m.user_id for m in alerts} and elsewhere.id not in {
        m.user_id for m in alerts
    }
    assert all("独自在河边玩水" in m.body and paired["child"].code in m.subject for m in alerts)
    assert all(m.link == f"/pairing/visits/{visit.id}" for m in alerts)
    # Sent once per visit, even when the visit is returned and sent again.
    staff_client = _signed_in(app, paired["staff"])
    post(staff_client, f"/pairing/visits/{visit.id}/return", {"comment": "请补充处理情况"})
    post(
        paired["client"],
        f"/pairing/mine/visits/{visit.id}/edit",
        _form(safety_concern="y", condition_safety="独自在河边玩水，已告知奶奶"),
    )
    assert len(_outbox(session, f"pairing-visit:{visit.id}:safety:")) == 2
    count = session.exec(
        select(func.count()).where(
            AuditEntry.action == "visit.logged", AuditEntry.target_id == str(visit.id)
        )
    ).one()
    assert count == 1


def test_a_visit_without_a_safety_problem_alerts_nobody(app, session, paired):
    visit = _log(app, session, paired)
    assert _outbox(session, f"pairing-visit:{visit.id}:safety:") == []


# What the volunteer sees ---------------------------------------------------------------------


def _private_facts(child) -> list[str]:
    born = child.birth_date
    return [
        child.name,
        born.isoformat(),
        f"{born.year}年{born.month}月{born.day}日",
        child.school,
        child.notes,
        child.parents_work_city,
        child.code,
    ]


def test_the_volunteer_sees_first_name_age_village_needs_and_the_guardian(session, paired):
    client, child, pairing = paired["client"], paired["child"], paired["pairing"]
    for url in ("/pairing/mine/", f"/pairing/mine/{pairing.id}"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        for fact in _private_facts(child):
            assert fact not in html, (url, fact)
        assert "小花" in html and "9岁" in page_text(response) and "城北社区" in html
    text = page_text(client.get(f"/pairing/mine/{pairing.id}"))
    assert "学习" in text and "心理" in text
    assert "李奶奶" in text and "13800000000" in text and "祖父母" in text
    assert "记录一次帮扶" in text


@pytest.mark.parametrize(
    "status", [PairingStatus.PROPOSED, PairingStatus.AWAITING_CONSENT, PairingStatus.CLOSED]
)
def test_the_guardian_is_shown_only_while_active(app, session, status):
    child = make_child(session, school="西屏实验小学", notes="敏感", parents_work_city="义乌")
    volunteer = _volunteer(app, session)
    pairing = _pairing(session, child, volunteer, status=status, activated_on=None)
    client = _signed_in(app, _account(session, volunteer))
    response = client.get(f"/pairing/mine/{pairing.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "李奶奶" not in html and child.guardian_phone not in html
    for fact in _private_facts(child):
        assert fact not in html
    assert "小花" in html


def test_another_volunteer_and_suggestions_are_404(app, session, paired):
    other = _volunteer(app, session, 2)
    client = _signed_in(app, _account(session, other))
    pairing = paired["pairing"]
    assert client.get(f"/pairing/mine/{pairing.id}").status_code == 404
    assert (
        post(client, f"/pairing/mine/{pairing.id}/answer", {"decision": "accept"}).status_code
        == 404
    )
    mine = page_text(client.get("/pairing/mine/"))
    assert "小花" not in mine and "还没有" in mine
    suggestion = _pairing(
        session, make_child(session, name="张小军"), other, status=PairingStatus.SUGGESTED
    )
    assert client.get(f"/pairing/mine/{suggestion.id}").status_code == 404
    assert "小军" not in page_text(client.get("/pairing/mine/"))
    visit = _log(app, session, paired)
    with app.test_request_context(), pytest.raises(NotFound):
        visits.get_visit_for_volunteer(session, _account(session, other), visit.id)
    assert client.get(f"/pairing/mine/visits/{visit.id}/edit").status_code == 404


def test_the_volunteer_accepts_or_declines_a_proposal(app, session):
    volunteer = _volunteer(app, session)
    client = _signed_in(app, _account(session, volunteer))
    first = _pairing(session, make_child(session), volunteer, status=PairingStatus.PROPOSED)
    page = page_text(client.get(f"/pairing/mine/{first.id}"))
    assert "我接受" in page and "我拒绝" in page
    response = post(client, f"/pairing/mine/{first.id}/answer", {"decision": "accept"})
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Pairing, first.id).status == PairingStatus.AWAITING_CONSENT

    second = _pairing(
        session, make_child(session, name="王小军"), volunteer, status=PairingStatus.PROPOSED
    )
    too_long = post(
        client, f"/pairing/mine/{second.id}/answer", {"decision": "decline", "reason": "忙" * 201}
    )
    assert too_long.status_code == 422 and "忙" * 201 in too_long.get_data(as_text=True)
    response = post(
        client, f"/pairing/mine/{second.id}/answer", {"decision": "decline", "reason": "住得太远"}
    )
    assert response.status_code == 303
    session.expire_all()
    declined = session.get(Pairing, second.id)
    assert declined.status == PairingStatus.DECLINED and declined.decline_reason == "住得太远"
    # Answered once: a second answer is refused.
    again = post(client, f"/pairing/mine/{second.id}/answer", {"decision": "accept"})
    assert again.status_code == 422
    session.expire_all()
    assert session.get(Pairing, second.id).status == PairingStatus.DECLINED


def test_staff_see_the_visits_queue_count(app, session, paired):
    _log(app, session, paired)
    other = make_user(session, role=Role.TOWNSHIP_STAFF, township_code=GUSHI)
    assert visits.to_confirm_count(session, paired["staff"]) == 1
    assert visits.to_confirm_count(session, other) == 0
    assert visits.to_confirm_count(session, paired["user"]) == 0
