"""A live portal on a local port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, make_user, reset_schema

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class LiveServer:
    url: str
    app: object

    def load_content(self) -> None:
        """The shipped content, published and indexed, as `make run` leaves it."""
        from pathlib import Path

        from portal.extensions import db
        from portal.publicity.loader import load_directory

        content = Path(__file__).resolve().parents[2] / "content"
        with self.app.app_context():
            load_directory(db, content, report=lambda result: None)

    def user(self, **kwargs):
        from sqlmodel import Session

        with Session(self.app.extensions["portal_db"].engine, expire_on_commit=False) as s:
            return make_user(s, **kwargs)


@pytest.fixture()
def live_server(scratch_database, new_app, tmp_path) -> Iterator[LiveServer]:
    reset_schema(scratch_database)
    app = new_app(
        scratch_database,
        PORTAL_SEARCH_DIR=str(tmp_path / "search"),
        PORTAL_UPLOAD_DIR=str(tmp_path / "uploads"),
        PORTAL_PAGE_CACHE_TTL=0,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def phone(browser):
    """A page in a phone-sized Chinese browser."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


__all__ = ["PASSWORD", "LiveServer"]
