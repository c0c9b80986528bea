"""Files holding personal data are the portal account's alone: 600 for files, 700 for folders.

Each test sets the usual umask (022) first, under which files would otherwise be created
readable by everyone (644).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from portal.db import make_engine
from portal.extensions import db
from portal.notify.channels import LogSmsProvider, SmsRequest
from tests.conftest import reset_schema


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_are_private(tmp_path):
    path = tmp_path / "portal.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert mode(path) == 0o600
        assert mode(Path(f"{path}-wal")) == 0o600
        assert mode(Path(f"{path}-shm")) == 0o600
    finally:
        engine.dispose()


def test_an_existing_database_file_is_left_as_it_is_by_the_engine(tmp_path):
    path = tmp_path / "portal.db"
    reset_schema(f"sqlite:///{path}")
    path.chmod(0o640)  # the administrator's choice; `flask portal init` narrows it
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM township")).scalar() == 19
    finally:
        engine.dispose()
    assert mode(path) == 0o640


def test_in_memory_databases_create_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_init_creates_private_files_and_narrows_loose_ones(tmp_path, new_app):
    database = tmp_path / "portal.db"
    sms_log = tmp_path / "sms.log"
    uploads = tmp_path / "files" / "uploads"
    app = new_app(
        f"sqlite:///{database}", PORTAL_UPLOAD_DIR=str(uploads), PORTAL_SMS_LOG=str(sms_log)
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    assert mode(database) == 0o600
    assert mode(uploads) == 0o700
    assert "Made" not in result.output  # nothing was loose

    # Left readable by others (an older version, a copy, a restore from backup): narrowed.
    database.chmod(0o644)
    uploads.chmod(0o755)
    sms_log.write_text("")
    sms_log.chmod(0o644)
    result = runner.invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    assert (mode(database), mode(uploads), mode(sms_log)) == (0o600, 0o700, 0o600)
    assert f"Made {database} readable by this account only (mode 600)." in result.output
    assert f"Made {uploads} readable by this account only (mode 700)." in result.output


def test_the_sms_log_and_its_folder_are_private(tmp_path, scratch_database, new_app):
    reset_schema(scratch_database)
    app = new_app(scratch_database)
    log_path = tmp_path / "sms" / "sms.log"
    with app.app_context():
        LogSmsProvider(db, log_path).send([SmsRequest("k#sms", "13900000001", "您好")])
    assert mode(log_path) == 0o600
    assert mode(log_path.parent) == 0o700
