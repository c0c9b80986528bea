"""Fixtures: one app per run, a fresh (rolled-back) database per test, clients and factories."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import redis
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from portal import create_app
from portal.auth import services
from portal.auth.models import Role, User
from portal.config import normalise_database_url
from portal.db import make_engine
from portal.extensions import limiter
from portal.models import load_models
from portal.places import load_townships

load_models()  # registers every table

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)
_HASHES: dict[str, str] = {}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# Run set-up -----------------------------------------------------------------------------------


def compile_catalogues() -> list[Path]:
    """Compile every translation catalogue whose .mo is missing or older than its .po.

    `make install` does this too; doing it here means `pytest` run directly never tests an
    untranslated portal. Returns the .mo files written.
    """
    written = []
    for po in sorted(ROOT.glob("portal/translations/*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=po.parents[1].name)
            partial = mo.with_name(f"{mo.name}.{os.getpid()}.part")
            with partial.open("wb") as handle:
                write_mo(handle, catalog, use_fuzzy=True)
            partial.replace(mo)  # atomic: parallel workers never read half a file
        except Exception as error:
            raise pytest.UsageError(
                f"Cannot compile {po.relative_to(ROOT)} ({error}); run `make install`."
            ) from error
        written.append(mo)
    return written


def pytest_configure(config: pytest.Config) -> None:
    compile_catalogues()


def _random_seed(config: pytest.Config) -> int | None:
    if not config.pluginmanager.has_plugin("randomly"):
        return None
    seed = getattr(config.option, "randomly_seed", None)
    return seed if isinstance(seed, int) else None


def _seed_line(seed: int) -> str:
    return f"Random test order, seed {seed} (repeat it with -p randomly --randomly-seed={seed})"


def pytest_sessionstart(session: pytest.Session) -> None:
    """With -q pytest hides its header, and the seed with it: print it before the run."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    seed = _random_seed(config)
    if reporter is not None and seed is not None and config.get_verbosity() < 0:
        reporter.write_line(_seed_line(seed))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """And after it, next to the failures it may explain."""
    seed = _random_seed(config)
    if seed is not None:
        terminalreporter.write_line(_seed_line(seed))


@cache
def redis_answers(url: str = REDIS_URL) -> bool:
    """Whether a Redis server answers PING at this URL (asked once per run)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `redis` skip when Redis does not answer, unless REQUIRE_REDIS=1 (CI)."""
    if item.get_closest_marker("redis") is None or redis_answers():
        return
    if os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail(f"REQUIRE_REDIS=1 but Redis does not answer at {REDIS_URL}", pytrace=False)
    pytest.skip(
        f"Redis does not answer at {REDIS_URL} (set REQUIRE_REDIS=1 to fail instead of skipping)"
    )


def database_url() -> str:
    """SQLite by default; TEST_DATABASE_URL (e.g. the PostgreSQL server) when set."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='portal-test-')) / 'test.db'}"


def app_config(url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-not-for-production-0123456789",
        "SECRET_KEY_GENERATED": False,
        "PORTAL_LOG_LEVEL": "WARNING",
        "PORTAL_PAGE_CACHE_TTL": 0,
        # The test client's own address, so links in pages can be followed as they are.
        "PORTAL_BASE_URL": "http://localhost",
    }
    if "REDIS_URL" not in extra:
        config["RATELIMIT_STORAGE_URI"] = "memory://"
    config.update(extra)
    return config


def reset_schema(url: str) -> None:
    """Drop and recreate every table, then load the townships (committed)."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        load_townships(session)
        session.commit()
    engine.dispose()


@pytest.fixture(scope="session")
def db_url() -> str:
    url = database_url()
    reset_schema(url)
    return url


@pytest.fixture(scope="session")
def base_app(db_url: str) -> Iterator[Flask]:
    app = create_app(app_config(db_url))
    yield app
    app.extensions["portal_db"].engine.dispose()


@pytest.fixture()
def new_app() -> Iterator:
    """Build extra apps with their own settings; their connections are closed afterwards."""
    made: list[Flask] = []

    def factory(url: str, **config) -> Flask:
        app = create_app(app_config(url, **config))
        made.append(app)
        return app

    yield factory
    for app in made:
        app.extensions["portal_db"].engine.dispose()


@pytest.fixture()
def app(base_app: Flask, tmp_path) -> Iterator[Flask]:
    """The app with every session bound to one connection rolled back after the test.

    No app context stays pushed, so each request gets its own `g` as in production. Each test
    has its own search index and upload folder, and an empty page cache.
    """
    base_app.config["PORTAL_SEARCH_DIR"] = str(tmp_path / "search")
    base_app.config["PORTAL_UPLOAD_DIR"] = str(tmp_path / "uploads")
    base_app.extensions["page_cache"].clear()
    with base_app.app_context():
        limiter.reset()  # rate-limit counters start empty in every test
    state = base_app.extensions["portal_db"]
    connection = state.engine.connect()
    outer = connection.begin()
    state.test_connection = connection
    try:
        yield base_app
    finally:
        state.test_connection = None
        outer.rollback()
        connection.close()


@pytest.fixture()
def session(app: Flask) -> Iterator[Session]:
    """A session for arranging and checking data in the test's database."""
    s = Session(
        bind=app.extensions["portal_db"].test_connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
    )
    yield s
    s.close()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def make_client(app: Flask):
    return app.test_client


def csrf_token(client: FlaskClient, path: str | None = None) -> str:
    """A CSRF token valid for this client's session, read from a page as a browser would.

    Anonymous pages carry no token (they are cached for everyone): the login form has one,
    and every page has one once logged in.
    """
    if path is None:
        response = client.get("/auth/login")
        path = "/auth/login" if response.status_code == 200 else "/"
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def post(client: FlaskClient, path: str, data: dict | None = None, **kwargs):
    """POST a form the way the browser does: with the page's CSRF token."""
    form = dict(data or {})
    form.setdefault("csrf_token", csrf_token(client))
    return client.post(path, data=form, **kwargs)


def make_user(
    session: Session,
    *,
    role: Role | str = Role.VOLUNTEER,
    phone: str | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    township_code: str | None = None,
    office: str | None = None,
    name: str = "张三",
    **fields,
) -> User:
    """Create and commit an account (argon2 hashes are cached per password to keep tests fast)."""
    role = Role(role)
    if role == Role.TOWNSHIP_STAFF and township_code is None:
        township_code = "331124001"
    if role == Role.LECTURE_ORGANISER and office is None:
        office = "education"
    if phone is None and email is None:
        make_user.counter = getattr(make_user, "counter", 0) + 1
        phone = f"138{make_user.counter:08d}"
    email = services.normalise_login(email) if email else None
    if password not in _HASHES:
        _HASHES[password] = services.hash_password(password)
    user = User(
        name=name,
        role=role,
        phone=phone,
        email=email,
        township_code=township_code,
        office=office,
        password_hash=_HASHES[password],
        **fields,
    )
    session.add(user)
    session.commit()
    return user


def login(client: FlaskClient, user: User, password: str = PASSWORD, **extra):
    response = post(
        client, "/auth/login", {"login": user.login_name, "password": password, **extra}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture()
def scratch_database(tmp_path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new database on the PostgreSQL server."""
    url = database_url()
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"portal_scratch_{os.getpid()}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def page_text(response) -> str:
    """The visible text of a response, whitespace collapsed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
