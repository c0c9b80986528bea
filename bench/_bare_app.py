"""A bare WSGI function answering fixed bytes: the ceiling the portal is measured against."""

import os

BODY = open(os.environ["BENCH_BODY_FILE"], "rb").read()  # noqa: SIM115
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
