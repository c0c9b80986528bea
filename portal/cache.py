"""Cache of anonymous public pages, keyed on content version, language and display mode.

Like a Plone or Wagtail site behind a caching proxy, but inside each worker: a page marked
with @cached_page is stored the first time an anonymous visitor asks for it and served from
memory afterwards, with ETag and Last-Modified, until anything public changes (publishing,
retracting, editing a live item, expiry bump the content version). Pages for a logged-in
user, requests that carry a session or set a cookie, and errors are never stored.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, current_app, g, request

from portal.web import is_partial_request

SESSION_COOKIES = ("session", "remember_token")


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


def _cacheable_request() -> bool:
    if request.method not in ("GET", "HEAD") or "lang" in request.args:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not getattr(view, "cache_page", False):
        return False
    return not any(name in request.cookies for name in SESSION_COOKIES)


def _load_version() -> tuple[int, datetime]:
    from portal.extensions import db
    from portal.publicity.services import content_version

    with db.transaction(write=False) as session:
        return content_version(session)


def _key(version: int) -> tuple:
    from portal.i18n import select_locale

    return (
        version,
        select_locale(),
        request.cookies.get("elder") == "1",
        is_partial_request(),
        request.full_path,
    )


def serve_from_cache():
    if not _cacheable_request():
        return None
    cache: PageCache = current_app.extensions["page_cache"]
    version, changed_at = cache.version(_load_version, current_app.config["PORTAL_PAGE_CACHE_TTL"])
    key = _key(version)
    g.page_cache = (key, changed_at)
    entry = cache.get(key)
    if entry is None:
        return None
    g.page_cache_hit = True
    response = Response(entry.body, headers=entry.headers)
    response.set_etag(entry.etag)
    response.last_modified = entry.last_modified
    return response.make_conditional(request)


def store_in_cache(response: Response) -> Response:
    marker = g.pop("page_cache", None)
    if marker is None or g.get("page_cache_hit"):
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
    app.before_request(serve_from_cache)
    app.after_request(store_in_cache)
