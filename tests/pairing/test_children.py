"""Children's records: registration and changes with every bad input, no ID numbers, audited
views, township scoping, leaving the programme, and the age-out at 16 with time travel."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import select

from portal.audit import AuditEntry
from portal.auth.models import Role
from portal.pairing import children
from portal.pairing.models import Child, ChildStatus, Pairing, PairingStatus
from portal.timeutil import china_today
from tests.conftest import login, make_user, page_text, post
from tests.pairing.conftest import GUSHI, XIPING, make_child
from tests.volunteers.conftest import make_volunteer

TODAY = china_today()


def form_data(**overrides) -> dict:
    """A complete registration as the form sends it."""
    data = {
        "name": "王小明",
        "sex": "M",
        "birth_date": date(TODAY.year - 10, 5, 20).isoformat(),
        "township_code": XIPING,
        "village": "城北社区",
        "school": "西屏小学",
        "grade": "四年级",
        "guardian_name": "王爷爷",
        "guardian_relation": "grandparent",
        "guardian_phone": "138 0000 1234",
        "parents_work_city": "杭州",
        "needs": ["study", "psych"],
        "notes": "爱画画",
        "preferred_volunteer_sex": "",
        "consent_by": "王爷爷",
        "consent_relation": "grandparent",
        "consent_on": (TODAY - timedelta(days=1)).isoformat(),
        "consent_method": "written",
        "consent_to_pairing": "y",
    }
    data.update(overrides)
    return data


def actions(session, child) -> list[str]:
    rows = session.exec(
        select(AuditEntry.action)
        .where(AuditEntry.target_type == "child", AuditEntry.target_id == str(child.id))
        .order_by(AuditEntry.id)
    )
    return list(rows)


def refreshed(session, row):
    session.expire_all()
    return session.get(type(row), row.id)


def volunteer_for(app, session, n: int = 1):
    with app.test_request_context():
        return make_volunteer(session, n)


def pairing_row(session, child, volunteer, status=PairingStatus.ACTIVE, **fields) -> Pairing:
    row = Pairing(
        child_id=child.id,
        volunteer_id=volunteer.id,
        township_code=child.township_code,
        status=status,
        created_by=child.created_by,
        activated_on=TODAY - timedelta(days=30) if status == PairingStatus.ACTIVE else None,
        **fields,
    )
    session.add(row)
    session.commit()
    return row


# Registration ------------------------------------------------------------------------------


def test_staff_register_a_child_with_a_code_and_an_audit_entry(session, township_client):
    response = post(township_client, "/pairing/children/new", form_data())
    assert response.status_code == 303, page_text(response)[:800]
    child = session.exec(select(Child)).one()
    assert re.fullmatch(rf"ET{TODAY.year}\d{{6}}", child.code)
    assert response.headers["Location"].endswith(f"/pairing/children/{child.id}")
    assert child.guardian_phone == "13800001234"
    assert child.needs == ["study", "psych"] and child.consent_to_pairing
    assert child.status == ChildStatus.IN_PROGRAMME
    assert actions(session, child) == ["child.created"]
    second = post(township_client, "/pairing/children/new", form_data(name="王小红", sex="F"))
    assert second.status_code == 303
    codes = sorted(c.code for c in session.exec(select(Child)))
    assert int(codes[1][-6:]) == int(codes[0][-6:]) + 1


def test_a_landline_is_kept_with_its_area_code(session, township_client):
    post(township_client, "/pairing/children/new", form_data(guardian_phone="05788123456"))
    assert session.exec(select(Child)).one().guardian_phone == "0578-8123456"


SIXTEEN = date(TODAY.year - 16, TODAY.month, min(TODAY.day, 28)).isoformat()
BAD_INPUT = [
    ("name", {"name": ""}),
    ("name", {"name": "王"}),
    ("name", {"name": "<script>alert(1)</script>"}),
    ("name", {"name": "王小明1"}),
    ("name", {"name": "王" * 21}),
    ("sex", {"sex": ""}),
    ("sex", {"sex": "X"}),
    ("birth_date", {"birth_date": ""}),
    ("birth_date", {"birth_date": "not a date"}),
    ("birth_date", {"birth_date": "0001-01-01"}),
    ("birth_date", {"birth_date": SIXTEEN}),
    ("birth_date", {"birth_date": (TODAY + timedelta(days=1)).isoformat()}),
    ("township_code", {"township_code": ""}),
    ("township_code", {"township_code": "999999999"}),
    ("township_code", {"township_code": GUSHI}),  # not the staff member's township
    ("village", {"village": ""}),
    ("village", {"village": "村" * 31}),
    ("guardian_name", {"guardian_name": ""}),
    ("guardian_name", {"guardian_name": "1' OR '1'='1"}),
    ("guardian_relation", {"guardian_relation": ""}),
    ("guardian_relation", {"guardian_relation": "boss"}),
    ("guardian_phone", {"guardian_phone": ""}),
    ("guardian_phone", {"guardian_phone": "12345"}),
    ("guardian_phone", {"guardian_phone": "1380000123a"}),
    ("guardian_phone", {"guardian_phone": "23800001234"}),
    ("needs", {"needs": []}),
    ("needs", {"needs": ["study", "flying"]}),
    ("preferred_volunteer_sex", {"preferred_volunteer_sex": "X"}),
    ("notes", {"notes": "x" * 501}),
    ("consent_by", {"consent_by": ""}),
    ("consent_by", {"consent_by": "😀😀"}),
    ("consent_relation", {"consent_relation": ""}),
    ("consent_relation", {"consent_relation": "neighbour"}),
    ("consent_on", {"consent_on": ""}),
    ("consent_on", {"consent_on": (TODAY + timedelta(days=1)).isoformat()}),
    ("consent_on", {"consent_on": date(TODAY.year - 12, 1, 1).isoformat()}),  # before birth
    ("consent_method", {"consent_method": ""}),
    ("consent_method", {"consent_method": "email"}),
]


@pytest.mark.parametrize(("field", "bad"), BAD_INPUT)
def test_each_bad_input_is_a_field_error_that_keeps_what_was_typed(
    session, township_client, field, bad
):
    response = post(township_client, "/pairing/children/new", form_data(**bad))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html, page_text(response)[:1500]
    error = re.search(rf'id="{field}-error">([^<]+)<', html)[1]
    assert re.search(r"[\u4e00-\u9fff]", error), error  # in Chinese
    for name, typed in (("village", "城北社区"), ("school", "西屏小学"), ("name", "王小明")):
        if name != field:
            assert typed in html, name
    if field != "guardian_phone":
        assert 'value="138 0000 1234"' in html
    assert session.exec(select(Child)).all() == []


def test_an_over_age_child_is_told_why(session, township_client):
    response = post(township_client, "/pairing/children/new", form_data(birth_date=SIXTEEN))
    assert "16" in page_text(response) and "岁" in page_text(response)
    future = post(
        township_client,
        "/pairing/children/new",
        form_data(birth_date=(TODAY + timedelta(days=3)).isoformat()),
    )
    assert "出生日期不能晚于今天" in page_text(future)


def test_no_id_number_anywhere(session, township_client):
    assert not [f for f in Child.model_fields if "id_" in f and f not in ("id",)]
    child = make_child(session)
    for path in (
        "/pairing/children/new",
        f"/pairing/children/{child.id}",
        f"/pairing/children/{child.id}/edit",
        "/pairing/children/",
    ):
        html = township_client.get(path).get_data(as_text=True)
        names = set(re.findall(r'name="([^"]+)"', html))
        assert not [n for n in names if "id_" in n or n.startswith("id")], (path, names)
        assert "身份证号：" not in html and "ID number:" not in html


def test_extra_fields_change_nothing(session, township_client):
    post(
        township_client,
        "/pairing/children/new",
        form_data(status="left", code="ET1999000001", created_by="999", left_reason="moved"),
    )
    child = session.exec(select(Child)).one()
    assert child.status == ChildStatus.IN_PROGRAMME and child.code != "ET1999000001"
    assert child.left_reason is None


# Changes -----------------------------------------------------------------------------------


def test_the_edit_form_shows_the_record_and_saves_a_change(session, township_client):
    child = make_child(session)
    html = township_client.get(f"/pairing/children/{child.id}/edit").get_data(as_text=True)
    assert "李小花" in html and "城北社区" in html
    assert actions(session, child) == ["child.viewed"]  # the form shows the record too
    data = form_data(
        name=child.name,
        sex=child.sex,
        birth_date=child.birth_date.isoformat(),
        village="城南村",
        guardian_name=child.guardian_name,
        guardian_phone=child.guardian_phone,
        needs=child.needs,
        consent_by=child.consent_by,
        consent_on=child.consent_on.isoformat(),
        school="",
        grade="",
        parents_work_city="",
        notes="",
    )
    response = post(township_client, f"/pairing/children/{child.id}/edit", data)
    assert response.status_code == 303, page_text(response)[:800]
    assert refreshed(session, child).village == "城南村"
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "child.updated")).one()
    assert entry.detail["fields"] == ["village"]
    assert "城南村" not in str(entry.detail)  # the names of the fields, never their values


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("name", {"name": "x"}),
        ("guardian_phone", {"guardian_phone": "110"}),
        ("birth_date", {"birth_date": (TODAY + timedelta(days=1)).isoformat()}),
        ("consent_method", {"consent_method": "fax"}),
        ("needs", {"needs": []}),
    ],
)
def test_a_bad_change_is_a_field_error_that_keeps_what_was_typed(
    session, township_client, field, bad
):
    child = make_child(session)
    data = form_data(village="新村名", **bad)
    response = post(township_client, f"/pairing/children/{child.id}/edit", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html and "新村名" in html
    assert refreshed(session, child).village == "城北社区"


def test_consent_to_pairing_stays_while_a_pairing_is_open(app, session, township_client):
    child = make_child(session)
    pairing_row(session, child, volunteer_for(app, session))
    data = form_data(
        birth_date=child.birth_date.isoformat(), consent_on=child.consent_on.isoformat()
    )
    data.pop("consent_to_pairing")
    response = post(township_client, f"/pairing/children/{child.id}/edit", data)
    assert response.status_code == 422
    assert 'id="consent_to_pairing-error"' in response.get_data(as_text=True)
    assert refreshed(session, child).consent_to_pairing


# Audited views -----------------------------------------------------------------------------


def test_every_view_of_a_record_is_audited(session, township_client, township_staff):
    child = make_child(session)
    for _ in range(3):
        response = township_client.get(f"/pairing/children/{child.id}")
        assert response.status_code == 200
        assert "李小花" in page_text(response) and "13800000000" in page_text(response)
    assert actions(session, child) == ["child.viewed"] * 3
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "child.viewed")).first()
    assert entry.actor_id == township_staff.id and entry.ip


def test_the_record_shows_its_pairings(app, session, township_client):
    child = make_child(session)
    volunteer = volunteer_for(app, session)
    row = pairing_row(session, child, volunteer)
    text = township_client.get(f"/pairing/children/{child.id}").get_data(as_text=True)
    assert volunteer.number in text and f"/pairing/{row.id}" in text


# Scoping and roles -------------------------------------------------------------------------


def test_another_townships_child_is_not_found(session, township_client):
    theirs = make_child(session, GUSHI, name="古市娃")
    mine = make_child(session, XIPING, name="西屏娃")
    for method, path, data in [
        ("get", f"/pairing/children/{theirs.id}", None),
        ("get", f"/pairing/children/{theirs.id}/edit", None),
        ("post", f"/pairing/children/{theirs.id}/edit", form_data(township_code=GUSHI)),
        (
            "post",
            f"/pairing/children/{theirs.id}/leave",
            {"reason": "moved", "note": "x", "confirm": "y"},
        ),
    ]:
        response = (
            township_client.get(path) if method == "get" else post(township_client, path, data)
        )
        assert response.status_code == 404, (method, path)
    assert refreshed(session, theirs).status == ChildStatus.IN_PROGRAMME
    assert "child.viewed" not in actions(session, theirs)
    listed = page_text(township_client.get("/pairing/children/?status="))
    assert "西屏娃" in listed and "古市娃" not in listed
    assert mine.code in listed
    assert "古市娃" not in page_text(
        township_client.get(f"/pairing/children/?township={GUSHI}&status=")
    )


def test_county_staff_see_every_township(session, county_client):
    make_child(session, GUSHI, name="古市娃")
    make_child(session, XIPING, name="西屏娃")
    listed = page_text(county_client.get("/pairing/children/"))
    assert "古市娃" in listed and "西屏娃" in listed
    only = page_text(county_client.get(f"/pairing/children/?township={GUSHI}"))
    assert "古市娃" in only and "西屏娃" not in only


@pytest.mark.parametrize(
    "role",
    [Role.VOLUNTEER, Role.EDITOR, Role.REVIEWER, Role.CHARITY_STAFF, Role.LECTURE_ORGANISER],
)
def test_other_roles_are_refused(app, session, role):
    child = make_child(session)
    c = app.test_client()
    login(c, make_user(session, role=role))
    for path in (
        "/pairing/children/",
        "/pairing/children/new",
        f"/pairing/children/{child.id}",
        f"/pairing/children/{child.id}/edit",
    ):
        assert c.get(path).status_code == 403, path
    assert post(c, "/pairing/children/new", form_data()).status_code == 403
    assert post(c, f"/pairing/children/{child.id}/leave", {"reason": "moved"}).status_code == 403
    assert "child.viewed" not in actions(session, child)


def test_the_public_is_sent_to_log_in(app, session):
    child = make_child(session)
    response = app.test_client().get(f"/pairing/children/{child.id}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


# The list ----------------------------------------------------------------------------------


def test_the_list_filters_and_shows_pairings(app, session, township_client):
    paired = make_child(session, name="张一", needs=["psych"])
    make_child(session, name="张二", village="溪口村", needs=["study"])
    buffered = make_child(session, name="张三", available_from=TODAY + timedelta(days=5))
    make_child(session, name="张四", status=ChildStatus.LEFT, left_reason="moved", left_on=TODAY)
    pairing_row(session, paired, volunteer_for(app, session))

    text = page_text(township_client.get("/pairing/children/"))
    assert all(n in text for n in ("张一", "张二", "张三")) and "张四" not in text
    assert "已结对" in text
    assert "未结对" in text or "Not paired" in text
    assert str(buffered.available_from.day) in text
    assert "张四" in page_text(township_client.get("/pairing/children/?status=left"))
    need = page_text(township_client.get("/pairing/children/?need=psych"))
    assert "张一" in need and "张二" not in need
    village = page_text(township_client.get("/pairing/children/?q=溪口"))
    assert "张二" in village and "张一" not in village
    code = page_text(township_client.get(f"/pairing/children/?q={paired.code.lower()}"))
    assert "张一" in code and "张二" not in code
    partial = township_client.get("/pairing/children/?q=张", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="results"') and "<html" not in body


def test_an_empty_list_says_so(township_client):
    text = page_text(township_client.get("/pairing/children/"))
    assert "还没有在册儿童" in text
    assert "没有符合筛选条件的儿童" in page_text(township_client.get("/pairing/children/?q=无此人"))
    assert "没有已退出的儿童" in page_text(township_client.get("/pairing/children/?status=left"))


def test_the_list_pages(app, session, township_client):
    app.config["PORTAL_PAGE_SIZE"], size = 2, app.config["PORTAL_PAGE_SIZE"]
    try:
        for n in range(5):
            make_child(session, name=f"孩子{'一二三四五'[n]}")
        text = page_text(township_client.get("/pairing/children/?page=3"))
        assert "孩子一" in text and "孩子五" not in text
    finally:
        app.config["PORTAL_PAGE_SIZE"] = size


# Leaving -----------------------------------------------------------------------------------


def test_leaving_closes_the_active_pairing(app, session, township_client):
    child = make_child(session)
    row = pairing_row(session, child, volunteer_for(app, session))
    response = post(
        township_client,
        f"/pairing/children/{child.id}/leave",
        {"reason": "parents_returned", "note": "", "confirm": "y"},
    )
    assert response.status_code == 303, page_text(response)[:800]
    child, row = refreshed(session, child), refreshed(session, row)
    assert (child.status, child.left_reason, child.left_on) == (
        ChildStatus.LEFT,
        "parents_returned",
        TODAY,
    )
    assert (row.status, row.close_reason) == (PairingStatus.CLOSED, "parents_returned")
    assert actions(session, child)[-1] == "child.left"


def test_leaving_withdraws_a_proposal(app, session, township_client):
    child = make_child(session)
    row = pairing_row(session, child, volunteer_for(app, session), PairingStatus.PROPOSED)
    response = post(
        township_client,
        f"/pairing/children/{child.id}/leave",
        {"reason": "moved", "note": "随父母去杭州", "confirm": "y"},
    )
    assert response.status_code == 303
    assert refreshed(session, row).status == PairingStatus.WITHDRAWN
    assert refreshed(session, child).left_reason == "moved"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reason": "", "confirm": "y"}, "reason"),
        ({"reason": "turned_16", "confirm": "y"}, "reason"),
        ({"reason": "other", "note": "", "confirm": "y"}, "note"),
        ({"reason": "moved", "note": "x" * 501, "confirm": "y"}, "note"),
        ({"reason": "moved", "note": "去杭州"}, "confirm"),
    ],
)
def test_leaving_needs_a_reason_a_note_and_a_confirmation(
    app, session, township_client, data, field
):
    child = make_child(session)
    row = pairing_row(session, child, volunteer_for(app, session))
    response = post(township_client, f"/pairing/children/{child.id}/leave", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    if data.get("note") == "去杭州":
        assert "去杭州" in html
    assert refreshed(session, child).status == ChildStatus.IN_PROGRAMME
    assert refreshed(session, row).status == PairingStatus.ACTIVE


def test_a_child_who_left_cannot_leave_again(session, township_client):
    child = make_child(session, status=ChildStatus.LEFT, left_reason="moved", left_on=TODAY)
    response = post(
        township_client,
        f"/pairing/children/{child.id}/leave",
        {"reason": "moved", "note": "再次", "confirm": "y"},
    )
    assert response.status_code == 422
    assert "已经退出" in page_text(response) or "already left" in page_text(response)


# The age-out at 16 -------------------------------------------------------------------------


def test_a_child_leaves_on_the_16th_birthday(app, session, time_machine):
    from portal.pairing import jobs

    born = date(2010, 7, 15)
    child = make_child(session, birth_date=born, consent_on=date(2024, 1, 10))
    volunteer = volunteer_for(app, session)
    active = pairing_row(session, child, volunteer)
    other = make_child(session, birth_date=date(2010, 7, 16), consent_on=date(2024, 1, 10))
    proposed = pairing_row(session, other, volunteer_for(app, session, 2), PairingStatus.PROPOSED)

    time_machine.move_to("2026-07-14T23:30:00+08:00", tick=False)  # the day before, late
    with app.app_context():
        assert jobs.age_out() == 0
    assert refreshed(session, child).status == ChildStatus.IN_PROGRAMME
    assert refreshed(session, active).status == PairingStatus.ACTIVE

    time_machine.move_to("2026-07-14T16:05:00+00:00", tick=False)  # 00:05 on the 15th in China
    with app.app_context():
        assert jobs.age_out() == 1
    child, active = refreshed(session, child), refreshed(session, active)
    assert (child.status, child.left_reason, child.left_on) == (
        ChildStatus.LEFT,
        "turned_16",
        date(2026, 7, 15),
    )
    assert (active.status, active.close_reason, active.closed_on) == (
        PairingStatus.CLOSED,
        "turned_16",
        date(2026, 7, 15),
    )
    assert active.closed_by is None
    assert actions(session, child)[-1] == "child.left"
    assert refreshed(session, proposed).status == PairingStatus.PROPOSED  # not 16 yet

    with app.app_context():
        assert jobs.age_out() == 0  # idempotent: nothing changes on a second run
    assert refreshed(session, active).status == PairingStatus.CLOSED
    assert actions(session, child).count("child.left") == 1

    time_machine.move_to("2026-07-16T09:00:00+08:00", tick=False)
    with app.app_context():
        assert jobs.age_out() == 1
    assert refreshed(session, proposed).status == PairingStatus.WITHDRAWN
    assert refreshed(session, other).left_reason == "turned_16"


def test_born_on_29_february_leaves_on_1_march_in_a_common_year(app, session):
    # 2100 is not a leap year: a child born on 29 February 2084 turns 16 on 1 March 2100.
    child = make_child(session, birth_date=date(2084, 2, 29), consent_on=date(2090, 1, 1))
    with app.app_context():
        assert children.age_out(session, today=date(2100, 2, 28)) == 0
        assert child.status == ChildStatus.IN_PROGRAMME
        assert children.age_out(session, today=date(2100, 3, 1)) == 1
        assert child.status == ChildStatus.LEFT and child.left_on == date(2100, 3, 1)
        assert children.age_out(session, today=date(2100, 3, 2)) == 0


def test_the_age_out_drops_unreviewed_suggestions(app, session):
    child = make_child(session, birth_date=date(TODAY.year - 16, 1, 1))
    row = pairing_row(session, child, volunteer_for(app, session), PairingStatus.SUGGESTED)
    with app.app_context():
        assert children.age_out(session, today=TODAY) == 1
    session.commit()
    assert refreshed(session, row).status == PairingStatus.DROPPED
