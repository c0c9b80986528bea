"""Structured log lines (JSON) to stderr, with no personal data."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g, request


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    root = logging.getLogger("portal")
    if any(getattr(h, "portal_json", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.portal_json = True
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


request_log = logging.getLogger("portal.request")


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_request(response):
    from flask_login import current_user

    started = g.get("request_started")
    # The path only: query strings can carry names or phone numbers.
    request_log.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "path": request.path,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "user": current_user.get_id().split(":")[0]
                if current_user and current_user.is_authenticated
                else None,
            }
        },
    )
    return response


def init_app(app: Flask) -> None:
    configure(app.config["PORTAL_LOG_LEVEL"])
    app.before_request(_start_timer)
    app.after_request(_log_request)
