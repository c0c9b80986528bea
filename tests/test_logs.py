"""Logs are JSON lines without personal data."""

import io
import json
import logging

from portal.logs import JsonFormatter
from tests.conftest import PASSWORD, make_user, post


def test_request_lines_are_json_without_query_or_phone(client, session):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("portal.request")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        user = make_user(session, phone="13911112222")
        post(
            client,
            "/auth/login?next=/volunteers/?phone=13911112222",
            {"login": user.phone, "password": PASSWORD},
        )
        client.get("/search?q=13911112222")
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"ts", "level", "msg", "path", "status"} <= set(line) for line in lines)
    assert "13911112222" not in stream.getvalue()
    assert PASSWORD not in stream.getvalue()
    assert any(line["path"] == "/auth/login" and line["status"] == 303 for line in lines)
