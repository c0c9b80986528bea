"""`flask content ...`: the publicity content shipped in content/."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db

content_cli = AppGroup("content", help="Publicity content shipped in content/.")


@content_cli.command("load")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def content_load_command(directory: Path | None) -> None:
    """Load the Markdown files of content/ (idempotent; reports each file)."""
    from portal.publicity.loader import load_directory

    directory = directory or Path(current_app.config["PORTAL_CONTENT_DIR"])
    if not directory.is_dir():
        raise click.ClickException(f"No content directory at {directory}")
    marks = {"created": "+", "updated": "~", "unchanged": "=", "kept": "!", "error": "x"}

    def report(result) -> None:
        line = f"{marks[result.outcome]} {result.outcome:<9} {result.path}"
        if result.outcome == "kept":
            line += "  (edited in the portal; not overwritten)"
        click.echo(
            result.message if result.outcome == "error" else line, err=result.outcome == "error"
        )

    results = load_directory(db, directory, report=report)
    counts = {k: sum(1 for r in results if r.outcome == k) for k in marks}
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no files")
    if counts["error"]:
        raise SystemExit(1)
