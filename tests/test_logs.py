"""Logs are JSON lines without personal data."""

import io
import json
import logging
import runpy
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from portal.auth import services
from portal.auth.models import Role
from portal.logs import JsonFormatter, redact_path
from tests.conftest import PASSWORD, ROOT, make_user, post


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


# Reset and account-setup links (/auth/reset/<token>) never reach a log -----------------------


@pytest.fixture()
def portal_log():
    """Everything the portal logs, as its JSON handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("portal")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)


def _reset_token(session) -> str:
    admin = make_user(session, role=Role.ADMIN)
    user = make_user(session)
    token = services.issue_reset_link(session, user=user, issued_by=admin.id)
    session.commit()
    return token


def test_reset_links_leave_no_token_in_the_request_log(client, session, portal_log):
    token = _reset_token(session)
    link = f"/auth/reset/{token}"
    assert client.get(link).status_code == 200
    mismatch = {"new": "a brand new phrase", "confirm": "another phrase"}
    assert post(client, link, mismatch).status_code == 200
    new = {"new": "a brand new phrase", "confirm": "a brand new phrase"}
    assert post(client, link, new).status_code == 303
    assert client.get(link).status_code == 410  # used
    assert client.get(f"{link}/").status_code == 404  # no route, same secret
    text = portal_log.getvalue()
    assert token not in text
    paths = [json.loads(line)["path"] for line in text.splitlines() if '"request"' in line]
    assert paths.count("/auth/reset/[redacted]") == 4
    assert "/auth/reset/[redacted]/" in paths


def test_error_lines_keep_no_token_in_the_path_message_or_traceback(app, portal_log):
    try:
        raise RuntimeError("failed on /auth/reset/s3cr3t-T0ken_value")
    except RuntimeError as error:
        logging.getLogger("portal.errors").error(
            "unhandled error on /auth/reset/s3cr3t-T0ken_value",
            exc_info=error,
            extra={"fields": {"path": "/auth/reset/s3cr3t-T0ken_value", "method": "POST"}},
        )
    line = json.loads(portal_log.getvalue())
    assert "s3cr3t" not in portal_log.getvalue()
    assert line["path"] == "/auth/reset/[redacted]"
    assert line["msg"] == "unhandled error on /auth/reset/[redacted]"
    assert "RuntimeError: failed on /auth/reset/[redacted]" in line["exc"]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/auth/reset/abc-DEF_123", "/auth/reset/[redacted]"),
        ("/auth/reset/abc/", "/auth/reset/[redacted]/"),
        ("/portal/auth/reset/abc", "/portal/auth/reset/[redacted]"),
        (
            "GET /auth/reset/abc?x=1&token=t1&Password=p2&secret=s3 HTTP/1.1",
            "GET /auth/reset/[redacted]?x=1&token=[redacted]&Password=[redacted]"
            "&secret=[redacted] HTTP/1.1",
        ),
        ("https://example.org/auth/reset/abc#top", "https://example.org/auth/reset/[redacted]#top"),
        ("token=t1&q=x", "token=[redacted]&q=x"),
        ("/auth/login?next=/auth/password", "/auth/login?next=/auth/password"),
        ("/search?q=token&tokens=1", "/search?q=token&tokens=1"),
        ("/publicity/items/42", "/publicity/items/42"),
    ],
)
def test_redact_path(app, text, redacted):
    assert redact_path(text) == redacted


def test_a_later_token_route_is_redacted_without_being_listed(db_url, new_app):
    later = new_app(db_url)
    later.add_url_rule(
        "/invitations/<int:invitation_id>/accept/<invite_token>/done",
        "invitation_accept",
        lambda invitation_id, invite_token: "",
    )
    assert (
        redact_path("/invitations/7/accept/abc123/done") == "/invitations/7/accept/[redacted]/done"
    )
    assert redact_path("/invitations/7") == "/invitations/7"


# gunicorn's logs, as gunicorn.conf.py sets them up ---------------------------------------------


@pytest.fixture()
def gunicorn_logger(tmp_path):
    """The logger class gunicorn.conf.py gives gunicorn, writing to files; restored afterwards."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logs = [logging.getLogger("gunicorn.error"), logging.getLogger("gunicorn.access")]
    saved = [(log.handlers[:], log.filters[:], log.propagate, log.level) for log in logs]
    cfg = Config()
    cfg.set("logger_class", settings["logger_class"])
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set(
        "access_log_format",
        '%(h)s "%(r)s" %(s)s path=%(U)s query=%(q)s referer="%(f)s" %({referer}i)s %({raw_uri}e)s',
    )
    try:
        yield cfg.logger_class(cfg), tmp_path
    finally:
        for log, (handlers, filters, propagate, level) in zip(logs, saved, strict=True):
            for handler in log.handlers[:]:
                if handler not in handlers:
                    log.removeHandler(handler)
                    handler.close()
            log.filters[:] = filters
            log.propagate, log.level = propagate, level


def test_gunicorn_access_and_error_logs_keep_no_token(app, gunicorn_logger):
    logger, folder = gunicorn_logger
    token = "Zq3-x_9ReSeTtOkEn"
    referer = f"https://portal.example/auth/reset/{token}"
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/auth/reset/{token}?password=hunter22",
        "PATH_INFO": f"/auth/reset/{token}",
        "QUERY_STRING": "password=hunter22",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.8",
        "HTTP_REFERER": referer,
    }
    request = SimpleNamespace(headers=[("REFERER", referer)])
    response = SimpleNamespace(status="303 SEE OTHER", sent=0, headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=12))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("Error handling request %s", environ["RAW_URI"])
    for handler in logger.access_log.handlers + logger.error_log.handlers:
        handler.flush()
    access = (folder / "access.log").read_text()
    error = (folder / "error.log").read_text()
    assert token not in access + error
    assert "hunter22" not in access + error
    assert '"POST /auth/reset/[redacted]?password=[redacted] HTTP/1.1" 303' in access
    assert "path=/auth/reset/[redacted] query=password=[redacted]" in access
    assert 'referer="https://portal.example/auth/reset/[redacted]"' in access
    assert "Error handling request /auth/reset/[redacted]?password=[redacted]" in error
    assert "RuntimeError: boom" in error


# The reset pages send no Referer onwards --------------------------------------------------------


def test_reset_pages_send_no_referrer_and_are_not_stored(client, session):
    token = _reset_token(session)
    link = f"/auth/reset/{token}"
    page = client.get(link)
    refused = post(client, link, {"new": "short", "confirm": "short"})
    done = post(client, link, {"new": "a brand new phrase", "confirm": "a brand new phrase"})
    gone = client.get(link)
    assert [page.status_code, refused.status_code, done.status_code, gone.status_code] == [
        200,
        200,
        303,
        410,
    ]
    for response in (page, refused, done, gone):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response.headers["Cache-Control"]
    # Nothing on the page leads off the site.
    assert 'href="http' not in page.get_data(as_text=True)
    assert 'src="http' not in page.get_data(as_text=True)
    # Other pages keep the portal's policy.
    assert client.get("/auth/login").headers["Referrer-Policy"] == "same-origin"
