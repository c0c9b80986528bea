"""Following an aid request by its tracking number and mobile: the status in plain words, the
approved amount once approved, documents added when more is asked (the request goes back to
whoever asked), one answer for any wrong pair, rate limits, nothing of other people's."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.charity import requests
from portal.charity.models import AidRequest, RequestDocument, RequestStatus
from portal.timeutil import utcnow
from tests.charity.test_apply import (
    PDF,
    error_of,
    form_tokens,
    jpeg_with_gps,
    send_multipart,
)
from tests.charity.test_workflow_core import XIPING, application
from tests.conftest import make_user, page_text, post


def _submit(app, session, key: str, **overrides) -> AidRequest:
    with app.test_request_context():
        aid, created = requests.submit(
            session, application(**overrides), documents=[], idempotency_key=key
        )
    assert created
    session.commit()
    return aid


@pytest.fixture()
def aid(app, session) -> AidRequest:
    return _submit(app, session, "track-key-0000000001")


@pytest.fixture()
def township(session):
    return make_user(session, role=Role.TOWNSHIP_STAFF, township_code=XIPING)


def _label(app, status: RequestStatus) -> str:
    """A status as the applicant reads it (the default language is Chinese)."""
    with app.test_request_context():
        return str(requests.STATUS_LABELS[status])


def _track(client, number: str, mobile: str):
    return post(client, "/charity/track", {"number": number, "mobile": mobile})


def _add(client, files, note: str = ""):
    csrf, _key = form_tokens(client, "/charity/track/request")
    form = {"csrf_token": csrf, "note": note}
    for slot, (kind, name, data) in enumerate(files):
        form[f"doc_kind_{slot}"] = kind
        form[f"doc_file_{slot}"] = (io.BytesIO(data), name)
    return send_multipart(client, "/charity/track/documents", form)


def test_the_right_number_and_mobile_show_the_status_and_what_happens_next(app, client, aid):
    response = _track(client, aid.number.lower(), "136 0000 0001")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/charity/track/request")
    page = client.get("/charity/track/request")
    html, text = page.get_data(as_text=True), page_text(page)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert aid.number in text and _label(app, RequestStatus.SUBMITTED) in text
    assert "3个工作日" in text and "预计答复时间" in text
    assert "6217000012345678" not in html and aid.account_masked in html
    assert "批准金额" not in text


@pytest.mark.parametrize(
    ("number", "mobile"),
    [
        ("right", "13600000009"),  # wrong mobile
        ("YJ2026999999", "13600000001"),  # wrong number
        ("YJ2026999999", "13600000009"),  # both wrong
        ("right", ""),
        ("", ""),
        ("right", "1360000000"),
    ],
)
def test_a_wrong_pair_reveals_nothing(client, aid, number, mobile):
    number = aid.number if number == "right" else number
    response = _track(client, number, mobile)
    text = page_text(response)
    assert response.status_code == 422
    assert "没有与该查询编号和手机号码相符的申请" in text
    for secret in ("王小宝", "王奶奶", "5678", "城北社区", "申请 YJ"):
        assert secret not in text
    assert client.get("/charity/track/request").status_code == 303


def test_the_answer_is_the_same_for_a_wrong_number_and_a_wrong_mobile(client, aid):
    def summary(response) -> str:
        html = response.get_data(as_text=True)
        return html[html.index('<div class="error-summary"') :].split("</div>")[0]

    wrong_mobile = _track(client, aid.number, "13600000009")
    wrong_number = _track(client, "YJ2026999999", "13600000001")
    assert wrong_mobile.status_code == wrong_number.status_code == 422
    assert summary(wrong_mobile) == summary(wrong_number)


def test_another_request_cannot_be_reached_with_ones_own_mobile(client, app, session, aid):
    other = _submit(
        app,
        session,
        "track-key-0000000002",
        applicant_mobile="13900000002",
        child_name="李小花",
        account_number="6228000099998888",
    )
    assert _track(client, aid.number, "13600000001").status_code == 303
    assert _track(client, other.number, "13600000001").status_code == 422
    text = page_text(client.get("/charity/track/request"))
    assert aid.number in text and other.number not in text and "李小花" not in text


def test_asked_for_more_the_applicant_adds_documents_and_it_goes_back_to_the_township(
    client, app, session, aid, township
):
    with app.test_request_context():
        requests.ask_info(session, aid, actor=township, what="请补充户口簿和村委会证明。")
    session.commit()
    _track(client, aid.number, "13600000001")
    page = client.get("/charity/track/request")
    text = page_text(page)
    assert _label(app, RequestStatus.INFO_NEEDED) in text and "请补充户口簿和村委会证明。" in text
    assert 'action="/charity/track/documents"' in page.get_data(as_text=True)
    response = _add(
        client, [("household", "户口簿.pdf", PDF), ("village", "证明.jpg", jpeg_with_gps())]
    )
    assert response.status_code == 303, page_text(response)[:2000]
    session.expire_all()
    assert session.get(AidRequest, aid.id).status == RequestStatus.SUBMITTED
    kinds = sorted(d.kind for d in session.exec(select(RequestDocument)).all())
    assert kinds == ["household", "village"]
    after = page_text(client.get("/charity/track/request"))
    assert "材料已补充" in after and _label(app, RequestStatus.SUBMITTED) in after


def test_asked_by_the_charity_the_request_goes_back_to_the_charity(
    client, app, session, aid, township
):
    staff = make_user(session, role=Role.CHARITY_STAFF)
    with app.test_request_context():
        requests.township_check(session, aid, actor=township)
        requests.ask_info(session, aid, actor=staff, what="请补充医院费用清单。")
    session.commit()
    _track(client, aid.number, "13600000001")
    assert _add(client, [("medical", "清单.pdf", PDF)]).status_code == 303
    session.expire_all()
    assert session.get(AidRequest, aid.id).status == RequestStatus.CHECKED


def test_a_bad_file_is_marked_and_the_status_stays(client, app, session, aid, township):
    with app.test_request_context():
        requests.ask_info(session, aid, actor=township, what="请补充户口簿。")
    session.commit()
    _track(client, aid.number, "13600000001")
    response = _add(client, [("household", "户口簿.pdf", b"GIF89a not allowed")])
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "PDF" in (error_of(html, "doc_file_0") or "")
    assert "请补充户口簿。" in page_text(response)
    nothing = _add(client, [])
    assert nothing.status_code == 422 and error_of(nothing.get_data(as_text=True), "documents")
    session.expire_all()
    assert session.get(AidRequest, aid.id).status == RequestStatus.INFO_NEEDED
    assert not session.exec(select(RequestDocument)).all()


def test_adding_documents_needs_the_request_held_in_this_browser(app, aid):
    stranger = app.test_client()
    csrf, _key = form_tokens(stranger, "/charity/track")
    response = send_multipart(
        stranger,
        "/charity/track/documents",
        {"csrf_token": csrf, "doc_kind_0": "other", "doc_file_0": (io.BytesIO(PDF), "a.pdf")},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/charity/track")


def test_the_approved_amount_shows_once_approved(app, client, session, aid):
    aid.status = RequestStatus.APPROVING
    aid.approved_fen = 300_000
    session.add(aid)
    session.commit()
    _track(client, aid.number, "13600000001")
    text = page_text(client.get("/charity/track/request"))
    assert _label(app, RequestStatus.APPROVING) in text and "3,000.00" not in text
    aid.status = RequestStatus.APPROVED
    aid.approved_at = utcnow()
    aid.notice_until = (utcnow() + timedelta(days=7)).date()
    session.add(aid)
    session.commit()
    text = page_text(client.get("/charity/track/request"))
    assert _label(app, RequestStatus.APPROVED) in text and "¥3,000.00" in text
    assert "公示截止" in text


def test_a_rejected_request_says_why(app, client, session, aid):
    aid.status = RequestStatus.REJECTED
    aid.reject_reason = "经核实，家庭已获医保全额报销。"
    session.add(aid)
    session.commit()
    _track(client, aid.number, "13600000001")
    page = client.get("/charity/track/request")
    text = page_text(page)
    assert _label(app, RequestStatus.REJECTED) in text and "经核实，家庭已获医保全额报销。" in text
    assert 'action="/charity/track/documents"' not in page.get_data(as_text=True)


def test_forgetting_the_request_on_a_shared_phone(client, aid):
    _track(client, aid.number, "13600000001")
    assert client.get("/charity/track/request").status_code == 200
    assert post(client, "/charity/track/forget").status_code == 303
    assert client.get("/charity/track/request").status_code == 303


def test_tracking_is_rate_limited_per_address(app, client, aid, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_AID_RATE_LIMIT", "2 per hour")
    codes = [_track(client, aid.number, "13600000009").status_code for _ in range(3)]
    # Even the right pair waits now: guessing cannot go on.
    right = _track(client, aid.number, "13600000001").status_code
    assert codes == [422, 422, 429] and right == 429


def test_the_number_and_mobile_in_the_address_open_nothing(app, aid):
    stranger = app.test_client()
    response = stranger.get(f"/charity/track?number={aid.number}&mobile=13600000001")
    assert response.status_code == 200 and "王小宝" not in page_text(response)
    assert stranger.get("/charity/track/request").status_code == 303
