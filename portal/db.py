"""Database engine and the session-per-request (committed once at the boundary)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 15_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout; transactions begun by us (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        # The driver's own transaction handling is switched off so that BEGIN is ours.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        # Through SQLAlchemy, not the driver's connection: a locked database must raise
        # SQLAlchemy's OperationalError, which the scheduler and the views know to be transient.
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kwargs) -> Engine:
    """Create the engine for a SQLite file or a PostgreSQL server.

    A SQLite database file that does not exist yet is created readable by its owner only
    (mode 600) before the first connection; SQLite gives its -wal and -shm files the same mode.
    """
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        path = sqlite_file(url)
        if path is not None:

            @event.listens_for(engine, "do_connect")
            def _create_private(_dialect, _record, _cargs, _cparams):
                create_private_file(path)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database or a `file:` URI."""
    parsed = make_url(url)
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database)


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (600), unless it exists already.

    An empty file is a valid SQLite database. When the folder is missing (or unreadable) this
    does nothing, and connecting reports the error as it always has.
    """
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class DatabaseState:
    """One application's engine (and, in tests, the connection sessions are bound to)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Tests bind sessions to one connection and isolate them with SAVEPOINTs.
        self.test_connection: Connection | None = None


class Database:
    """Hands out sessions for requests, jobs and commands of the current application."""

    def init_app(self, app: Flask) -> None:
        app.extensions["portal_db"] = DatabaseState(make_engine(app.config["DATABASE_URL"]))
        app.teardown_appcontext(self._teardown)

    @property
    def state(self) -> DatabaseState:
        return current_app.extensions["portal_db"]

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def new_session(self, *, write: bool = True) -> Session:
        """Open a session; on SQLite a writer begins IMMEDIATE so writers queue, not fail."""
        state = self.state
        if state.test_connection is not None:
            return Session(
                bind=state.test_connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
        bind = state.engine
        session = Session(bind=bind, expire_on_commit=False)
        if bind.dialect.name == "sqlite":
            if write:
                session.bind = bind.execution_options(sqlite_begin="IMMEDIATE")
            else:
                # A reader that turns out to write upgrades before its first write.
                session.info["portal_reader"] = True
                session.info[_DEFERRED] = True
        return session

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work for a command or job: commit on success, roll back on error."""
        session = self.new_session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @staticmethod
    def _teardown(_exc) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_session() -> Session:
    """The current request's session, opened on first use."""
    session = g.get("db_session")
    if session is None:
        write = not has_request_context() or request.method not in SAFE_METHODS
        session = Database().new_session(write=write)
        g.db_session = session
    return session


def commit_request_session(response):
    """Commit the request's work once, when the answer is a success or a redirect.

    A 4xx or 5xx answer rolls back: a refused or failed request leaves nothing half done.
    (Writes that must outlive a refusal, such as the audit entry of a denial, are made in
    their own short transaction.)
    """
    if not has_app_context():
        return response
    session = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    separate = g.pop("separate_writes", None)
    if separate:
        with Database().transaction() as own:
            for write in separate:
                write(own)
    return response


def write_separately(write) -> None:
    """Run `write(session)` in its own short transaction once the request's has ended.

    For what must be kept whatever becomes of the request (the audit entry of a denial): it
    never makes the request's reader write, and the request's rollback cannot take it away.
    """
    g.setdefault("separate_writes", []).append(write)


def discard_writes() -> None:
    """Roll back what the current request has written so far (after a refused action)."""
    session = g.get("db_session") if has_app_context() else None
    if session is not None:
        session.rollback()


# SQLite readers that write -----------------------------------------------------------------
#
# A GET opens its session as a plain (DEFERRED) reader. If it then writes, SQLite would try to
# upgrade the read snapshot to a write lock, and fails at once with "database is locked" when
# another writer committed since the snapshot was taken (busy_timeout does not apply). So
# before the first write the read transaction is ended and a write transaction begun
# (BEGIN IMMEDIATE, which waits its turn): the session then reads the latest data, as a
# PostgreSQL session at READ COMMITTED would.

_DEFERRED = "portal_sqlite_deferred"


def _begin_writing(session: Session) -> None:
    if not session.info.pop(_DEFERRED, False):
        return
    dbapi = session.connection().connection.dbapi_connection
    if dbapi.in_transaction:
        dbapi.execute("COMMIT")  # a read-only transaction: nothing is lost
    dbapi.execute("BEGIN IMMEDIATE")


@event.listens_for(Session, "before_flush")
def _upgrade_before_flush(session, _context, _instances) -> None:
    if _DEFERRED in session.info and (session.new or session.dirty or session.deleted):
        _begin_writing(session)


@event.listens_for(Session, "do_orm_execute")
def _upgrade_before_statement(state) -> None:
    if _DEFERRED in state.session.info and (state.is_insert or state.is_update or state.is_delete):
        _begin_writing(state.session)


@event.listens_for(Session, "after_transaction_end")
def _forget_upgrade(session, transaction) -> None:
    # After the outermost transaction the next one begins as a reader again.
    if transaction.parent is None and session.info.get("portal_reader"):
        session.info[_DEFERRED] = True


def on_commit(session: Session, callback) -> None:
    """Run `callback()` once this session's transaction has committed (never on rollback)."""
    session.info.setdefault("on_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session) -> None:
    # Releasing a SAVEPOINT (begin_nested) fires after_commit too: the data is not committed
    # until the outermost transaction is, so wait for that one.
    if session.in_nested_transaction():
        return
    callbacks = session.info.pop("on_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - the commit stands; repair jobs catch up
            import logging

            logging.getLogger("portal.db").exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_on_commit(session) -> None:
    if session.in_nested_transaction():
        return  # a rolled-back SAVEPOINT; the outer transaction may still commit
    session.info.pop("on_commit", None)
