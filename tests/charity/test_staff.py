"""The staff pages of emergency aid: the queue, a request and its steps, documents, scoping."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import func, select

from portal import audit
from portal.auth.models import Role
from portal.charity import ledger, requests
from portal.charity.models import AidRequest, Fund, FundKind, LedgerEntry, RequestStatus
from portal.core import workspace
from portal.timeutil import utcnow
from tests.charity.test_workflow_core import XIPING, application
from tests.conftest import login, make_user, page_text, post

OTHER = "331124101"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_keys = itertools.count(1)


# Helpers shared by the charity tests ----------------------------------------------------------


def make_fund(app, session, actor, *, amount_fen=5_000_000, name=None, **fields) -> Fund:
    with app.test_request_context():
        fund = Fund(
            name=name or f"应急救助基金{next(_keys)}",
            kind=FundKind.SPECIAL,
            purpose="留守儿童应急救助",
            created_by=actor.id,
            **fields,
        )
        session.add(fund)
        session.flush()
        if amount_fen:
            ledger.record_donation(session, fund, actor=actor, amount_fen=amount_fen)
    session.commit()
    return fund


def make_request(app, session, *, documents=(), **overrides) -> AidRequest:
    with app.test_request_context():
        aid, _created = requests.submit(
            session,
            application(**overrides),
            documents=[requests.Upload(kind, name, data) for kind, name, data in documents],
            idempotency_key=f"key-{next(_keys):06d}-{utcnow().timestamp():.0f}",
        )
    session.commit()
    return aid


def proposed(app, session, people, fund, *, amount_fen=300_000, **overrides) -> AidRequest:
    """A request checked by the township and proposed by charity staff."""
    aid = make_request(app, session, **overrides)
    with app.test_request_context():
        checker = people["township"] if aid.township_code == XIPING else people["county"]
        requests.township_check(session, aid, actor=checker)
        requests.propose(session, aid, actor=people["staff"], fund=fund, amount_fen=amount_fen)
    session.commit()
    return aid


@pytest.fixture()
def people(session):
    return {
        "township": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING),
        "other_township": make_user(session, role=Role.TOWNSHIP_STAFF, township_code=OTHER),
        "county": make_user(session, role=Role.COUNTY_STAFF),
        "staff": make_user(session, role=Role.CHARITY_STAFF),
        "payer": make_user(session, role=Role.CHARITY_STAFF),
        "a1": make_user(session, role=Role.CHARITY_APPROVER),
        "a2": make_user(session, role=Role.CHARITY_APPROVER),
        "admin": make_user(session, role=Role.ADMIN),
        "volunteer": make_user(session, role=Role.VOLUNTEER),
    }


def client_for(app, user):
    client = app.test_client()
    login(client, user)
    return client


def audits(session, action: str, target_id: int | None = None) -> int:
    statement = select(func.count()).where(audit.AuditEntry.action == action)
    if target_id is not None:
        statement = statement.where(audit.AuditEntry.target_id == str(target_id))
    return session.exec(statement).one()


# The queue ------------------------------------------------------------------------------------


def test_queue_puts_emergencies_first_marks_overdue_and_is_township_scoped(app, session, people):
    papers = [("application", "申请表.pdf", PDF), ("household", "户口簿.pdf", PDF)]
    calm = make_request(
        app, session, emergency="", kind="hardship", child_name="李小花", documents=papers
    )
    urgent = make_request(app, session, child_name="王小宝")
    elsewhere = make_request(app, session, township_code=OTHER, child_name="赵小明")
    calm.due_at = utcnow().replace(year=2025)  # long overdue
    session.add(calm)
    session.commit()

    text = page_text(client_for(app, people["staff"]).get("/charity/staff/"))
    assert text.index(urgent.number) < text.index(calm.number)
    assert elsewhere.number in text and "已逾期" in text

    township = client_for(app, people["township"]).get("/charity/staff/")
    assert township.status_code == 200
    seen = page_text(township)
    assert urgent.number in seen and calm.number in seen and elsewhere.number not in seen

    filtered = page_text(
        client_for(app, people["staff"]).get(
            "/charity/staff/?status=checked", headers={"HX-Request": "true"}
        )
    )
    assert urgent.number not in filtered

    assert client_for(app, people["volunteer"]).get("/charity/staff/").status_code == 403


def test_queue_pages(app, session, people):
    size = app.config["PORTAL_PAGE_SIZE"]
    app.config["PORTAL_PAGE_SIZE"] = 2
    try:
        for n in range(3):
            make_request(app, session, child_name=f"王小{'一二三'[n]}")
        client = client_for(app, people["staff"])
        first, second = client.get("/charity/staff/"), client.get("/charity/staff/?page=2")
        assert first.status_code == second.status_code == 200
        assert 'rel="next"' in first.get_data(as_text=True)
        assert 'rel="prev"' in second.get_data(as_text=True)
    finally:
        app.config["PORTAL_PAGE_SIZE"] = size


def test_workspace_counts(app, session, people):
    fund = make_fund(app, session, people["staff"])
    make_request(app, session)  # waiting for Xiping's check
    make_request(app, session, township_code=OTHER)
    proposed(app, session, people, fund)  # waiting for approval
    with app.test_request_context():

        def counts(user):
            return {e.name: e.count for e in workspace.entries(session, user)}

        assert counts(people["township"])["charity.check"] == 1
        assert counts(people["county"])["charity.check"] == 2
        assert counts(people["a1"])["charity.approval"] == 1
        assert counts(people["staff"])["charity.review"] == 0
        assert counts(people["staff"])["charity.payable"] == 0
        assert "charity.approval" not in counts(people["staff"])


# A request ------------------------------------------------------------------------------------


def test_detail_shows_everything_masks_the_account_and_is_audited(app, session, people):
    aid = make_request(app, session, documents=[("medical", "病历.pdf", PDF)])
    client = client_for(app, people["staff"])
    response = client.get(f"/charity/staff/requests/{aid.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "6217000012345678" not in html and aid.account_masked in text
    assert "王小宝" in text and "病历" in text
    assert f"/charity/staff/requests/{aid.id}/documents/" in html
    assert audits(session, "aid.viewed", aid.id) == 1
    # Charity staff do not check for the township: no check button for them.
    assert f"/charity/staff/requests/{aid.id}/check" not in html
    township = client_for(app, people["township"]).get(f"/charity/staff/requests/{aid.id}")
    assert f"/charity/staff/requests/{aid.id}/check" in township.get_data(as_text=True)


def test_another_township_gets_404_on_the_request_and_its_documents(app, session, people):
    aid = make_request(app, session, documents=[("medical", "病历.pdf", PDF)])
    doc_id = session.exec(
        select(requests.RequestDocument.id).where(requests.RequestDocument.request_id == aid.id)
    ).one()
    other = client_for(app, people["other_township"])
    assert other.get(f"/charity/staff/requests/{aid.id}").status_code == 404
    assert other.get(f"/charity/staff/requests/{aid.id}/documents/{doc_id}").status_code == 404
    assert post(other, f"/charity/staff/requests/{aid.id}/check").status_code == 404
    assert (
        post(other, f"/charity/staff/requests/{aid.id}/reject", {"reason": "不符合"}).status_code
        == 404
    )
    assert session.get(AidRequest, aid.id).status == RequestStatus.SUBMITTED
    # The document of another request is not reached through this one.
    mine = make_request(app, session)
    own = client_for(app, people["township"])
    assert own.get(f"/charity/staff/requests/{mine.id}/documents/{doc_id}").status_code == 404


def test_document_download_checks_access_every_time_and_is_audited(app, session, people):
    aid = make_request(app, session, documents=[("medical", "病历.pdf", PDF)])
    doc_id = session.exec(
        select(requests.RequestDocument.id).where(requests.RequestDocument.request_id == aid.id)
    ).one()
    user = people["township"]
    client = client_for(app, user)
    url = f"/charity/staff/requests/{aid.id}/documents/{doc_id}"
    for n in (1, 2):
        response = client.get(url)
        assert response.status_code == 200 and response.data == PDF
        assert "no-store" in response.headers["Cache-Control"]
        assert "attachment" in response.headers["Content-Disposition"]
        response.close()
        assert audits(session, "aid.document_viewed", aid.id) == n
    user.township_code = OTHER  # moved to another township: the next download is refused
    session.add(user)
    session.commit()
    assert client.get(url).status_code == 404
    assert audits(session, "aid.document_viewed", aid.id) == 2


def test_township_check_ask_and_reject(app, session, people):
    aid = make_request(app, session)
    client = client_for(app, people["township"])
    bad = post(client, f"/charity/staff/requests/{aid.id}/ask", {"what": ""})
    assert bad.status_code == 422
    ok = post(client, f"/charity/staff/requests/{aid.id}/check", {"note": "村里了解，情况属实"})
    assert ok.status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.CHECKED and aid.checked_by == people["township"].id
    # After the check the township has nothing more to do; the charity reviews.
    assert post(client, f"/charity/staff/requests/{aid.id}/check").status_code == 422
    staff = client_for(app, people["staff"])
    typed = "请补充医院的费用清单<script>x</script>"
    asked = post(staff, f"/charity/staff/requests/{aid.id}/ask", {"what": typed})
    assert asked.status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.INFO_NEEDED and aid.info_request == typed
    page = staff.get(f"/charity/staff/requests/{aid.id}").get_data(as_text=True)
    assert "<script>x" not in page and "&lt;script&gt;" in page
    other = make_request(app, session)
    refused = post(client, f"/charity/staff/requests/{other.id}/reject", {"reason": ""})
    assert refused.status_code == 422
    rejected = post(
        client, f"/charity/staff/requests/{other.id}/reject", {"reason": "已获其他救助"}
    )
    assert rejected.status_code == 303
    session.refresh(other)
    assert other.status == RequestStatus.REJECTED and other.reject_reason == "已获其他救助"
    assert post(staff, f"/charity/staff/requests/{other.id}/close").status_code == 303
    session.refresh(other)
    assert other.status == RequestStatus.CLOSED


def test_propose_errors_are_on_the_form_in_chinese_and_keep_the_input(app, session, people):
    fund = make_fund(app, session, people["staff"], amount_fen=100_000)  # ¥1,000
    aid = make_request(app, session)
    with app.test_request_context():
        requests.township_check(session, aid, actor=people["township"])
    session.commit()
    client = client_for(app, people["staff"])
    url = f"/charity/staff/requests/{aid.id}/propose"
    too_much = post(client, url, {"fund_id": str(fund.id), "amount": "2,000.50"})
    assert too_much.status_code == 422
    assert "可用" in page_text(too_much) and 'value="2,000.50"' in too_much.get_data(as_text=True)
    fraction = post(client, url, {"fund_id": str(fund.id), "amount": "12.345"})
    assert fraction.status_code == 422 and 'value="12.345"' in fraction.get_data(as_text=True)
    no_fund = post(client, url, {"fund_id": "999999", "amount": "500"})
    assert no_fund.status_code == 422 and "基金" in page_text(no_fund)
    extra = post(
        client,
        url,
        {"fund_id": str(fund.id), "amount": "500", "status": "approved", "approved_fen": "1"},
    )
    assert extra.status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.APPROVING and aid.approved_fen == 50_000
    assert (
        post(
            client_for(app, people["a1"]), url, {"fund_id": str(fund.id), "amount": "1"}
        ).status_code
        == 403
    )


def test_the_cap_and_its_override_reason(app, session, people):
    fund = make_fund(app, session, people["staff"])
    earlier = proposed(app, session, people, fund, amount_fen=100_000)
    with app.test_request_context():
        requests.approve(session, earlier, actor=people["a1"])
    session.commit()
    aid = make_request(app, session)  # the same child, the same year
    with app.test_request_context():
        requests.township_check(session, aid, actor=people["township"])
    session.commit()
    client = client_for(app, people["staff"])
    page = page_text(client.get(f"/charity/staff/requests/{aid.id}"))
    assert earlier.number in page
    url = f"/charity/staff/requests/{aid.id}/propose"
    refused = post(client, url, {"fund_id": str(fund.id), "amount": "800"})
    assert refused.status_code == 422 and "例外" in page_text(refused)
    assert 'name="cap_reason"' in refused.get_data(as_text=True)
    session.refresh(aid)
    assert aid.status == RequestStatus.CHECKED
    ok = post(
        client, url, {"fund_id": str(fund.id), "amount": "800", "cap_reason": "二次手术，费用巨大"}
    )
    assert ok.status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.APPROVING and aid.cap_override_reason == "二次手术，费用巨大"
    assert audits(session, "aid.cap_override", aid.id) == 1


def test_pay_twice_writes_one_ledger_entry(app, session, people):
    fund = make_fund(app, session, people["staff"])
    aid = proposed(app, session, people, fund, amount_fen=200_000)
    approver = client_for(app, people["a1"])
    assert post(approver, f"/charity/staff/requests/{aid.id}/approve").status_code == 303
    session.refresh(aid)
    assert aid.status == RequestStatus.APPROVED
    payer = client_for(app, people["payer"])
    page = page_text(payer.get(f"/charity/staff/requests/{aid.id}"))
    assert aid.account_masked in page
    missing = post(payer, f"/charity/staff/requests/{aid.id}/pay", {"reference": ""})
    assert missing.status_code == 422
    first = post(payer, f"/charity/staff/requests/{aid.id}/pay", {"reference": "NS20261130001"})
    assert first.status_code == 303
    second = post(payer, f"/charity/staff/requests/{aid.id}/pay", {"reference": "NS20261130002"})
    assert second.status_code == 422
    other = client_for(app, people["staff"])
    third = post(other, f"/charity/staff/requests/{aid.id}/pay", {"reference": "NS20261130003"})
    assert third.status_code == 422 and "已" in page_text(third)
    grants = session.exec(select(LedgerEntry).where(LedgerEntry.request_id == aid.id)).all()
    assert len(grants) == 1 and grants[0].amount_fen == -200_000
    assert grants[0].reference == "NS20261130001"
    session.refresh(aid)
    assert aid.status == RequestStatus.PAID and aid.payment_reference == "NS20261130001"


def test_payment_waits_for_the_notice_unless_emergency(app, session, people):
    fund = make_fund(app, session, people["staff"])
    papers = [("application", "申请表.pdf", PDF), ("household", "户口簿.pdf", PDF)]
    aid = proposed(app, session, people, fund, emergency="", kind="hardship", documents=papers)
    with app.test_request_context():
        requests.approve(session, aid, actor=people["a1"])
    session.commit()
    payer = client_for(app, people["payer"])
    page = page_text(payer.get(f"/charity/staff/requests/{aid.id}"))
    assert aid.notice_until.isoformat() in page  # the refusal names the day
    refused = post(payer, f"/charity/staff/requests/{aid.id}/pay", {"reference": "NS0001"})
    assert refused.status_code == 422
    assert session.exec(select(LedgerEntry).where(LedgerEntry.request_id == aid.id)).all() == []
