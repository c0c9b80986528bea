"""Shared helpers for benchmarks: a scratch portal, gunicorn servers, wrk runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portal_env(workdir: Path) -> dict[str, str]:
    """Environment for a scratch portal on its own SQLite database and search index."""
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "PORTAL_LOG_LEVEL": "INFO",
        "PORTAL_SEARCH_DIR": str(workdir / "search"),
        "PORTAL_UPLOAD_DIR": str(workdir / "uploads"),
    }


def flask_command(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    """Run `flask --app wsgi ARGS` for the scratch portal of `env`."""
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


def init_portal(env: dict[str, str], *, content: bool = False) -> None:
    """Create the schema (and load the shipped content, indexed, when asked)."""
    flask_command(env, "portal", "init")
    if content:
        flask_command(env, "content", "load")


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """Serve a WSGI app with gunicorn sync workers; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz" if "wsgi" in app else url, timeout=1)  # noqa: S310
                break
            except Exception:  # noqa: BLE001
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn for {app} did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def wrk(
    url: str,
    seconds: int = 10,
    connections: int = 8,
    threads: int = 1,
    unique: bool = False,
    cookie: str = "",
) -> dict:
    """Load one URL with wrk; requests per second and latency percentiles in ms.

    unique=True appends a different `r=` parameter to every request, so no answer can come
    from the page cache: the figure is the uncached cost of the page. `cookie` is sent as the
    Cookie header of every request.
    """
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    script = Path(__file__).with_name("wrk_report.lua")
    env = {
        **os.environ,
        "WRK_UNIQUE": "1" if unique else "",
        "WRK_RUN": uuid.uuid4().hex,
        "WRK_COOKIE": cookie,
    }
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    seconds_run = figures["duration_us"] / 1e6
    return {
        "rps": round(figures["requests"] / seconds_run, 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p95_ms": round(figures["p95_us"] / 1000, 2),
        "errors": figures["errors"] + figures["non2xx"],
    }


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        yield Path(tmp)
