"""Database set-up: SQLite pragmas, queued writers, migrations that match the models."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from portal import migrate
from portal.db import make_engine
from portal.extensions import db
from portal.models import load_models
from portal.places import TOWNSHIPS, Township

load_models()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_writers_queue_instead_of_failing(tmp_path, new_app):
    """Two write transactions at once: the second waits (BEGIN IMMEDIATE), neither fails."""
    app = new_app(f"sqlite:///{tmp_path / 'w.db'}")
    errors, order = [], []
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
            conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
        first_holds = threading.Event()

        def writer(name, hold):
            try:
                with app.app_context(), db.transaction() as s:
                    value = s.execute(text("SELECT n FROM counter")).scalar_one()
                    if hold:
                        first_holds.set()
                        threading.Event().wait(0.3)
                    s.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
                    order.append(name)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        a = threading.Thread(target=writer, args=("a", True))
        a.start()
        first_holds.wait(5)
        b = threading.Thread(target=writer, args=("b", False))
        b.start()
        a.join()
        b.join()
        with db.engine.connect() as conn:
            # Read-modify-write from both: no lost update because the second began after the first.
            assert conn.exec_driver_sql("SELECT n FROM counter").scalar() == 2
    assert not errors and order == ["a", "b"]


def test_foreign_keys_are_enforced(session):
    from portal.auth.models import User

    session.add(
        User(
            name="x",
            role="township_staff",
            phone="13700000000",
            password_hash="x",
            township_code="000000000",
        )
    )
    with pytest.raises(Exception, match="(?i)foreign key"):
        session.flush()
    session.rollback()


def test_migrations_build_the_models_schema(scratch_database, new_app):
    """The migrated schema is the models' schema: tables, columns with their types (UTCDateTime
    as the DateTime(timezone=True) it is stored as), nullability, server defaults, indexes,
    unique and foreign-key constraints, compared as `flask portal revision` compares them.

    SQLite keeps no time zone in a column type, so DateTime with or without one look alike
    there; the PostgreSQL run (TEST_DATABASE_URL) tells them apart.
    """
    app = new_app(scratch_database)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["portal", "init"])
    assert result.exit_code == 0, result.output
    assert "19 present, 19 added" in result.output
    with app.app_context():
        with db.engine.connect() as conn:
            diff = migrate.schema_differences(conn)
        assert diff == [], diff
        with Session(db.engine) as s:
            assert {t.code for t in s.exec(select(Township))} == {c for c, _n, _p in TOWNSHIPS}
        # Downgrade to nothing and up again works.
        migrate.downgrade(db.engine, "base")
        migrate.upgrade(db.engine, "head")
        with db.engine.connect() as conn:
            assert migrate.schema_differences(conn) == []
        db.engine.dispose()
    # Downgraded to nothing, the townships went with their table: init loads all 19 again.
    again = runner.invoke(args=["portal", "init"])
    assert again.exit_code == 0, again.output
    assert "Townships: 19 present, 19 added or updated." in again.output
    once_more = runner.invoke(args=["portal", "init"])
    assert once_more.exit_code == 0, once_more.output
    assert "Townships: 19 present, 0 added or updated." in once_more.output


def test_migration_template_imports_sqlmodel():
    template = Path(__file__).resolve().parents[1] / "migrations" / "script.py.mako"
    assert "import sqlmodel" in template.read_text()
