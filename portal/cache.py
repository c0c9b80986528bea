"""Cache of anonymous public pages, keyed on content version, language and display mode.

Like a Plone or Wagtail site behind a caching proxy, but inside each worker: a page whose view
is marked @cached_page is stored the first time an anonymous visitor asks for it, and answered
from memory afterwards by a WSGI middleware in front of Flask, with ETag and Last-Modified,
until anything public changes (publishing, retracting, editing a live item and expiry bump the
content version). Pages for a logged-in user, requests that carry a session or set a cookie,
and errors are never stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from flask import Flask, current_app, g, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header, parse_cookie

log = logging.getLogger("portal.request")


@dataclass(frozen=True)
class Entry:
    body: bytes
    headers: list[tuple[str, str]]
    etag: str
    last_modified: datetime


class PageCache:
    """A bounded LRU of rendered pages for one worker process."""

    def __init__(self, max_entries: int = 2000):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._version: tuple[int, datetime] | None = None
        self._version_checked = 0.0

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version = None

    def version(self, load: Callable[[], tuple[int, datetime]], ttl: float) -> tuple[int, datetime]:
        """The content version, read from the database at most once per `ttl` seconds."""
        now = time.monotonic()
        if self._version is None or now - self._version_checked >= ttl:
            version = load()
            with self._lock:
                if self._version is not None and version[0] != self._version[0]:
                    self._entries.clear()  # old versions can never be asked for again
                self._version, self._version_checked = version, now
        return self._version


def cached_page(view: Callable) -> Callable:
    """Mark a public view whose anonymous answer may be cached."""
    view.cache_page = True
    return view


def _true(environ: dict, name: str) -> bool:
    return environ.get(name, "").lower() == "true"


def cache_key(environ: dict, version: int, session_cookie: str) -> tuple | None:
    """The cache key of an anonymous GET, or None when the request may not use the cache."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return None
    query = environ.get("QUERY_STRING", "")
    if "lang=" in query:
        return None  # it sets the language cookie
    cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
    if session_cookie in cookies or "remember_token" in cookies:
        return None
    from portal.i18n import locale_from

    accept = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE", ""), LanguageAccept)
    partial = (
        _true(environ, "HTTP_HX_REQUEST")
        and not _true(environ, "HTTP_HX_BOOSTED")
        and not _true(environ, "HTTP_HX_HISTORY_RESTORE_REQUEST")
    )
    path = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
    # Pages show today's date: a new day in China starts new entries.
    today = time.strftime("%Y%m%d", time.gmtime(time.time() + 8 * 3600))
    return (
        version,
        today,
        locale_from(cookies.get("lang"), accept),
        cookies.get("elder") == "1",
        partial,
        scheme,
        path,
    )


def _load_version() -> tuple[int, datetime]:
    from portal.extensions import db
    from portal.publicity.services import content_version

    with db.transaction(write=False) as session:
        return content_version(session)


class CachedPages:
    """WSGI middleware answering cached anonymous pages before Flask is entered."""

    def __init__(self, app: Flask):
        self.flask_app = app
        self.wsgi_app = app.wsgi_app
        self.cache: PageCache = app.extensions["page_cache"]
        self.session_cookie = app.config.get("SESSION_COOKIE_NAME", "session")

    def version(self) -> tuple[int, datetime]:
        def load():
            with self.flask_app.app_context():
                return _load_version()

        return self.cache.version(load, self.flask_app.config["PORTAL_PAGE_CACHE_TTL"])

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and self.cache._entries:
            started = time.perf_counter()
            key = cache_key(environ, self.version()[0], self.session_cookie)
            entry = self.cache.get(key) if key is not None else None
            if entry is not None:
                return self._answer(environ, start_response, entry, started)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ, start_response, entry: Entry, started: float):
        not_modified = environ.get("HTTP_IF_NONE_MATCH", "").strip() in (f'"{entry.etag}"', "*")
        if (
            not not_modified
            and "HTTP_IF_MODIFIED_SINCE" in environ
            and "HTTP_IF_NONE_MATCH" not in environ
        ):
            try:
                since = parsedate_to_datetime(environ["HTTP_IF_MODIFIED_SINCE"])
                not_modified = entry.last_modified.replace(microsecond=0) <= since
            except (TypeError, ValueError):
                not_modified = False
        if not_modified:
            headers = [
                (k, v)
                for k, v in entry.headers
                if k.lower() in ("etag", "last-modified", "cache-control", "vary")
            ]
            start_response("304 NOT MODIFIED", headers)
            body = []
            status = 304
        else:
            start_response("200 OK", entry.headers + [("Content-Length", str(len(entry.body)))])
            body = [] if environ.get("REQUEST_METHOD") == "HEAD" else [entry.body]
            status = 200
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": environ.get("REQUEST_METHOD"),
                        "path": environ.get("PATH_INFO"),
                        "endpoint": "cache",
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "user": None,
                    }
                },
            )
        return body


def mark_cacheable() -> None:
    """Before a marked view runs: remember the key its answer will be stored under."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not getattr(view, "cache_page", False):
        return
    cache: PageCache = current_app.extensions["page_cache"]
    version, changed_at = cache.version(_load_version, current_app.config["PORTAL_PAGE_CACHE_TTL"])
    key = cache_key(
        request.environ, version, current_app.config.get("SESSION_COOKIE_NAME", "session")
    )
    if key is not None:
        g.page_cache = (key, changed_at)


def store_in_cache(response):
    marker = g.pop("page_cache", None)
    if marker is None:
        return response
    key, changed_at = marker
    if (
        response.status_code != 200
        or response.direct_passthrough
        or response.headers.getlist("Set-Cookie")
    ):
        return response
    body = response.get_data()
    etag = hashlib.sha1(body, usedforsecurity=False).hexdigest()
    response.set_etag(etag)
    response.last_modified = changed_at
    response.headers["Cache-Control"] = "public, max-age=0, must-revalidate"
    response.vary.update(("Cookie", "Accept-Language"))
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    current_app.extensions["page_cache"].put(key, Entry(body, headers, etag, changed_at))
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    app.extensions["page_cache"] = PageCache(app.config.get("PORTAL_PAGE_CACHE_SIZE", 2000))
    app.before_request(mark_cacheable)
    app.after_request(store_in_cache)
    app.wsgi_app = CachedPages(app)
