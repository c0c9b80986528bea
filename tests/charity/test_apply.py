"""Applying for emergency aid without an account: every wrong field marked at once, input kept,
one request per form however often it is sent, files checked by content, rate limits."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select
from werkzeug.test import EnvironBuilder

from portal.charity.models import AidRequest, RequestDocument
from tests.charity.test_workflow_core import application
from tests.conftest import CSRF_RE, page_text

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
KEY_RE = re.compile(r'id="idempotency_key" name="idempotency_key" type="hidden" value="([^"]+)"')
CJK = re.compile(r"[\u3400-\u9fff]")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (200, 50, 50))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (28.0, 27.0, 0.0), 3: "E", 4: (119.0, 29.0, 0.0)}  # GPS
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def form_tokens(client, path: str = "/charity/apply") -> tuple[str, str | None]:
    """The CSRF token and the idempotency key of the form, read from the page."""
    html = client.get(path).get_data(as_text=True)
    csrf = CSRF_RE.search(html)
    key = KEY_RE.search(html)
    return csrf.group(1) or csrf.group(2), key.group(1) if key else None


def send_multipart(client, path: str, form: dict):
    """POST a multipart form; the builder spools big bodies to a temporary file, closed here."""
    builder = EnvironBuilder(path=path, method="POST", data=form)
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def apply_form(
    client,
    *,
    files: tuple[tuple[str, str, bytes], ...] = (),
    key: str | None = None,
    drop: tuple[str, ...] = (),
    **overrides,
) -> dict:
    """The request form filled in (a valid emergency by default), with its tokens and files."""
    csrf, page_key = form_tokens(client)
    form = {k: v for k, v in application(**overrides).items() if k not in drop}
    form["csrf_token"] = csrf
    form["idempotency_key"] = key or page_key
    for slot in range(6):
        form[f"doc_kind_{slot}"] = "other"
    for slot, (kind, name, data) in enumerate(files):
        form[f"doc_kind_{slot}"] = kind
        form[f"doc_file_{slot}"] = (io.BytesIO(data), name)
    return form


def apply(client, **kwargs):
    return send_multipart(client, "/charity/apply", apply_form(client, **kwargs))


def error_of(html: str, field: str) -> str | None:
    """The text of a field's error message, or None."""
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([\w-]+)-error">([^<]*)</p>', html))


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input [^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def _requests(session):
    session.expire_all()
    return session.exec(select(AidRequest).order_by(AidRequest.id)).all()


# The page ------------------------------------------------------------------------------------


def test_the_landing_page_explains_and_links_to_apply_track_and_disclosure(client):
    response = client.get("/charity/")
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert response.status_code == 200
    assert "三（十一）" in text and "专项基金、小额冠名基金" in text
    assert 'href="/charity/apply"' in html and 'href="/charity/track"' in html
    assert 'href="/charity/disclosure"' in html
    assert "户口簿" in text and "先行救助" in text and "公示" in text
    # Nothing on it is "not open yet" but the sending of text messages.
    assert text.count("尚未开通") == text.count("短信发送功能尚未开通") == 1


def test_the_form_has_a_new_key_each_time_it_is_first_shown(client):
    first, second = form_tokens(client)[1], form_tokens(client)[1]
    assert first and second and first != second and len(first) >= 32
    response = client.get("/charity/apply")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'type="file"' in html
    assert "110" in page_text(response)


# A request sent -----------------------------------------------------------------------------


def test_a_request_with_its_documents_shows_the_tracking_number(client, session, app):
    response = apply(
        client,
        emergency="",
        kind="illness",
        files=(
            ("application", "申请表.pdf", PDF),
            ("household", "户口簿.png", png()),
            ("medical", "费用清单.pdf", PDF),
        ),
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"].endswith("/charity/apply/done")
    [aid] = _requests(session)
    assert re.fullmatch(r"YJ\d{10}", aid.number) and not aid.emergency
    assert aid.requested_fen == 600_000 and aid.account_masked.endswith("5678")
    documents = session.exec(select(RequestDocument)).all()
    assert sorted(d.kind for d in documents) == ["application", "household", "medical"]
    done = client.get("/charity/apply/done")
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert f'<strong class="code">{aid.number}</strong>' in html
    assert "6217000012345678" not in html and "13600000001" not in html
    assert "136****0001" in page_text(done)
    assert 'href="/charity/track/request"' in html


def test_an_emergency_may_come_without_documents_and_is_told_what_to_send(client, session):
    response = apply(client)  # an emergency, no files
    assert response.status_code == 303
    text = page_text(client.get("/charity/apply/done"))
    assert "24" in text and "户口簿" in text  # what is still to send


def test_a_jpeg_is_stored_without_its_exif(client, session, app):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)
    response = apply(client, files=(("household", "photo.jpg", original),))
    assert response.status_code == 303
    document = session.exec(select(RequestDocument)).one()
    assert document.content_type == "image/jpeg" and document.filename == "photo.jpg"
    path = Path(app.config["PORTAL_UPLOAD_DIR"]) / "charity" / document.sha256
    with Image.open(path) as stored:
        assert not stored.getexif()


# Idempotency -------------------------------------------------------------------------------


def test_the_same_form_sent_twice_makes_one_request(client, session):
    form = apply_form(client)
    first = send_multipart(client, "/charity/apply", dict(form))
    again = send_multipart(client, "/charity/apply", dict(form))
    assert first.status_code == again.status_code == 303
    assert len(_requests(session)) == 1
    assert page_text(client.get("/charity/apply/done")).count("YJ") >= 1


def test_a_double_click_from_two_browsers_tabs_makes_one_request(client, session, app):
    key = form_tokens(client)[1]
    other = app.test_client()
    codes = [apply(c, key=key).status_code for c in (client, other, client)]
    assert codes == [303, 303, 303]
    [aid] = _requests(session)
    assert aid.idempotency_key == key


def test_a_form_shown_again_keeps_its_key_and_then_makes_one_request(client, session):
    csrf, key = form_tokens(client)
    bad = apply(client, key=key, child_age="x")
    assert bad.status_code == 422
    assert input_value(bad.get_data(as_text=True), "idempotency_key") == key
    assert apply(client, key=key).status_code == 303
    assert apply(client, key=key).status_code == 303
    assert len(_requests(session)) == 1


def test_a_form_without_a_valid_key_is_refused_and_given_a_new_one(client, session):
    response = apply(client, key="short")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and not _requests(session)
    new_key = input_value(html, "idempotency_key")
    assert new_key and new_key != "short" and len(new_key) >= 32


# Wrong input ---------------------------------------------------------------------------------


BAD = [
    ("applicant_name", ""),
    ("applicant_name", "王"),
    ("applicant_name", "王1奶奶"),
    ("applicant_mobile", "12345"),
    ("applicant_mobile", "23600000001"),
    ("applicant_relation", "boss"),
    ("applicant_relation", ""),
    ("child_name", ""),
    ("child_sex", "X"),
    ("child_age", "-1"),
    ("child_age", "18"),
    ("child_age", "x"),
    ("township_code", "999999999"),
    ("township_code", ""),
    ("village", ""),
    ("village", "村" * 31),
    ("kind", "theft"),
    ("amount", "0"),
    ("amount", "-5"),
    ("amount", "1.234"),
    ("amount", "abc"),
    ("amount", "99999999999"),
    ("amount", "100000.01"),
    ("amount", ""),
    ("story", "摔伤了"),
    ("account_holder", ""),
    ("account_bank", "农"),
    ("account_number", "1234"),
    ("account_number", "6217abcd12345678"),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_each_wrong_field_is_marked_in_chinese_and_the_input_kept(client, session, field, value):
    response = apply(client, **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    errors = field_errors(html)
    assert list(errors) == [field], errors
    assert CJK.search(errors[field]), errors[field]
    assert "选择文件" in page_text(response)  # files must be chosen again: said so
    # What was typed stays, the wrong value and the right ones.
    assert input_value(html, "applicant_mobile") == (
        value if field == "applicant_mobile" else "13600000001"
    )
    assert "孩子放学路上被电动车撞伤" in html or field == "story"
    if field in ("applicant_name", "child_age", "amount", "village", "account_number"):
        assert input_value(html, field) == value
    assert not _requests(session)


def test_the_amount_errors_say_what_is_wrong(client):
    expected = {
        "0": "大于零",
        "-5": "大于零",
        "1.234": "两位小数",
        "abc": "两位小数",
        "100001": "100,000",
    }
    for value, words in expected.items():
        html = apply(client, amount=value).get_data(as_text=True)
        assert words in (error_of(html, "amount") or ""), (value, error_of(html, "amount"))


def test_several_wrong_fields_are_marked_at_once(client, session):
    response = apply(
        client,
        drop=("consent", "child_sex"),
        applicant_mobile="123",
        child_age="18",
        amount="abc",
        story="短",
        account_number="12",
    )
    errors = field_errors(response.get_data(as_text=True))
    assert set(errors) == {
        "applicant_mobile",
        "child_sex",
        "child_age",
        "amount",
        "story",
        "account_number",
        "consent",
    }
    assert "同意" in errors["consent"]


def test_without_consent_nothing_is_sent(client, session):
    response = apply(client, drop=("consent",))
    assert response.status_code == 422 and list(field_errors(response.get_data(as_text=True))) == [
        "consent"
    ]
    assert not _requests(session)


def test_missing_documents_are_named_when_it_is_not_an_emergency(client, session):
    response = apply(
        client, emergency="", kind="illness", files=(("application", "申请表.pdf", PDF),)
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    message = error_of(html, "documents")
    assert "户口簿" in message and "病历" in message and "申请表" not in message
    assert input_value(html, "applicant_name") == "王奶奶"
    assert not _requests(session)


def test_a_file_that_is_not_a_pdf_jpeg_or_png_by_content_is_refused(client, session):
    response = apply(client, files=(("household", "scan.pdf", b"MZ\x90\x00 not a pdf at all"),))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "PDF" in (error_of(html, "doc_file_0") or "")
    assert CJK.search(error_of(html, "doc_file_0"))
    assert not _requests(session)


def test_an_oversized_file_is_refused_on_its_own_input(client, session):
    big = b"%PDF-1.4\n" + b"0" * (8 * 1024 * 1024)
    response = apply(
        client, files=(("application", "申请表.pdf", PDF), ("household", "big.pdf", big))
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert error_of(html, "doc_file_0") is None
    assert "8 MB" in (error_of(html, "doc_file_1") or "")
    assert not _requests(session)
    assert not session.exec(select(RequestDocument)).all()


def test_a_file_without_its_kind_is_marked(client, session):
    form = apply_form(client, files=(("household", "户口簿.pdf", PDF),))
    form["doc_kind_0"] = "passport"
    response = send_multipart(client, "/charity/apply", form)
    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), "doc_kind_0")
    assert not _requests(session)


def test_a_body_above_the_limit_is_refused_with_a_page_not_a_trace(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    form = apply_form(client, files=(("other", "a.pdf", b"%PDF-" + b"0" * (limit + 10)),))
    response = send_multipart(client, "/charity/apply", form)
    assert response.status_code == 413
    assert "Traceback" not in response.get_data(as_text=True)


# Privacy and limits ---------------------------------------------------------------------------


def test_nothing_of_a_request_is_readable_from_an_address_alone(client, session, app):
    assert apply(client).status_code == 303
    [aid] = _requests(session)
    stranger = app.test_client()
    for path in (
        "/charity/apply/done",
        "/charity/track/request",
        f"/charity/track/request?number={aid.number}&mobile=13600000001",
        f"/charity/apply/done?number={aid.number}",
    ):
        response = stranger.get(path)
        assert response.status_code == 303 and response.headers["Location"].endswith(
            "/charity/track"
        ), path
    page = stranger.get(f"/charity/track?number={aid.number}&mobile=13600000001")
    assert "王小宝" not in page.get_data(as_text=True)


def test_posting_is_rate_limited_per_address(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_AID_RATE_LIMIT", "2 per hour")
    codes = [apply(client, child_age="x").status_code for _ in range(3)]
    assert codes == [422, 422, 429]
    assert client.get("/charity/apply").status_code == 200  # reading the form is not limited


def test_the_form_is_in_english_too(client):
    response = client.get("/charity/apply?lang=en")
    text = page_text(response)
    assert "Apply for emergency aid" in text and "Your mobile number" in text
