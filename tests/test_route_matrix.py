"""Every route × every role (security.md 8), generated from app.url_map.

A route added later is covered automatically: it must declare its access with @public,
@login_required or @roles_required, or this test fails.
"""

from __future__ import annotations

import io
import itertools
import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import event
from werkzeug.routing.converters import AnyConverter, NumberConverter

from portal import notify
from portal.auth.models import Role
from portal.notify import MessageStatus, Recipient
from portal.security import AUTHENTICATED, PUBLIC
from portal.timeutil import utcnow
from tests.conftest import csrf_token, login, make_user, page_text, post

ANONYMOUS = "anonymous"
OTHER_TOWNSHIP = "township_staff_other"
PROFILES = [ANONYMOUS, *[r.value for r in Role], OTHER_TOWNSHIP]
SKIP = {"static"}
# Run last: logging out would end the session the walk depends on.
LAST = {"auth.logout"}


def _sample(converter):
    """A value the route accepts: 1 for ids, the first choice of an any(...), else "x"."""
    if isinstance(converter, NumberConverter):
        return 1
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "x"


def _routes(app):
    adapter = app.url_map.bind("localhost")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP]
    rules.sort(key=lambda r: (r.endpoint in LAST, r.rule))
    for rule in rules:
        values = {arg: _sample(rule._converters.get(arg)) for arg in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule.endpoint, method, url


def _access(app, endpoint):
    view = app.view_functions[endpoint]
    access = getattr(view, "access", None)
    assert access is not None, (
        f"{endpoint} declares no access (@public, @login_required or @roles_required)"
    )
    return access


def _allowed(access, profile) -> bool:
    if access == PUBLIC:
        return True
    if profile == ANONYMOUS:
        return False
    if access == AUTHENTICATED:
        return True
    role = Role.TOWNSHIP_STAFF if profile == OTHER_TOWNSHIP else Role(profile)
    return role in access


def test_every_route_declares_its_access(app):
    endpoints = {endpoint for endpoint, _m, _u in _routes(app)}
    assert len(endpoints) >= 15
    for endpoint in endpoints:
        _access(app, endpoint)


@pytest.mark.parametrize("profile", PROFILES)
def test_route_matrix(app, session, profile):
    client = app.test_client()
    if profile != ANONYMOUS:
        role = Role.TOWNSHIP_STAFF if profile == OTHER_TOWNSHIP else Role(profile)
        township = "331124101" if profile == OTHER_TOWNSHIP else None
        login(client, make_user(session, role=role, township_code=township))
    failures = []
    for endpoint, method, url in _routes(app):
        access = _access(app, endpoint)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={"csrf_token": csrf_token(client)})
        status = response.status_code
        to_login = status in (302, 303) and "/auth/login" in response.headers.get("Location", "")
        if _allowed(access, profile):
            if status in (401, 403) or to_login:
                failures.append(f"{profile} {method} {url}: allowed but got {status}")
            if status >= 500:
                failures.append(f"{profile} {method} {url}: server error {status}")
            if method == "GET":
                # The same page asked for by htmx (a fragment where the view has one).
                partial = client.get(url, headers={"HX-Request": "true"}).status_code
                if partial >= 500 or partial in (401, 403):
                    failures.append(f"{profile} GET {url} (htmx): got {partial}")
        elif profile == ANONYMOUS:
            if not to_login:
                failures.append(f"{method} {url}: anonymous should go to login, got {status}")
            partial = (
                client.get(url, headers={"HX-Request": "true"})
                if method == "GET"
                else client.post(
                    url, data={"csrf_token": csrf_token(client)}, headers={"HX-Request": "true"}
                )
            )
            if partial.status_code != 401 or "/auth/login" not in partial.headers.get(
                "HX-Redirect", ""
            ):
                failures.append(f"{method} {url}: htmx partial should get 401 + HX-Redirect")
        elif status != 403:
            failures.append(f"{profile} {method} {url}: should be 403, got {status}")
    assert not failures, "\n".join(failures)


# No GET changes application state -------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Statements a GET may run: reads, and the savepoints that nest each request's session.
READS = {"SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"}
# The one write a GET may make: the audit entry of a refused access (access.denied).
AUDIT_INSERT = re.compile(r'\s*INSERT\s+INTO\s+"?audit_entry"?[\s(]', re.IGNORECASE)
# Every query parameter the views read, sent at once to reach their less common branches.
QUERY = {
    "q": "标题",
    "page": "1",
    "a": "1",
    "b": "2",
    "status": "pending",
    "kind": "news",
    "role": "admin",
    "action": "login",
    "year": "2026",
    "elder": "1",
    "next": "/",
}


def _is_write(statement: str) -> bool:
    words = statement.split(None, 1)
    if not words or words[0].upper() in READS:
        return False
    return not AUDIT_INSERT.match(statement)


def _logged_in_client(app, session, role: Role):
    client = app.test_client()
    user = make_user(session, role=role)
    login(client, user)
    return client, user


def _item_id(response) -> int:
    match = re.search(r"/publicity/manage/(\d+)$", response.headers.get("Location", ""))
    assert response.status_code == 303 and match, response.get_data(as_text=True)[:2000]
    return int(match.group(1))


def _item_form(slug: str, kind: str, **changes) -> dict[str, str]:
    form = {
        "kind": kind,
        "slug": slug,
        "title": f"标题 {slug}",
        "summary": "摘要",
        "body": "## 小标题\n\n正文",
        "policy_slug": "",
        "related": "",
        "publish_at": "",
        "expire_at": "",
    }
    return {**form, **changes}


def _seed(app, session, user) -> dict[str, list]:
    """Content for every page to show, made through the routes; the values to build URLs with.

    A live news item with an attachment and a second revision waiting for review, a live page,
    an unused password-reset link, a failed outbox message, and (for a logged-in profile) an
    unread message in the inbox.
    """
    editor, _editor = _logged_in_client(app, session, Role.EDITOR)
    reviewer, _reviewer = _logged_in_client(app, session, Role.REVIEWER)
    admin, _admin = _logged_in_client(app, session, Role.ADMIN)
    news = _item_id(post(editor, "/publicity/manage/new", _item_form("get-news", "news")))
    upload = editor.post(
        f"/publicity/manage/{news}/attachments",
        data={"csrf_token": csrf_token(editor), "file": (io.BytesIO(PDF), "讲座安排.pdf")},
    )
    assert upload.status_code == 303
    page = _item_id(post(editor, "/publicity/manage/new", _item_form("get-page", "page")))
    for item in (news, page):
        assert post(editor, f"/publicity/manage/{item}/submit").status_code == 303
        assert post(reviewer, f"/publicity/manage/{item}/publish").status_code == 303
    edit = _item_form("get-news", "news", body="## 小标题\n\n正文，改过")
    assert post(editor, f"/publicity/manage/{news}/edit", edit).status_code == 303
    assert post(editor, f"/publicity/manage/{news}/submit").status_code == 303
    item_page = editor.get(f"/publicity/manage/{news}").get_data(as_text=True)
    files = re.findall(r"/publicity/files/(\d+)/([^\"?#]+)", item_page)
    assert files, "the attachment is not listed on the item's page"
    attachment_id, filename = files[0]
    public = app.test_client()
    for url in (
        "/publicity/news/get-news",
        "/pages/get-page",
        f"/publicity/files/{attachment_id}/x",
    ):
        response = public.get(url)
        response.close()
        assert response.status_code == 200, f"seeding failed: {url} answers {response.status_code}"

    other = make_user(session, role=Role.VOLUNTEER)
    reset = post(admin, f"/admin/users/{other.id}/reset-link")
    token = re.search(r"/auth/reset/([\w-]+)", reset.get_data(as_text=True))
    assert token, page_text(reset)

    with app.app_context():
        failed = notify.enqueue(
            session,
            key="get:failed",
            to=Recipient.by_phone("13900000001"),
            template="account.password_changed",
            context={"when": "2026-11-29 10:00"},
        )
        unread = notify.enqueue(
            session,
            key="get:unread",
            to=Recipient.for_user(user or other),
            template="account.password_changed",
            context={"when": "2026-11-29 10:00"},
        )
    for message in failed:
        message.status, message.last_error, message.attempts = MessageStatus.FAILED, "no", 8
    for message in unread:
        message.status, message.sent_at = MessageStatus.SENT, utcnow()
    session.commit()
    return {
        "item_id": [news],
        "number": [1, 2],
        "attachment_id": [int(attachment_id)],
        "name": [filename],
        "segment": ["news"],
        "slug": ["get-news", "get-page"],
        "token": [token.group(1)],
        "user_id": [other.id],
    }


def _get_urls(app, seeded: dict[str, list]) -> list[str]:
    """Every GET route: with values that find nothing, and with the seeded records."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        names = sorted(rule.arguments)
        fallback = {
            arg: 1 if isinstance(rule._converters.get(arg), NumberConverter) else "x"
            for arg in names
        }
        choices = [seeded.get(arg, [fallback[arg]]) for arg in names]
        for values in {tuple(fallback[a] for a in names), *itertools.product(*choices)}:
            url = adapter.build(rule.endpoint, dict(zip(names, values, strict=True)))
            urls += [url, f"{url}?{urlencode(QUERY)}"]
    return sorted(set(urls))


@pytest.mark.parametrize("profile", [ANONYMOUS, *[r.value for r in Role]])
def test_no_get_changes_state(app, session, profile):
    """A GET never writes: any INSERT, UPDATE or DELETE fails, except the audit of a refusal.

    Every GET route is asked for, with records to show and with ids that find nothing, with and
    without the query parameters the views read, as a page and as an htmx fragment.
    """
    client = app.test_client()
    user = None
    if profile != ANONYMOUS:
        client, user = _logged_in_client(app, session, Role(profile))
    seeded = _seed(app, session, user)
    if user is not None:
        assert 'action="/auth/logout"' in client.get("/").get_data(as_text=True)
    writes: list[str] = []
    current: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        if current and _is_write(statement):
            writes.append(f"GET {current[0]}: {' '.join(statement.split())[:160]}")

    engine = app.extensions["portal_db"].engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for url in _get_urls(app, seeded):
            for headers in ({}, {"HX-Request": "true"}):
                current[:] = [url + (" (htmx)" if headers else "")]
                client.get(url, headers=headers).close()  # downloads hold their file open
                current.clear()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not writes, f"{profile}: GET requests that wrote:\n" + "\n".join(writes)
