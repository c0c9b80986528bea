"""Uploads (security.md 20): types by content, size, EXIF stripped, served as checked downloads."""

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from portal.config import load_config
from portal.publicity.models import Attachment, Item
from tests.conftest import login, make_user, page_text, post
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

    assert "公益广告须有图片" in page_text(c.get(response.headers["Location"]))
    _upload(c, item, "poster.png", _png())
    post(c, f"/publicity/manage/{item.id}/submit")
    session.expire_all()
    assert services.pending_revision(session, session.get(Item, item.id)) is not None


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 80)).save(out, format="PNG")
    return out.getvalue()


def _publish_working(app, session, item, editor, reviewer):
    from portal.publicity import services

    session.expire_all()  # what the requests committed
    with app.app_context():
        item = session.get(Item, item.id)
        services.submit(session, item=item, user=editor)
        services.publish(session, item=item, reviewer=reviewer)
        session.commit()


def _status(client, url) -> int:
    """The status of a download, its file closed."""
    response = client.get(url)
    response.close()
    return response.status_code


def _public_page(app, path):
    return app.test_client().get(path).get_data(as_text=True)


def test_a_file_added_to_a_live_item_waits_for_review(app, session, publish, editor, reviewer):
    item = publish(kind="notice", slug="t-files", title="讲座通知")
    page = "/publicity/notices/t-files"
    assert "讲座安排.pdf" not in _public_page(app, page)  # cached from here on
    c = app.test_client()
    login(c, editor)
    response = _upload(c, item, "讲座安排.pdf", PDF)
    assert "审核员发布草稿后" in page_text(c.get(response.headers["Location"]))
    attachment = session.exec(select(Attachment)).one()
    url = f"/publicity/files/{attachment.id}/{attachment.filename}"
    # Not public: neither on the page nor as a download, while the draft waits.
    assert "讲座安排.pdf" not in _public_page(app, page)
    assert _status(app.test_client(), url) == 404
    writers_copy = c.get(url)
    assert writers_copy.status_code == 200 and writers_copy.data == PDF
    writers_copy.close()
    assert "尚未公开" in page_text(c.get(f"/publicity/manage/{item.id}"))
    # It went into a new draft revision, which goes through review like the text.
    from portal.publicity import services

    session.expire_all()
    item = session.get(Item, item.id)
    working = services.working_revision(session, item)
    assert working.id != item.live_revision_id and working.status == "draft"
    assert attachment.added_in_revision_id == working.id
    _publish_working(app, session, item, editor, reviewer)
    assert "讲座安排.pdf" in _public_page(app, page)
    download = app.test_client().get(url)
    assert download.status_code == 200 and download.data == PDF
    download.close()


def test_a_live_file_is_never_cached_publicly(app, session, publish, editor, reviewer):
    item = publish(kind="notice", slug="t-cache-file", title="通知")
    c = app.test_client()
    login(c, editor)
    _upload(c, item, "日程.pdf", PDF)
    _publish_working(app, session, session.get(Item, item.id), editor, reviewer)
    attachment = session.exec(select(Attachment)).one()
    download = app.test_client().get(f"/publicity/files/{attachment.id}/{attachment.filename}")
    assert download.status_code == 200
    cache_control = download.headers["Cache-Control"]
    assert "private" in cache_control and "public" not in cache_control
    assert "no-cache" in cache_control and "Expires" not in download.headers
    again = app.test_client().get(
        f"/publicity/files/{attachment.id}/{attachment.filename}",
        headers={"If-None-Match": download.headers["ETag"]},
    )
    assert again.status_code == 304  # asking again is cheap, and checks the file is still live
    download.close()
    again.close()


def test_removing_a_file_is_confirmed_and_waits_for_review(app, session, publish, editor, reviewer):
    item = publish(kind="notice", slug="t-remove", title="通知")
    c = app.test_client()
    login(c, editor)
    _upload(c, item, "旧日程.pdf", PDF)
    _publish_working(app, session, session.get(Item, item.id), editor, reviewer)
    attachment = session.exec(select(Attachment)).one()
    page, url = "/publicity/notices/t-remove", f"/publicity/files/{attachment.id}/x.pdf"
    remove = f"/publicity/manage/{item.id}/attachments/{attachment.id}/remove"
    assert f'href="{remove}"' in c.get(f"/publicity/manage/{item.id}").get_data(as_text=True)
    # Asked first, on a page that works without JavaScript.
    question = c.get(remove)
    assert question.status_code == 200
    assert "确定从此条目中删除“旧日程.pdf”吗？" in page_text(question)
    assert f'action="{remove}"' in question.get_data(as_text=True)
    session.expire_all()
    assert session.get(Attachment, attachment.id).removed_in_revision_id is None  # GET: nothing
    # No CSRF token, no removal.
    assert c.post(remove).status_code == 400
    response = post(c, remove)
    assert response.status_code == 303
    item_page = page_text(c.get(response.headers["Location"]))
    assert "文件已从草稿中删除" in item_page
    assert "本草稿中删除的文件（发布前仍公开显示）： 旧日程.pdf" in item_page
    # Still public until the draft that removes it is published.
    assert "旧日程.pdf" in _public_page(app, page)
    assert _status(app.test_client(), url) == 200
    _publish_working(app, session, session.get(Item, item.id), editor, reviewer)
    assert "旧日程.pdf" not in _public_page(app, page)
    assert _status(app.test_client(), url) == 404
    assert _status(c, url) == 200  # writers still reach every file
    # The old revision still lists it: a preview shows what was public then.
    first = session.exec(select(Item).where(Item.id == item.id)).one()
    old = c.get(f"/publicity/manage/{first.id}/preview/1").get_data(as_text=True)
    assert "旧日程.pdf" not in old  # added in revision 2
    second = c.get(f"/publicity/manage/{first.id}/preview/2").get_data(as_text=True)
    assert "旧日程.pdf" in second


def test_removing_is_for_writers_and_for_files_of_the_item(app, session, item_page, publish):
    c, item = item_page
    _upload(c, item, "a.pdf", PDF)
    attachment = session.exec(select(Attachment)).one()
    other_item = publish(kind="news", slug="n-other-item", title="别的")
    assert (
        c.get(f"/publicity/manage/{other_item.id}/attachments/{attachment.id}/remove").status_code
        == 404
    )
    assert c.get(f"/publicity/manage/{item.id}/attachments/999999/remove").status_code == 404
    volunteer = app.test_client()
    login(volunteer, make_user(session, role="volunteer"))
    remove = f"/publicity/manage/{item.id}/attachments/{attachment.id}/remove"
    assert post(volunteer, remove).status_code == 403
    post(c, remove)
    # Removed once; a second try says so in Chinese.
    response = post(c, remove)
    assert "该文件不是此条目的附件" in page_text(c.get(response.headers["Location"]))


def test_files_cannot_change_while_a_revision_waits_for_review(app, session, item_page):
    c, item = item_page
    _upload(c, item, "a.pdf", PDF)
    post(c, f"/publicity/manage/{item.id}/submit")
    response = _upload(c, item, "b.pdf", PDF + b"b")
    assert response.status_code == 200
    assert "正在等待审核" in page_text(response)
    attachment = session.exec(select(Attachment)).one()
    removed = post(c, f"/publicity/manage/{item.id}/attachments/{attachment.id}/remove")
    assert "正在等待审核" in page_text(c.get(removed.headers["Location"]))
    session.expire_all()
    assert session.get(Attachment, attachment.id).removed_in_revision_id is None


@pytest.mark.parametrize("open_draft", [False, True])
def test_a_reviewer_who_adds_a_file_cannot_publish_the_draft(
    app, session, publish, editor, reviewer, open_draft
):
    from portal.publicity import services

    item = publish(kind="notice", slug="t-reviewer-file", title="通知")
    if open_draft:  # the editor's draft is open: the file goes into it, saved by the editor
        with app.app_context():
            services.save_draft(session, item=item, editor=editor, draft=services.Draft(title="改"))
            session.commit()
    c = app.test_client()
    login(c, reviewer)
    _upload(c, item, "补充.pdf", PDF)
    session.expire_all()
    with app.app_context():
        item = session.get(Item, item.id)
        working = services.working_revision(session, item)
        assert working.created_by == (editor.id if open_draft else reviewer.id)
        services.submit(session, item=item, user=editor)
        assert not services.permissions(session, item, reviewer).can_publish
        other = make_user(session, role="reviewer", name="审核丙")
        assert services.permissions(session, item, other).can_publish


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims these dimensions (no pixel data is needed to refuse it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, 5001),  # just over 40 megapixels
        (10000, 10000),  # 100 megapixels: Pillow warns
        (20000, 10000),  # 200 megapixels: Pillow refuses to open it
    ],
)
def test_an_oversized_image_is_refused_as_too_large(item_page, session, width, height):
    c, item = item_page
    response = _upload(c, item, "海报.png", _png_header(width, height))
    assert response.status_code == 200
    text = page_text(response)
    assert "图片过大（最多 4000 万像素）" in text and "无法读取" not in text
    assert session.exec(select(Attachment)).first() is None
