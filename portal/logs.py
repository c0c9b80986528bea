"""Structured log lines (JSON) to stderr, with no personal data and no secrets."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
import weakref
from collections.abc import Iterable

from flask import Flask, g, request
from werkzeug.routing import Map

REDACTED = "[redacted]"

# Route variables that hold a secret: `<token>` (password reset and account set-up) and any
# later `<..._token>`.
_VARIABLE_RE = re.compile(r"<(?:(?P<converter>[^<>:]+):)?(?P<name>\w+)>")
# One path segment, stopping where a request line, a JSON string or a query string ends it.
_SEGMENT = r"[^/?#\s\"'\\]+"
_QUERY_SECRET_RE = re.compile(
    r"((?:^|[?&;])(?:token|password|secret)=)[^&#\s\"'\\]*", re.IGNORECASE
)

# The URL maps of the apps built in this process: gunicorn's access log reads them too.
_url_maps: weakref.WeakSet[Map] = weakref.WeakSet()


def is_secret_variable(name: str) -> bool:
    return name == "token" or name.endswith("_token")


def _rule_pattern(rule: str) -> re.Pattern[str]:
    """A pattern for a rule up to its last secret variable, each secret one a group.

    It is not anchored, so it also finds the path inside a request line, a full URL, a
    Referer or an error message, and under any prefix the portal is mounted at.
    """
    parts, end, last = [], 0, 0
    for match in _VARIABLE_RE.finditer(rule):
        parts.append(re.escape(rule[end : match.start()]))
        if is_secret_variable(match["name"]):
            parts.append(f"({_SEGMENT})")
            last = len(parts)
        elif (match["converter"] or "").startswith("path"):
            parts.append(r"[^?#\s\"'\\]+?")
        else:
            parts.append(_SEGMENT)
        end = match.end()
    return re.compile("".join(parts[:last]))


@functools.lru_cache(maxsize=16)
def _patterns(rules: frozenset[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(the rule's text before its first variable, its pattern) per rule.

    A pattern begins with that text, so a text without it is not searched at all.
    """
    return tuple(
        (_VARIABLE_RE.split(rule, maxsplit=1)[0], _rule_pattern(rule)) for rule in sorted(rules)
    )


def token_rules(url_maps: Iterable[Map]) -> frozenset[str]:
    """Every rule (`/auth/reset/<token>`, ...) with a secret variable in these URL maps."""
    return frozenset(
        rule.rule
        for url_map in url_maps
        for rule in url_map.iter_rules()
        if any(is_secret_variable(name) for name in rule.arguments)
    )


_rules_generation = 0  # rules added to a watched map so far
_rules_seen = -1
_rules_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()


def watch_url_map(url_map: Map) -> None:
    """Redact the token routes of this map, including rules added to it later."""
    global _rules_generation
    if url_map in _url_maps:
        return
    add = url_map.add

    def add_and_count(rulefactory) -> None:
        global _rules_generation
        add(rulefactory)
        _rules_generation += 1

    url_map.add = add_and_count
    _url_maps.add(url_map)
    _rules_generation += 1


def _current_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The token patterns of this process's URL maps, scanned again only when a map changed.

    Every logged request redacts its path: walking every rule of every map each time would
    put that walk on the hot path, so a counter of the rules added says when to walk again.
    """
    global _rules_seen, _rules_patterns
    if _rules_seen != _rules_generation:
        generation = _rules_generation
        _rules_patterns = _patterns(token_rules(list(_url_maps)))
        _rules_seen = generation
    return _rules_patterns


def _blank_groups(match: re.Match[str]) -> str:
    text, offset, pieces, position = match.group(0), match.start(), [], 0
    for index in range(1, (match.re.groups or 0) + 1):
        start, end = match.span(index)
        pieces += [text[position : start - offset], REDACTED]
        position = end - offset
    pieces.append(text[position:])
    return "".join(pieces)


def redact_path(text: str) -> str:
    """Replace the secrets a path, URL, request line or log message may carry with [redacted].

    The token segment of every route whose rule has a `token` variable (found in the URL maps
    of this process's apps, so later token routes are covered), and the values of query
    parameters named token, password or secret.
    """
    for start, pattern in _current_patterns():
        if start in text:
            text = pattern.sub(_blank_groups, text)
    if "=" not in text:  # no query parameter to look at
        return text
    return _QUERY_SECRET_RE.sub(rf"\1{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Redact secrets from a record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Each argument alone first (a query string starts at its own beginning), then the
        # message they make.
        args = record.args
        if isinstance(args, dict):  # gunicorn's access-log atoms, changed in place
            for key, value in args.items():
                if isinstance(value, str):
                    args[key] = redact_path(value)
        elif isinstance(args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in args)
        record.msg, record.args = redact_path(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_path(record.exc_text)
        return True


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
        # Whatever logged it (an error with the path, a traceback), no token leaves the process.
        return redact_path(json.dumps(line, ensure_ascii=False))


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

    if not request_log.isEnabledFor(logging.INFO):
        return response
    started = g.get("request_started")
    req = request._get_current_object()  # one proxy lookup, not one per field
    user = current_user._get_current_object()
    # The path only: query strings can carry names or phone numbers.
    request_log.info(
        "request",
        extra={
            "fields": {
                "method": req.method,
                "path": redact_path(req.path),
                "endpoint": req.endpoint,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "user": user.get_id().split(":")[0]
                if user is not None and user.is_authenticated
                else None,
            }
        },
    )
    return response


def init_app(app: Flask) -> None:
    configure(app.config["PORTAL_LOG_LEVEL"])
    watch_url_map(app.url_map)
    app.before_request(_start_timer)
    app.after_request(_log_request)
