"""The systemd units in docs/deploy/ restart the portal, run it as its own user, keep files private."""

from __future__ import annotations

import re
import shutil
import subprocess
from configparser import ConfigParser
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEPLOY = ROOT / "docs" / "deploy"
UNITS = ("portal-web.service", "portal-scheduler.service")


def unit(name: str) -> ConfigParser:
    parser = ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_restarts_always_as_the_portal_user_with_private_files(name):
    service = unit(name)["Service"]
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) > 0
    assert unit(name)["Unit"]["StartLimitIntervalSec"] == "0"  # never gives up restarting
    assert service["User"] == service["Group"] == "portal"
    assert service["WorkingDirectory"] == "/srv/portal/src"
    assert service["EnvironmentFile"] == "/etc/portal/portal.env"
    assert service["UMask"] == "0077"
    assert service["StateDirectory"] == "portal" and service["StateDirectoryMode"] == "0700"
    assert unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_scheduler_unit_runs_the_scheduler_and_stops_it_with_sigterm():
    service = unit("portal-scheduler.service")["Service"]
    assert service["ExecStart"] == "/srv/portal/.venv/bin/flask --app wsgi scheduler run"
    assert service["KillSignal"] == "SIGTERM"
    # Longer than a step waiting on a busy SQLite database (15 s busy timeout).
    assert int(service["TimeoutStopSec"]) > 15


def test_the_web_unit_runs_gunicorn_with_workers_from_the_environment():
    service = unit("portal-web.service")["Service"]
    assert service["ExecStart"].startswith("/srv/portal/.venv/bin/gunicorn ")
    assert service["ExecStart"].endswith(" wsgi:app")
    assert "--workers" not in service["ExecStart"]  # WEB_CONCURRENCY, which the portal reads too


def test_the_example_environment_sets_only_known_settings():
    config_source = (ROOT / "portal" / "config.py").read_text(encoding="utf-8")
    names = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "portal.env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert {"PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY"} <= set(
        names
    )
    for name in names:
        assert name == "WEB_CONCURRENCY" or f'"{name}"' in config_source, name
    secret = next(
        line
        for line in (DEPLOY / "portal.env.example").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    assert secret == "SECRET_KEY="  # never a real-looking key to copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_accepts_the_units(tmp_path):
    venv = Path(ROOT / ".venv" / "bin")
    for name in UNITS:
        # The installed paths do not exist on a development machine: point at this checkout.
        text = (DEPLOY / name).read_text(encoding="utf-8")
        text = re.sub(r"/srv/portal/\.venv/bin", str(venv), text)
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
