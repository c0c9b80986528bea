"""Cache of anonymous public pages, keyed on the content versions of the areas they show.

Like a Plone or Wagtail site behind a caching proxy, but inside each worker: a page whose view
is marked `@cached_page("area", ...)` is stored the first time an anonymous visitor asks for it,
and answered from memory afterwards by a WSGI middleware in front of Flask, with ETag and
Last-Modified, until one of those areas bumps its content version (`cache.bump(session,
"area")` in the area's services). Pages for a logged-in user, requests that carry a session or
set a cookie, errors, and addresses with a query argument the view does not read are never
stored.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from flask import Flask, current_app, g, has_app_context, request
from flask.wrappers import Request
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date

from portal.timeutil import utcnow
from portal.web import partial_request

log = logging.getLogger("portal.request")


ALL = "*"  # a page that depends on every area's content (search, the site map)


@dataclass(frozen=True)
class Entry:
    body: bytes
    headers: list[tuple[str, str]]
    etag: str
    last_modified: datetime
    areas: tuple[str, ...]


Versions = dict[str, tuple[int, datetime]]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class PageCache:
    """A bounded LRU of rendered pages for one worker process."""

    def __init__(self, max_entries: int = 2000):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._versions: Versions | None = None
        self._versions_checked = 0.0

    def __len__(self) -> int:
        return len(self._entries)

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
            self._versions = None

    def drop(self, changed: set[str]) -> None:
        """Forget the pages that depend on any of these areas (old keys are never asked again)."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if _depends(e.areas, changed)]:
                del self._entries[key]

    def expire_versions(self) -> None:
        """Read the versions again on the next request (after this process bumped one)."""
        self._versions_checked = float("-inf")

    def versions(self, load: Callable[[], Versions], ttl: float) -> Versions:
        """Every area's content version, read from the database at most once per `ttl` s."""
        now = time.monotonic()
        if self._versions is None or now - self._versions_checked >= ttl:
            versions = load()
            if self._versions is not None:
                changed = {
                    area
                    for area in set(versions) | set(self._versions)
                    if versions.get(area, (0,))[0] != self._versions.get(area, (0,))[0]
                }
                if changed:
                    self.drop(changed)
            self._versions, self._versions_checked = versions, now
        return self._versions


def _depends(areas: tuple[str, ...], changed: set[str]) -> bool:
    return ALL in areas or any(area in changed for area in areas)


def cached_page(*areas: str, query: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Mark a public view whose anonymous answer may be cached, under these areas' versions.

    `@cached_page("parents_school")` keeps the page until the parents' school bumps its version;
    `@cached_page(ALL)` until any area does. `query` names the query arguments the view reads
    (`query=("page",)`): an address with any other argument (`?utm_source=`, `?r=1`, ...) is
    rendered every time and never stored, so that nobody can fill the cache with endless
    variants of one page and push the pages people read out of it.
    """
    if not areas or not all(isinstance(a, str) for a in areas):
        raise TypeError("name the areas whose content the page shows: @cached_page('publicity')")
    if isinstance(query, str) or not all(isinstance(name, str) for name in query):
        raise TypeError("name the query arguments the view reads: query=('page',)")

    def decorator(view: Callable) -> Callable:
        view.cache_areas = tuple(areas)
        view.cache_query = frozenset(query)
        return view

    return decorator


def bump(session, area: str) -> None:
    """Record that `area` changed what the public sees; its cached pages go at commit."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from portal.core.models import ContentVersion
    from portal.db import on_commit

    now = utcnow()
    result = session.execute(
        update(ContentVersion)
        .where(ContentVersion.area == area)
        .values(version=ContentVersion.version + 1, changed_at=now)
    )
    if not result.rowcount:
        try:
            with session.begin_nested():
                session.add(ContentVersion(area=area, version=2, changed_at=now))
        except IntegrityError:  # another transaction created the row first
            session.execute(
                update(ContentVersion)
                .where(ContentVersion.area == area)
                .values(version=ContentVersion.version + 1, changed_at=now)
            )
    if has_app_context() and "page_cache" in current_app.extensions:
        cache: PageCache = current_app.extensions["page_cache"]
        on_commit(session, cache.expire_versions)


def load_versions(session) -> Versions:
    from sqlmodel import select

    from portal.core.models import ContentVersion

    return {row.area: (row.version, row.changed_at) for row in session.exec(select(ContentVersion))}


def _load_versions() -> Versions:
    from portal.extensions import db

    with db.transaction(write=False) as session:
        return load_versions(session)


def page_areas(view: Callable | None) -> tuple[str, ...] | None:
    return getattr(view, "cache_areas", None) if view is not None else None


def cache_key(
    areas: tuple[str, ...],
    versions: Versions,
    session_cookie: str,
    req: Request,
    query: frozenset[str] = frozenset(),
) -> tuple | None:
    """The key of this anonymous GET, or None when it may not be cached.

    It holds the versions of the areas the page depends on, the day, the language, the display
    mode, whether htmx asked for a fragment, and the scheme, host, script root and path the page
    was asked under, so that nothing built for one address is ever served to another.
    """
    environ = req.environ
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return None
    if environ.get("QUERY_STRING") and not query.issuperset(req.args.keys()):
        return None  # ?lang= sets the language cookie; other arguments the view ignores
    # Read from the environ: the request's parsed headers, cookies and languages cost more
    # than the rest of a cache hit.
    if environ.get("HTTP_COOKIE"):
        cookies = req.cookies
        if session_cookie in cookies or "remember_token" in cookies:
            return None
        lang_cookie, elder = cookies.get("lang"), cookies.get("elder") == "1"
    else:
        lang_cookie, elder = None, False
    from portal.i18n import locale_from

    if ALL in areas:
        depends = tuple(sorted((a, v[0]) for a, v in versions.items()))
    else:
        depends = tuple((a, versions.get(a, (1, EPOCH))[0]) for a in areas)
    # Pages show today's date: a new day in China starts new entries.
    today = time.strftime("%Y%m%d", time.gmtime(time.time() + 8 * 3600))
    return (
        depends,
        today,
        locale_from(lang_cookie, environ.get("HTTP_ACCEPT_LANGUAGE", "")),
        elder,
        partial_request(environ),
        environ.get("HTTP_X_FORWARDED_PROTO", ""),
        environ.get("HTTP_X_FORWARDED_HOST", ""),
        environ.get("wsgi.url_scheme", "http"),
        environ.get("HTTP_HOST", ""),
        environ.get("HTTP_X_FORWARDED_PREFIX", ""),
        req.script_root,
        req.full_path,
    )


def last_change(areas: tuple[str, ...], versions: Versions) -> datetime:
    stamps = [v[1] for a, v in versions.items() if ALL in areas or a in areas]
    return max(stamps, default=EPOCH)


class CachedPages:
    """WSGI middleware answering cached anonymous pages before the view runs.

    It reads the request as the view would (the same request class, URL adapter and cookies)
    but pushes no request context, opens no database session and loads no user: a page the
    cache does not hold then costs the view only one lookup more.
    """

    def __init__(self, app: Flask):
        self.flask_app = app
        self.wsgi_app = app.wsgi_app
        self.cache: PageCache = app.extensions["page_cache"]
        self.session_cookie = app.config.get("SESSION_COOKIE_NAME", "session")

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            started = time.perf_counter()
            cookies = environ.get("HTTP_COOKIE", "")
            if f"{self.session_cookie}=" in cookies or "remember_token=" in cookies:
                # A session or a login: never cached (the key would say so, at more cost).
                environ[MARKER] = None
                return self.wsgi_app(environ, start_response)
            marker = self._marker(environ)
            entry = self.cache.get(marker[0]) if marker is not None else None
            if entry is not None:
                return self._answer(environ, start_response, entry, started)
            # The view's answer is stored under this same key (computed once, from the request
            # as it arrived, before any proxy fix rewrites the environ).
            environ[MARKER] = marker
        return self.wsgi_app(environ, start_response)

    def _marker(self, environ) -> tuple | None:
        """(key, areas, last change) of a cacheable page, or None."""
        app = self.flask_app
        req = app.request_class(environ)
        try:
            rule, _ = app.create_url_adapter(req).match(return_rule=True)
        except HTTPException:  # no route, a redirect (a missing slash) or a wrong method
            return None
        return marker_for(app, app.view_functions.get(rule.endpoint), req)

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


MARKER = "portal.page_cache"


def marker_for(app: Flask, view: Callable | None, req: Request) -> tuple | None:
    """For this request to this view: (key, areas, last change), or None when it is not cached."""
    areas = page_areas(view)
    if areas is None:
        return None
    cache: PageCache = app.extensions["page_cache"]

    def load() -> Versions:
        with app.app_context():
            return _load_versions()

    versions = cache.versions(load, app.config["PORTAL_PAGE_CACHE_TTL"])
    key = cache_key(
        areas,
        versions,
        app.config.get("SESSION_COOKIE_NAME", "session"),
        req,
        getattr(view, "cache_query", frozenset()),
    )
    return None if key is None else (key, areas, last_change(areas, versions))


def mark_cacheable() -> None:
    """Before a marked view runs: remember the key its answer will be stored under."""
    if MARKER in request.environ:  # worked out by the middleware already
        marker = request.environ[MARKER]
    else:
        app = current_app._get_current_object()
        view = app.view_functions.get(request.endpoint or "")
        marker = marker_for(app, view, request._get_current_object())
    if marker is not None:
        g.page_cache = marker


def store_in_cache(response):
    marker = g.pop("page_cache", None)
    if marker is None:
        return response
    key, areas, changed_at = marker
    response_headers = response.headers
    if (
        response.status_code != 200
        or response.direct_passthrough
        or "Set-Cookie" in response_headers
    ):
        return response
    body = response.get_data()
    etag = hashlib.sha1(body, usedforsecurity=False).hexdigest()
    # Set as plain values: Response's etag, last_modified and vary helpers parse and format
    # each header again, which costs more than the lookup of a cache hit.
    response_headers["ETag"] = f'"{etag}"'
    response_headers["Last-Modified"] = _http_date(changed_at)
    response_headers["Cache-Control"] = "public, max-age=0, must-revalidate"
    response_headers["Vary"] = _vary_also(response_headers.get("Vary", ""))
    headers = [(k, v) for k, v in response_headers.items() if k.lower() != "content-length"]
    current_app.extensions["page_cache"].put(key, Entry(body, headers, etag, changed_at, areas))
    environ = request.environ
    if not any(name in environ for name in _CONDITIONAL):
        return response  # nothing to compare the new ETag with
    return response.make_conditional(request)


@functools.lru_cache(maxsize=256)
def _http_date(moment: datetime) -> str:
    return http_date(moment)


@functools.lru_cache(maxsize=64)
def _vary_also(vary: str) -> str:
    """The Vary header with Cookie and Accept-Language added (a cached page depends on both)."""
    names = [name.strip() for name in vary.split(",") if name.strip()]
    known = {name.lower() for name in names}
    names += [name for name in ("Cookie", "Accept-Language") if name.lower() not in known]
    return ", ".join(names)


_CONDITIONAL = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
)


def init_app(app: Flask) -> None:
    app.extensions["page_cache"] = PageCache(app.config.get("PORTAL_PAGE_CACHE_SIZE", 2000))
    app.before_request(mark_cacheable)
    app.after_request(store_in_cache)
    app.wsgi_app = CachedPages(app)
