"""Migrations, driven from code: the Alembic configuration, upgrades and new revisions.

The files in migrations/versions form one linear history that the kernel and every area add
to. A new revision is generated from the models against a scratch SQLite database brought to
the newest revision, so writing one never touches the real database. The workflow is described
in docs/migrations.md.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app, has_app_context

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# New files are named by date and subject, e.g. 20261130_2fe49264197b_content_versions.py
# ("%%" because the configuration interpolates "%").
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"


class MigrationError(RuntimeError):
    """A migration cannot be written or applied; the message says why."""


class RevisionRefused(MigrationError):
    """A new revision cannot or need not be written."""


def alembic_config(
    connection: Connection | None = None, *, directory: str | Path | None = None
) -> Config:
    """The Alembic configuration, built in code (there is no alembic.ini).

    `connection` is the one migrations/env.py runs on; `directory` defaults to the project's
    migrations/ (tests use a copy).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(directory or MIGRATIONS))
    config.set_main_option("file_template", FILE_TEMPLATE)
    if has_app_context():
        url = current_app.config["DATABASE_URL"]
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _migrate(engine: Engine, run: Callable[[Config], object], directory: str | Path | None) -> None:
    """Run migrations in one transaction.

    SQLite changes a table by copying it to a new one and dropping the old (Alembic's batch
    mode), which foreign-key enforcement refuses for a table other rows refer to. So, as
    SQLite's own procedure for schema changes says, enforcement is off while the migrations run
    (it can only be switched outside a transaction), and PRAGMA foreign_key_check must find
    nothing before the transaction commits.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                run(alembic_config(connection, directory=directory))
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(
                            "The migrations left rows whose foreign keys point nowhere "
                            f"(table, rowid, parent, key): {broken[:10]}; nothing was changed."
                        )
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head", *, directory: str | Path | None = None) -> None:
    from alembic import command

    _migrate(engine, lambda config: command.upgrade(config, revision), directory)


def downgrade(engine: Engine, revision: str, *, directory: str | Path | None = None) -> None:
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision), directory)


def upgrade_database() -> None:
    """Bring the application's database to the newest migration."""
    from portal.extensions import db

    upgrade(db.engine)


def single_head(directory: str | Path | None = None) -> str | None:
    """The newest revision (None before the first), refusing a history that has forked."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config(directory=directory)).get_heads()
    if len(heads) > 1:
        raise RevisionRefused(
            f"The migration history has more than one head ({', '.join(sorted(heads))}): "
            "two revisions were written on top of the same one. Set the newer file's "
            "down_revision to the other one's revision, so that the history is one line "
            "again, then run this command again."
        )
    return heads[0] if heads else None


def make_revision(
    message: str, *, empty: bool = False, directory: str | Path | None = None
) -> Path:
    """Write a revision for what the models changed since the newest one; return its path.

    The comparison runs against a scratch SQLite database upgraded to the newest revision.
    Nothing changed means no file, unless `empty` asks for one (to be filled in by hand).
    """
    from alembic import command

    from portal.db import make_engine

    single_head(directory)

    def refuse_empty(_context, _revision, directives) -> None:
        if not empty and all(script.upgrade_ops.is_empty() for script in directives):
            raise RevisionRefused(
                "The models match the newest migration: there is nothing to write. "
                "Use --empty for a revision you fill in by hand."
            )

    written = []
    with tempfile.TemporaryDirectory(prefix="portal-revision-") as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            upgrade(engine, directory=directory)
            with engine.begin() as connection:
                written.append(
                    command.revision(
                        alembic_config(connection, directory=directory),
                        message=message,
                        autogenerate=True,
                        process_revision_directives=refuse_empty,
                    )
                )
        finally:
            engine.dispose()
    (script,) = written
    return Path(script.path)


def schema_differences(connection: Connection, *, directory: str | Path | None = None) -> list:
    """What autogenerate finds between this database and the models, compared as
    migrations/env.py configures it (types, nullability, server defaults); [] when they match.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = alembic_config(connection, directory=directory)
    script = ScriptDirectory.from_config(config)
    found: list = []

    def compare(_heads, context):
        found.extend(compare_metadata(context, context.opts["target_metadata"]))
        return []

    with EnvironmentContext(config, script, fn=compare):
        script.run_env()
    return found
