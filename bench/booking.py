"""Booking a parents' school lecture at once: 500 guardians for 50 seats, through gunicorn.

For each database (a SQLite file, then a scratch database on the PostgreSQL server, created and
dropped here):

1. a fresh portal (`flask portal init`) with one lecture of 50 seats starting in 3 days,
   written by a short snippet as its organiser would have it;
2. gunicorn with 4 sync workers; 500 clients (distinct mobiles, 1 seat each), each with its
   own cookie, first GET the booking form as a browser does (its CSRF token is tied to that
   cookie; not measured), then all 500 POST `/lectures/<id>/book` at once from a pool of
   64 threads, each with its own keep-alive connection. Only the POSTs are timed;
3. the bookings are counted in the database: confirmed must be exactly 50, the rest
   waitlisted, and the lecture's `seats_taken` 50.

The booking rate limit is raised (`PORTAL_BOOKING_RATE_LIMIT`) since every request comes from
one address; CSRF stays on. The last line is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

from _harness import BIN, ROOT, free_port, init_portal, portal_env, scratch_dir

sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, SQLModel, select  # noqa: E402

from portal.db import make_engine  # noqa: E402
from portal.models import load_models  # noqa: E402

load_models()

from portal.auth.models import Role, User  # noqa: E402
from portal.parents_school.models import Booking, Lecture  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
COOKIE_RE = re.compile(r"^([^=;\s]+)=([^;]*)")
XIPING = "331124001"
POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def create_lecture(url: str, capacity: int) -> int:
    """The organiser and the lecture, as the organiser's form would leave them (committed)."""
    from datetime import timedelta

    from portal.timeutil import utcnow

    engine = make_engine(url)
    # Tables of the area that no migration creates yet come from the models (none otherwise).
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        organiser = User(
            name="妇联组织者",
            role=Role.LECTURE_ORGANISER,
            phone="13900000001",
            office="womens_federation",
            password_hash="!bench",  # noqa: S106 - no password: this account never logs in
        )
        session.add(organiser)
        session.flush()
        starts = utcnow().replace(microsecond=0) + timedelta(days=3)
        lecture = Lecture(
            title="隔代教育讲座",
            topic="skipped_generation",
            speaker="王老师",
            township_code=XIPING,
            venue="城北社区儿童之家",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=90),
            capacity=capacity,
            office="womens_federation",
            created_by=organiser.id,
        )
        session.add(lecture)
        session.commit()
        lecture_id = lecture.id
    engine.dispose()
    return lecture_id


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[str]:
    """The portal under gunicorn sync workers; stopped (killed if it must be) afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "10",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)  # noqa: S310
                break
            except Exception:  # noqa: BLE001
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def count(url: str, lecture_id: int) -> dict[str, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(
            select(Booking.status, func.count())
            .where(Booking.lecture_id == lecture_id)
            .group_by(Booking.status)
        ).all()
        taken = session.get(Lecture, lecture_id).seats_taken
    engine.dispose()
    counts = {str(status): n for status, n in rows}
    return {
        "confirmed": counts.get("confirmed", 0),
        "waitlisted": counts.get("waitlisted", 0),
        "seats_taken": taken,
    }


class Guardian:
    """One browser: its own cookie and keep-alive connection."""

    def __init__(self, base: str, n: int) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.n = n
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode()
            except (http.client.HTTPException, ConnectionError):
                # The server closed the kept-alive connection (gunicorn sync workers do).
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            for header in response.headers.get_all("Set-Cookie") or []:
                match = COOKIE_RE.match(header)
                if match:
                    self.cookies[match.group(1)] = match.group(2)
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            return response.status, text
        raise RuntimeError("unreachable")

    def open_form(self, path: str) -> None:
        status, html = self._request("GET", path)
        match = CSRF_RE.search(html)
        if status != 200 or not match:
            raise RuntimeError(f"booking form: {status}, token {'found' if match else 'missing'}")
        self.token = match.group(1)
        # The POSTs are timed alone: a fresh connection for each, as a phone would open.
        if self.connection:
            self.connection.close()
            self.connection = None

    def book(self, path: str) -> tuple[int, float]:
        body = urlencode(
            {
                "csrf_token": self.token,
                "name": "张奶奶",
                "mobile": f"137{self.n:08d}",
                "relation": "grandparent",
                "township_code": XIPING,
                "village": "城北社区",
                "seats": "1",
            }
        )
        start = time.perf_counter()
        status, _html = self._request("POST", path, body)
        elapsed = (time.perf_counter() - start) * 1000
        if self.connection:
            self.connection.close()
            self.connection = None
        return status, elapsed


def run(name: str, url: str, env: dict[str, str], attempts: int, seats: int, threads: int) -> dict:
    env = {**env, "DATABASE_URL": url}
    print(f"{name}: load average before the run {os.getloadavg()[0]:.1f}")
    init_portal(env)
    lecture_id = create_lecture(url, seats)
    path = f"/lectures/{lecture_id}/book"
    with gunicorn(env, workers=4) as base:
        guardians = [Guardian(base, n) for n in range(attempts)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda g: g.open_form(path), guardians))
        gate = threading.Barrier(threads)

        def fire(g: Guardian) -> tuple[int, float]:
            if g.n < threads:  # the first wave leaves together
                gate.wait()
            return g.book(path)

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(fire, guardians))
        wall = time.perf_counter() - start
    statuses: dict[int, int] = {}
    for status, _ms in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = [ms for _status, ms in results]
    counted = count(url, lecture_id)
    figures = {
        **counted,
        "statuses": statuses,
        "bookings_per_s": round(attempts / wall, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(statistics.quantiles(latencies, n=20)[-1], 1),
        "wall_s": round(wall, 2),
    }
    assert statuses == {303: attempts}, statuses
    assert counted["confirmed"] == seats, counted
    assert counted["seats_taken"] == seats, counted
    assert counted["confirmed"] + counted["waitlisted"] == attempts, counted
    return figures


def postgres_scratch():
    """A database of its own on the PostgreSQL server (dropped afterwards)."""
    import contextlib

    from portal.config import normalise_database_url

    @contextlib.contextmanager
    def scratch():
        server = normalise_database_url(POSTGRES)
        name = f"portal_bench_{os.getpid()}"
        admin = make_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield server.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()

    return scratch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=500, help="booking attempts")
    parser.add_argument("--seats", type=int, default=50, help="seats of the lecture")
    parser.add_argument("--threads", type=int, default=64, help="concurrent clients")
    parser.add_argument("--skip-postgresql", action="store_true")
    args = parser.parse_args()
    results = {}
    with scratch_dir() as workdir:
        env = {
            **portal_env(workdir),
            "PORTAL_LOG_LEVEL": "WARNING",
            "PORTAL_BOOKING_RATE_LIMIT": "100000 per hour",
        }
        results["sqlite"] = run(
            "sqlite",
            f"sqlite:///{workdir / 'bench.db'}",
            env,
            args.attempts,
            args.seats,
            args.threads,
        )
        if not args.skip_postgresql:
            with postgres_scratch() as url:
                results["postgresql"] = run(
                    "postgresql", url, env, args.attempts, args.seats, args.threads
                )
    print(
        f"{'database':<12}{'confirmed':>10}{'waitlisted':>11}{'seats':>7}"
        f"{'bookings/s':>12}{'p50 ms':>9}{'p95 ms':>9}{'wall s':>8}"
    )
    for name, f in results.items():
        print(
            f"{name:<12}{f['confirmed']:>10}{f['waitlisted']:>11}{f['seats_taken']:>7}"
            f"{f['bookings_per_s']:>12}{f['p50_ms']:>9}{f['p95_ms']:>9}{f['wall_s']:>8}"
        )
    keys = ("confirmed", "waitlisted", "bookings_per_s", "p95_ms")
    print(json.dumps({name: {k: f[k] for k in keys} for name, f in results.items()}))


if __name__ == "__main__":
    main()
