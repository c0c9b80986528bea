"""Uploaded files are the portal account's alone: the folder 700, each file 600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlmodel import select

from portal.publicity.models import Attachment, Item
from tests.conftest import login, post
from tests.publicity.test_attachments import PDF, _upload
from tests.publicity.test_views import NEW


@pytest.fixture()
def usual_umask():
    old = os.umask(0o022)  # under which files would otherwise be readable by everyone
    try:
        yield
    finally:
        os.umask(old)


def test_an_uploaded_file_and_its_folder_are_private(app, session, editor, usual_umask):
    c = app.test_client()
    login(c, editor)
    post(c, "/publicity/manage/new", NEW)
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    assert _upload(c, item, "讲座安排.pdf", PDF).status_code == 303
    attachment = session.exec(select(Attachment)).one()
    uploads = Path(app.config["PORTAL_UPLOAD_DIR"])
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
    assert stat.S_IMODE((uploads / attachment.sha256).stat().st_mode) == 0o600
