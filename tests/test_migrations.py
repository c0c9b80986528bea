"""Migrations: one linear history of frozen files, and `flask portal revision` that adds to it."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from portal import migrate
from portal.db import make_engine
from portal.timeutil import UTCDateTime

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "migrations" / "versions"
NEW_FILE_NAME = re.compile(r"^\d{8}_[0-9a-f]{12}_[a-z0-9_]+\.py$")


def portal_imports(source: str) -> list[int]:
    """Lines of `import portal...` / `from portal... import`, wherever they are in the file."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "portal" or name.startswith("portal.") for name in names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from portal.audit import SQLITE_TRIGGERS", [1]),
        ("import sqlalchemy as sa\nimport portal.models", [2]),
        ("def upgrade():\n    from portal import models\n", [2]),
        ("import portalx\nfrom sqlmodel import Field\n", []),
    ],
)
def test_the_import_scan_finds_portal_imports_anywhere(source, found):
    assert portal_imports(source) == found


def test_migration_files_import_no_portal_code():
    """A migration is a frozen snapshot: it must not change when portal code changes later."""
    files = sorted(VERSIONS.glob("*.py"))
    assert files
    offenders = [
        f"{path.name}:{line}" for path in files for line in portal_imports(path.read_text())
    ]
    assert offenders == [], "migrations must not import portal code (copy what they need)"


def test_the_history_is_one_line():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()
    revisions = list(script.walk_revisions())
    assert [r.revision for r in revisions if r.is_branch_point or r.is_merge_point] == []
    # Every file in versions/ is a revision of that line.
    assert len(revisions) == len(list(VERSIONS.glob("*.py")))


def test_new_migration_files_are_named_by_date_and_subject():
    old = {"0001", "0002", "0003"}
    names = [p.name for p in VERSIONS.glob("*.py") if p.name[:4] not in old]
    assert [name for name in names if not NEW_FILE_NAME.match(name)] == []


# `flask portal revision`, on a copy of migrations/ ----------------------------------------------


@pytest.fixture()
def migrations_copy(tmp_path, monkeypatch) -> Path:
    """A copy of migrations/ that the command writes to instead of the repository's."""
    copy = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS", copy)
    return copy


@pytest.fixture()
def runner(tmp_path, new_app):
    """The CLI of an app whose own database is never opened by these commands."""
    app = new_app(f"sqlite:///{tmp_path / 'real.db'}")
    yield app.test_cli_runner()
    assert not (tmp_path / "real.db").exists()


@pytest.fixture()
def probe_table():
    """A table the models gain for the length of one test."""
    table = sa.Table(
        "migration_probe",
        SQLModel.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=True),
    )
    yield table
    SQLModel.metadata.remove(table)


def _files(directory: Path) -> set[str]:
    return {path.name for path in (directory / "versions").glob("*.py")}


def _head(directory: Path) -> str:
    return migrate.single_head(directory)


def test_revision_writes_a_file_for_a_model_change(migrations_copy, runner, probe_table):
    before, repository = _files(migrations_copy), _files(ROOT / "migrations")
    head = _head(migrations_copy)
    result = runner.invoke(args=["portal", "revision", "-m", "Add a probe table"])
    assert result.exit_code == 0, result.output
    (name,) = _files(migrations_copy) - before
    assert NEW_FILE_NAME.match(name) and name.endswith("_add_a_probe_table.py")
    assert name in result.output and "Review it" in result.output
    source = (migrations_copy / "versions" / name).read_text()
    assert f"down_revision: str | None = {head!r}" in source
    assert "op.create_table('migration_probe'" in source
    assert "sa.DateTime(timezone=True)" in source and "UTCDateTime" not in source
    assert portal_imports(source) == []
    assert _files(ROOT / "migrations") == repository  # the repository is not touched
    # The new file brings a database to the models' schema, probe table included.
    engine = make_engine(f"sqlite:///{migrations_copy.parent / 'applied.db'}")
    try:
        migrate.upgrade(engine, directory=migrations_copy)
        with engine.connect() as conn:
            assert "migration_probe" in sa.inspect(conn).get_table_names()
            assert migrate.schema_differences(conn, directory=migrations_copy) == []
    finally:
        engine.dispose()


def test_revision_refuses_to_write_nothing(migrations_copy, runner):
    before = _files(migrations_copy)
    result = runner.invoke(args=["portal", "revision", "-m", "nothing changed"])
    assert result.exit_code != 0
    assert "nothing to write" in result.output and "--empty" in result.output
    assert _files(migrations_copy) == before


def test_revision_writes_an_empty_file_when_asked(migrations_copy, runner):
    before = _files(migrations_copy)
    result = runner.invoke(args=["portal", "revision", "-m", "move some data", "--empty"])
    assert result.exit_code == 0, result.output
    (name,) = _files(migrations_copy) - before
    assert name.endswith("_move_some_data.py")
    source = (migrations_copy / "versions" / name).read_text()
    upgrade = source.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert [line.strip() for line in upgrade.splitlines() if line.strip()[:1] not in ("", "#")] == [
        "pass"
    ]


def test_revision_refuses_a_history_with_two_heads(migrations_copy, runner, probe_table):
    head = _head(migrations_copy)
    parent = ScriptDirectory.from_config(
        migrate.alembic_config(directory=migrations_copy)
    ).get_revision(head)
    # Someone else's migration, written on top of the same revision as the newest one.
    (migrations_copy / "versions" / "20260101_0123456789ab_elsewhere.py").write_text(
        '"""elsewhere"""\n'
        "revision = '0123456789ab'\n"
        f"down_revision = {parent.down_revision!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\n"
        "def downgrade():\n    pass\n"
    )
    before = _files(migrations_copy)
    result = runner.invoke(args=["portal", "revision", "-m", "Add a probe table"])
    assert result.exit_code != 0
    assert "more than one head" in result.output
    assert head in result.output and "0123456789ab" in result.output
    assert "down_revision" in result.output  # and says how to mend it
    assert _files(migrations_copy) == before


# Applying migrations ----------------------------------------------------------------------------


def _write_revision(directory: Path, rev: str, upgrade: str) -> None:
    head = _head(directory)
    body = "\n".join("    " + line for line in upgrade.strip().splitlines())
    (directory / "versions" / f"20260101_{rev}_test.py").write_text(
        '"""test revision"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {rev!r}\n"
        f"down_revision = {head!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\n"
        "def downgrade():\n    pass\n"
    )


def test_a_sqlite_upgrade_that_breaks_a_foreign_key_changes_nothing(migrations_copy, tmp_path):
    """Foreign keys are not enforced while SQLite migrates (batch mode copies tables), so
    they are checked before the commit instead."""
    head = _head(migrations_copy)
    _write_revision(
        migrations_copy,
        "fedcba987654",
        """
op.execute(
    "INSERT INTO password_reset (user_id, token_hash, issued_by, created_at, expires_at) "
    "VALUES (999, 'x', 999, '2026-01-01', '2026-01-02')"
)
""",
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        migrate.upgrade(engine, head, directory=migrations_copy)
        with pytest.raises(migrate.MigrationError, match="foreign keys point nowhere"):
            migrate.upgrade(engine, directory=migrations_copy)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
                (head,)
            ]
            assert conn.exec_driver_sql("SELECT count(*) FROM password_reset").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _changes(diff: list) -> set[tuple[str, str, str]]:
    """(operation, table, column) of every column change autogenerate reports."""
    found = set()
    for item in diff:
        for op in item if isinstance(item, list) else [item]:
            if op[0].startswith("modify_"):
                found.add((op[0], op[2], op[3]))
    return found


def test_the_schema_comparison_sees_types_nullability_and_server_defaults(
    migrations_copy, scratch_database
):
    """A migration that drifts from the models in each way is caught, on SQLite and PostgreSQL."""
    _write_revision(
        migrations_copy,
        "abcdef012345",
        """
with op.batch_alter_table('scheduler_lock') as batch_op:
    batch_op.alter_column('owner', existing_type=sa.String(64), type_=sa.String(32))
    batch_op.alter_column('heartbeat_at', existing_type=sa.DateTime(timezone=True), nullable=True)
    batch_op.alter_column('acquired_at', existing_type=sa.DateTime(timezone=True),
                          type_=sa.DateTime(timezone=False))
with op.batch_alter_table('content_version') as batch_op:
    batch_op.alter_column('version', existing_type=sa.Integer(), server_default='1')
""",
    )
    engine = make_engine(scratch_database)
    try:
        migrate.upgrade(engine, directory=migrations_copy)
        with engine.connect() as conn:
            changes = _changes(migrate.schema_differences(conn, directory=migrations_copy))
    finally:
        engine.dispose()
    expected = {
        ("modify_type", "scheduler_lock", "owner"),
        ("modify_nullable", "scheduler_lock", "heartbeat_at"),
        ("modify_default", "content_version", "version"),
    }
    if engine.dialect.name == "postgresql":
        # SQLite keeps no time zone in a column type; PostgreSQL does.
        expected.add(("modify_type", "scheduler_lock", "acquired_at"))
    assert changes == expected
