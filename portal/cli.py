"""`flask portal ...` commands: init, revision, create-admin, demo."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import select

from portal.core import registry
from portal.extensions import db
from portal.migrate import upgrade_database

portal_cli = AppGroup("portal", help="Set up and look after the portal.")


@portal_cli.command("init")
def init_command() -> None:
    """Upgrade the database to the latest schema and load the 19 townships."""
    from portal.places import load_townships

    upgrade_database()
    click.echo("Database schema is up to date.")
    with db.transaction() as session:
        changed = load_townships(session)
    click.echo(f"Townships: 19 present, {changed} added or updated.")
    for path, mode in make_private(current_app.config):
        click.echo(f"Made {path} readable by this account only (mode {mode:o}).")


def make_private(config) -> list[tuple[Path, int]]:
    """Keep the SQLite database, the uploads folder and the SMS log to the portal's account.

    The uploads folder is created (700) if missing; any of them readable by others is narrowed
    to 600 (files) or 700 (folders). Returns what was changed.
    """
    from portal.db import sqlite_file

    changed: list[tuple[Path, int]] = []

    def narrow(path: Path, mode: int) -> None:
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(mode)
            changed.append((path, mode))

    database = sqlite_file(config["DATABASE_URL"])
    if database is not None:
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            narrow(path, 0o600)
    uploads = Path(config["PORTAL_UPLOAD_DIR"])
    uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
    narrow(uploads, 0o700)
    if config.get("PORTAL_SMS_LOG"):
        narrow(Path(config["PORTAL_SMS_LOG"]), 0o600)
    return changed


@portal_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does, in a few words.")
@click.option("--empty", is_flag=True, help="Write the file even if the models did not change.")
def revision_command(message: str, empty: bool) -> None:
    """Write a migration for what the models changed (see docs/migrations.md)."""
    from portal.migrate import RevisionRefused, make_revision

    try:
        path = make_revision(message, empty=empty)
    except RevisionRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Wrote {path}. Review it, then commit it with the model change.")


@portal_cli.command("create-admin")
@click.option("--name", help="The administrator's name (asked when not given).")
@click.option("--login", help="Their mobile number or e-mail address (asked when not given).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input, for automation. "
    "Without it the password is asked twice and never shown; it is never an argument.",
)
def create_admin_command(name: str | None, login: str | None, password_stdin: bool) -> None:
    """Create an administrator account (the password is asked, never defaulted)."""
    from portal.auth import services
    from portal.auth.models import Role

    if password_stdin:
        if not name or not login:
            raise click.UsageError("--password-stdin needs --name and --login.")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("No password on standard input.")
    else:
        name = name or click.prompt("Name")
        login = login or click.prompt("Mobile number or e-mail")
        password = click.prompt("Password", hide_input=True)
        if click.prompt("Repeat the password", hide_input=True) != password:
            raise click.ClickException("The two passwords do not match.")
    email = login if "@" in login else None
    phone = None if email else login
    try:
        with db.transaction() as session:
            user = services.create_user(
                session, name=name, role=Role.ADMIN, password=password, phone=phone, email=email
            )
    except services.AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Administrator {user.name} created (account #{user.id}).")


DEMO_ACCOUNTS = (
    # (phone, name, role, township_code, office)
    ("19900000001", "演示·管理员", "admin", None, None),
    ("19900000002", "演示·县民政局", "county_staff", None, None),
    ("19900000003", "演示·西屏街道督导员", "township_staff", "331124001", None),
    ("19900000004", "演示·古市镇督导员", "township_staff", "331124101", None),
    ("19900000005", "演示·慈善总会经办", "charity_staff", None, None),
    ("19900000006", "演示·慈善总会审批", "charity_approver", None, None),
    ("19900000007", "演示·妇联讲座组织", "lecture_organiser", None, "womens_federation"),
    ("19900000008", "演示·编辑", "editor", None, None),
    ("19900000009", "演示·审核", "reviewer", None, None),
    ("19900000010", "演示·志愿者", "volunteer", None, None),
)


@portal_cli.command("demo")
def demo_command() -> None:
    """Fill a clearly labelled demo data set; new passwords are printed once."""
    from portal.auth import services
    from portal.auth.models import User

    created: list[tuple[str, str, str, str]] = []
    with db.transaction() as session:
        for phone, name, role, township, office in DEMO_ACCOUNTS:
            if session.exec(select(User).where(User.phone == phone)).first():
                continue
            password = "demo-" + secrets.token_urlsafe(9)
            services.create_user(
                session,
                name=name,
                role=role,
                password=password,
                phone=phone,
                township_code=township,
                office=office,
                is_demo=True,
            )
            created.append((phone, name, role, password))
    if not created:
        click.echo(
            "Demo accounts already exist; their passwords were printed when they were "
            "created. An admin can issue a reset link for any of them."
        )
    else:
        click.echo("DEMO DATA - for trying the portal only, never for real use.")
        click.echo("These passwords are shown once:")
        for phone, name, role, password in created:
            click.echo(f"  {role:<18} {phone}  {password}  ({name})")
    # Each area adds its own labelled demo set (idempotent) and says what it added.
    for name, load in registry.demo_loaders():
        with db.transaction() as session:
            lines = load(session)
        for line in lines:
            click.echo(f"  [{name}] {line}")


scheduler_cli = AppGroup("scheduler", help="The scheduler process and its jobs.")


@scheduler_cli.command("run")
def scheduler_run_command() -> None:
    """Run the scheduler in this process until SIGTERM or Ctrl-C (one is active at a time)."""
    from portal.scheduler import SchedulerProcess

    cfg = current_app.config
    SchedulerProcess(
        current_app._get_current_object(),
        heartbeat_seconds=cfg["PORTAL_SCHEDULER_HEARTBEAT_SECONDS"],
        stale_seconds=cfg["PORTAL_SCHEDULER_STALE_SECONDS"],
    ).run()


@scheduler_cli.command("jobs")
def scheduler_jobs_command() -> None:
    """List the registered jobs and when each runs next."""
    from portal.scheduler import load_jobs, next_run_time

    specs = load_jobs()
    width = max(len(name) for name in specs)
    for name, spec in sorted(specs.items()):
        when = next_run_time(spec)
        click.echo(
            f"{name:<{width}}  next {when:%Y-%m-%d %H:%M:%S %Z}  {spec.trigger}  {spec.description}"
        )


@scheduler_cli.command("run-once")
@click.argument("name")
def scheduler_run_once_command(name: str) -> None:
    """Run one job now, in this process."""
    from portal.scheduler import load_jobs, run_job

    specs = load_jobs()
    if name not in specs:
        raise click.ClickException(f"No job named {name!r}. Known: {', '.join(sorted(specs))}")
    result = run_job(current_app._get_current_object(), specs[name])
    click.echo(f"{name}: {result}")


search_cli = AppGroup("search", help="The full-text search index.")


@search_cli.command("reindex")
@click.option("--procs", default=2, show_default=True, help="Processes for the index writer.")
def search_reindex_command(procs: int) -> None:
    """Rebuild the search index from every source's live documents, with a progress bar."""
    from portal.search import live_count, reindex

    with db.transaction(write=False) as session:
        total = live_count(session)
        with click.progressbar(length=total, label="Indexing", show_pos=True) as bar:
            count = reindex(session, progress=bar.update, procs=procs)
    click.echo(f"Indexed {count} published documents.")


@search_cli.command("catch-up")
def search_catch_up_command() -> None:
    """Mend differences between the index and every source's live documents."""
    from portal.search import catch_up

    with db.transaction(write=False) as session:
        result = catch_up(session)
    rebuilt = " The index could not be read and was rebuilt." if result.get("rebuilt") else ""
    click.echo(f"Indexed {result['indexed']}, removed {result['removed']}.{rebuilt}")


def init_app(app: Flask) -> None:
    app.cli.add_command(portal_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(search_cli)
    for group in registry.cli_groups():
        app.cli.add_command(group)
