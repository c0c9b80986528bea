"""Database engine and the session-per-request (committed once at the boundary)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, g, has_app_context
from sqlalchemy import Engine, create_engine, event
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
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kwargs) -> Engine:
    """Create the engine for a SQLite file or a PostgreSQL server."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """Holds the engine; hands out sessions for requests, jobs and commands."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        # Tests bind sessions to one connection and isolate them with SAVEPOINTs.
        self.test_connection: Connection | None = None

    def init_app(self, app: Flask) -> None:
        if self.engine is None or app.config.get("DATABASE_ENGINE_RESET", True):
            self.engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["portal_db"] = self
        app.teardown_appcontext(self._teardown)

    @property
    def is_sqlite(self) -> bool:
        return self.engine is not None and self.engine.dialect.name == "sqlite"

    def new_session(self, *, write: bool = True) -> Session:
        """Open a session; on SQLite a writer begins IMMEDIATE so writers queue, not fail."""
        assert self.engine is not None, "Database.init_app was not called"
        if self.test_connection is not None:
            return Session(
                bind=self.test_connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
        bind = self.engine
        if write and self.is_sqlite:
            bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        return Session(bind=bind, expire_on_commit=False)

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

    def _teardown(self, _exc) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_session() -> Session:
    """The current request's session, opened on first use."""
    from flask import current_app, request

    session = g.get("db_session")
    if session is None:
        database: Database = current_app.extensions["portal_db"]
        from flask import has_request_context

        write = not has_request_context() or request.method not in SAFE_METHODS
        session = database.new_session(write=write)
        g.db_session = session
    return session


def commit_request_session(response):
    """Commit the request's work once, when the answer is not a server error."""
    if not has_app_context():
        return response
    session = g.get("db_session")
    if session is not None:
        if response.status_code < 500:
            session.commit()
        else:
            session.rollback()
    return response
