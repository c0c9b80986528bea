"""Uploads (security.md 20): types by content, size, EXIF stripped, served as checked downloads."""

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from portal.config import load_config
from portal.publicity.models import Attachment, Item
from tests.conftest import login, make_user, post
from tests.publicity.test_views import NEW

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (200, 50, 50))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 0.0, 0.0), 3: "E", 4: (119.0, 0.0, 0.0)}  # GPS
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture()
def item_page(app, session, editor):
    c = app.test_client()
    login(c, editor)
    post(c, "/publicity/manage/new", NEW)
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    return c, item


def _upload(c, item, name, data):
    from werkzeug.test import EnvironBuilder

    from tests.conftest import csrf_token

    # The builder spools big bodies to a temporary file: close it when done.
    builder = EnvironBuilder(
        path=f"/publicity/manage/{item.id}/attachments",
        method="POST",
        data={"csrf_token": csrf_token(c), "file": (io.BytesIO(data), name)},
    )
    environ = builder.get_environ()
    try:
        return c.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def test_a_pdf_is_attached_and_downloaded_as_an_attachment(item_page, session, app):
    c, item = item_page
    response = _upload(c, item, "讲座安排.pdf", PDF)
    assert response.status_code == 303
    attachment = session.exec(select(Attachment)).one()
    assert attachment.content_type == "application/pdf" and attachment.filename == "讲座安排.pdf"
    download = c.get(f"/publicity/files/{attachment.id}/{attachment.filename}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()
    # Not published yet: the public cannot fetch it; checked on every request.
    assert app.test_client().get(f"/publicity/files/{attachment.id}/x.pdf").status_code == 404


def test_images_are_reencoded_without_exif(item_page, session, app, tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_UPLOAD_DIR", raising=False)
    c, item = item_page
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)
    _upload(c, item, "photo.jpg", original)
    attachment = session.exec(select(Attachment)).one()
    path = app.config["PORTAL_UPLOAD_DIR"] + "/" + attachment.sha256
    with Image.open(path) as stored:
        assert not stored.getexif()
    assert attachment.is_image and attachment.content_type == "image/jpeg"
    # Uploads are never stored where the static files are served from, by default either.
    static = Path(app.static_folder).resolve()
    assert not Path(path).resolve().is_relative_to(static)
    default = load_config(str(tmp_path / "instance"))["PORTAL_UPLOAD_DIR"]
    assert not Path(default).resolve().is_relative_to(static)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("report.pdf", b"MZ\x90\x00 this is an exe", "只能上传 PDF、JPEG 和 PNG 文件"),
        ("photo.png", b"<svg onload=alert(1)></svg>", "只能上传 PDF、JPEG 和 PNG 文件"),
        ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "无法读取该图片"),
        ("empty.pdf", b"", "文件是空的"),
    ],
)
def test_wrong_files_are_refused_with_a_clear_message(item_page, session, name, data, message):
    c, item = item_page
    response = _upload(c, item, name, data)
    # Refused like any form: the item's page again, the reason on the upload field.
    assert response.status_code == 200
    from tests.conftest import page_text

    assert message in page_text(response)
    assert 'id="file-error"' in response.get_data(as_text=True)
    assert session.exec(select(Attachment)).first() is None


def test_too_large_uploads_answer_413(item_page, app, monkeypatch):
    c, item = item_page
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024 * 1024)
    # A body over the limit is refused from its length, before anything is read.
    response = c.post(
        f"/publicity/manage/{item.id}/attachments",
        data=PDF + b"0" * (2 * 1024 * 1024),
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 413


def test_files_over_8_mb_are_refused(item_page, session):
    c, item = item_page
    response = _upload(c, item, "big.pdf", PDF + b"0" * (8 * 1024 * 1024))
    from tests.conftest import page_text

    # The item's page is shown again with the error on the upload form (nothing stored).
    assert response.status_code == 200
    assert "文件过大" in page_text(response)
    assert session.exec(select(Attachment).where(Attachment.item_id == item.id)).all() == []


def test_other_roles_cannot_upload(app, session, item_page):
    _c, item = item_page
    other = app.test_client()
    login(other, make_user(session, role="volunteer"))
    assert _upload(other, item, "a.pdf", PDF).status_code == 403


def test_a_public_service_ad_needs_its_image_before_review(app, session, editor):
    from portal.publicity import services

    c = app.test_client()
    login(c, editor)
    post(c, "/publicity/manage/new", {**NEW, "kind": "ad", "slug": "ad-river"})
    item = session.exec(select(Item).where(Item.slug == "ad-river")).one()
    response = post(c, f"/publicity/manage/{item.id}/submit")
    from tests.conftest import page_text

    assert "公益广告须有图片" in page_text(c.get(response.headers["Location"]))
    _upload(c, item, "poster.png", _png())
    post(c, f"/publicity/manage/{item.id}/submit")
    session.expire_all()
    assert services.pending_revision(session, session.get(Item, item.id)) is not None


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 80)).save(out, format="PNG")
    return out.getvalue()


def test_a_file_attached_to_a_live_item_appears_on_its_cached_page(app, session, publish, editor):
    item = publish(kind="notice", slug="t-files", title="讲座通知")
    public = app.test_client()
    assert "讲座安排.pdf" not in public.get("/publicity/notices/t-files").get_data(as_text=True)
    c = app.test_client()
    login(c, editor)
    _upload(c, item, "讲座安排.pdf", PDF)
    assert "讲座安排.pdf" in public.get("/publicity/notices/t-files").get_data(as_text=True)
