"""Requests per second of portal pages under gunicorn (2 sync workers) against a bare WSGI app.

Both servers run side by side in one run, loaded in turn by wrk with the same settings; the
ratio of the portal's rate to the bare function's is the figure. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request

from _harness import gunicorn, init_portal, portal_env, scratch_dir, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="measuring time per page")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    with scratch_dir() as workdir:
        env = portal_env(workdir)
        init_portal(env)
        with gunicorn("wsgi:app", env) as portal_url:
            body = urllib.request.urlopen(portal_url + "/").read()  # noqa: S310
            body_file = workdir / "home.html"
            body_file.write_bytes(body)
            bare_env = {
                **env,
                "BENCH_BODY_FILE": str(body_file),
                "PYTHONPATH": os.path.dirname(os.path.abspath(__file__)),
            }
            with gunicorn("bare_app:app", bare_env) as bare_url:
                wrk(bare_url, seconds=2, connections=args.connections)  # warm-up
                wrk(portal_url + "/", seconds=2, connections=args.connections)
                bare = wrk(bare_url, seconds=args.seconds, connections=args.connections)
                home = wrk(portal_url + "/", seconds=args.seconds, connections=args.connections)
    print(f"page bytes: {len(body)}")
    print(f"bare WSGI : {bare['rps']:>8} req/s  p50 {bare['p50_ms']} ms  p95 {bare['p95_ms']} ms")
    print(f"home page : {home['rps']:>8} req/s  p50 {home['p50_ms']} ms  p95 {home['p95_ms']} ms")
    result = {
        "bare": {"rps": bare["rps"], "p50_ms": bare["p50_ms"], "p95_ms": bare["p95_ms"]},
        "home": {
            "rps": home["rps"],
            "p50_ms": home["p50_ms"],
            "p95_ms": home["p95_ms"],
            "ratio": round(home["rps"] / bare["rps"], 3),
            "errors": home["errors"],
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
