"""Requests per second of portal pages under gunicorn (2 sync workers) against a bare WSGI app.

All servers run side by side in one run and are loaded in turn by wrk with the same settings;
each page's rate as a fraction of the bare function's is its ratio. The machines this runs on
change speed by up to 2x within a minute, so the measuring time is cut into rounds: in each
round every page is loaded for `--seconds / --rounds` right after the bare function was, its
ratio is taken against that bare rate, and the figures are the medians over the rounds.
Anonymous public pages are served from the page cache after their first request ("cached");
"uncached" runs give every request a parameter the view does not read, so each one is rendered
(queries, Jinja, Babel, search) and, like a page for staff, not stored. "article_staff" is the
article as an administrator sees it, logged in (never cached; user, CSRF token and message
count on every request). The last line is JSON.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import urllib.parse
import urllib.request

from _harness import flask_command, gunicorn, init_portal, portal_env, scratch_dir, wrk

ARTICLE = "/publicity/policies/songyang-2017-139"
SEARCH = "/search?q=" + urllib.parse.quote("留守儿童 监护")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="measuring time per page")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the time is cut into")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    runs = {  # name: (path, unique, logged in)
        "home": ("/", False, False),
        "article": (ARTICLE, False, False),
        "article_uncached": (ARTICLE, True, False),
        "article_staff": (ARTICLE, False, True),
        "search": (SEARCH, False, False),
        "search_uncached": (SEARCH, True, False),
    }
    rounds: list[dict] = []  # (page, bare run, page run) pairs
    with scratch_dir() as workdir:
        env = portal_env(workdir)
        init_portal(env, content=True)
        _create_admin(env)
        with gunicorn("wsgi:app", env) as portal_url:
            staff = _log_in(portal_url)
            body = urllib.request.urlopen(portal_url + ARTICLE).read()  # noqa: S310
            body_file = workdir / "article.html"
            body_file.write_bytes(body)
            bare_env = {
                **env,
                "BENCH_BODY_FILE": str(body_file),
                "PYTHONPATH": os.path.dirname(os.path.abspath(__file__)),
            }
            with gunicorn("_bare_app:app", bare_env) as bare_url:
                wrk(bare_url, seconds=2, connections=args.connections)  # warm-up
                for path, unique, logged_in in runs.values():
                    wrk(
                        portal_url + path,
                        seconds=2,
                        connections=args.connections,
                        unique=unique,
                        cookie=staff if logged_in else "",
                    )
                step = max(1, round(args.seconds / args.rounds))
                for _ in range(args.rounds):
                    for name, (path, unique, logged_in) in runs.items():
                        bare = wrk(bare_url, seconds=step, connections=args.connections)
                        page = wrk(
                            portal_url + path,
                            seconds=step,
                            connections=args.connections,
                            unique=unique,
                            cookie=staff if logged_in else "",
                        )
                        rounds.append({"name": name, "bare": bare, "page": page})
    figures = {name: _median_figures(rounds, name) for name in ["bare", *runs]}
    bare_rps = figures["bare"]["rps"]
    print(f"article page bytes (the bare function returns the same): {len(body)}")
    print(f"{args.rounds} rounds of {step} s per page; medians over the rounds")
    print(f"{'page':<18}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'ratio':>8}{'errors':>8}")
    for name, f in figures.items():
        print(
            f"{name:<18}{f['rps']:>10}{f['p50_ms']:>9}{f['p95_ms']:>9}"
            f"{f['ratio']:>8.3f}{f['errors']:>8}"
        )
    result = {
        "bare": {
            "rps": bare_rps,
            "p50_ms": figures["bare"]["p50_ms"],
            "p95_ms": figures["bare"]["p95_ms"],
        }
    }
    for name in runs:
        f = figures[name]
        result[name] = {
            "rps": f["rps"],
            "p50_ms": f["p50_ms"],
            "p95_ms": f["p95_ms"],
            "ratio": f["ratio"],
            "errors": f["errors"],
        }
    print(json.dumps(result))


ADMIN_LOGIN = "bench-admin@example.org"
ADMIN_PASSWORD = "Bench-only-password-2026"  # noqa: S105 - a scratch database


def _create_admin(env: dict[str, str]) -> None:
    flask_command(
        env,
        *("portal", "create-admin", "--name", "测试管理员", "--login", ADMIN_LOGIN),
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )


def _log_in(portal_url: str) -> str:
    """Log the administrator in through the login form; the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(portal_url + "/auth/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("the login form has no CSRF token")
    data = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "login": ADMIN_LOGIN, "password": ADMIN_PASSWORD}
    ).encode()
    landed = opener.open(portal_url + "/auth/login", data=data)
    if "/workspace" not in landed.geturl():
        raise RuntimeError(f"the administrator was not logged in (ended at {landed.geturl()})")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _median_figures(pairs: list[dict], name: str) -> dict:
    """A page's median rate, latencies and ratio to the bare rate measured just before it
    (the bare function's own figures: every bare run); errors summed."""
    mine = [p for p in pairs if name in ("bare", p["name"])]
    runs = [p["bare"] if name == "bare" else p["page"] for p in mine]
    return {
        "rps": round(statistics.median(f["rps"] for f in runs), 1),
        "p50_ms": round(statistics.median(f["p50_ms"] for f in runs), 2),
        "p95_ms": round(statistics.median(f["p95_ms"] for f in runs), 2),
        "ratio": 1.0
        if name == "bare"
        else round(statistics.median(p["page"]["rps"] / p["bare"]["rps"] for p in mine), 3),
        "errors": sum(f["errors"] for f in runs),
    }


if __name__ == "__main__":
    main()
