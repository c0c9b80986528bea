"""Ordinary bad input never gives a 500, and invisible control characters are never stored.

Huge ids in URLs and query strings, dates outside 2000-2100, and text with control
characters, zero-width characters or bidirectional overrides, each sent through the routes
and forms a browser would use.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from flask_wtf import FlaskForm
from sqlmodel import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from werkzeug.routing.converters import NumberConverter
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SearchField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

import portal
from portal.auth.models import Role, User
from portal.core.converters import MAX_ID, id_number
from portal.core.forms import DateInRange, PortalForm, clean_text
from portal.publicity import services
from portal.publicity.models import Item, Revision
from tests.conftest import csrf_token, login, make_user, page_text, post

# The smallest id PostgreSQL's INTEGER cannot hold, one SQLite cannot hold, and a long one.
HUGE_IDS = [str(MAX_ID + 1), str(2**63), "9" * 40]
NO_VISIBLE_TEXT = "请填写实际文字，不能只有空格或不可见字符。"
BIDI_REFUSED = "内容中含有改变文字显示方向的隐藏字符，现已删除，请核对后重新提交。"
DATE_RANGE = "日期须在 2000 年至 2100 年之间。"


def _client(app, session, role: Role | None):
    client = app.test_client()
    if role is not None:
        login(client, make_user(session, role=role))
    return client


# Huge ids -----------------------------------------------------------------------------------


@pytest.fixture()
def item(app, session):
    """A draft news item with one revision: real values for the routes' other ids."""
    editor = make_user(session, role=Role.EDITOR)
    with app.app_context():
        made = services.create_item(
            session,
            author=editor,
            kind="news",
            slug="bad-input",
            draft=services.Draft(title="标题", summary="", body="正文"),
        )
        session.commit()
    return made


def _plausible(rule, name: str, item: Item, revision: Revision, user: User):
    """A value of the right kind that reaches the view: real ids where the name says which."""
    if isinstance(rule._converters.get(name), NumberConverter):
        real = {
            "item_id": item.id,
            "revision_id": revision.id,
            "number": revision.number,
            "user_id": user.id,
        }
        return real.get(name, 1)
    return {"segment": "news", "slug": item.slug, "name": "file.pdf"}.get(name, "x")


def _huge_id_urls(app, item, revision, user):
    """Every rule with an int variable, once per int variable set to each huge value."""
    for rule in app.url_map.iter_rules():
        numbers = [
            name
            for name in rule.arguments
            if isinstance(rule._converters.get(name), NumberConverter)
        ]
        for name in numbers:
            values = {arg: _plausible(rule, arg, item, revision, user) for arg in rule.arguments}
            template = rule.rule
            for huge in HUGE_IDS:
                path = template
                for arg, value in values.items():
                    value = huge if arg == name else value
                    path = re.sub(rf"<(?:[^<>:]+:)?{arg}>", str(value), path)
                for method in sorted(rule.methods & {"GET", "POST"}):
                    yield rule.endpoint, method, path


def test_the_walk_covers_public_and_staff_routes(app, session, item):
    revision = session.exec(select(Revision).where(Revision.item_id == item.id)).one()
    user = make_user(session, role=Role.ADMIN)
    endpoints = {endpoint for endpoint, _m, _p in _huge_id_urls(app, item, revision, user)}
    # The public download and the screens of every staff area with an id in the URL.
    assert {
        "publicity.attachment",
        "publicity.item",
        "admin.user_detail",
        "notify.mark_read",
    } <= endpoints


@pytest.mark.parametrize("role", [None, Role.ADMIN, Role.EDITOR, Role.REVIEWER])
def test_an_id_too_large_for_the_database_is_not_found(app, session, item, role):
    client = _client(app, session, role)
    revision = session.exec(select(Revision).where(Revision.item_id == item.id)).one()
    user = make_user(session, role=Role.ADMIN)
    token = csrf_token(client)
    failures = []
    for endpoint, method, path in _huge_id_urls(app, item, revision, user):
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": token})
        if response.status_code != 404:
            failures.append(f"{method} {path} ({endpoint}): {response.status_code}")
    assert not failures, "\n".join(failures)


def test_the_largest_id_an_id_column_holds_still_reaches_the_view(app, session, item):
    adapter = app.url_map.bind("localhost")
    endpoint, values = adapter.match(f"/publicity/manage/{MAX_ID}")
    assert endpoint == "publicity.item" and values == {"item_id": MAX_ID}
    with pytest.raises(NotFound):
        adapter.match(f"/publicity/manage/{MAX_ID + 1}")
    with pytest.raises(NotFound):
        adapter.match("/admin/users/٣")  # digits of another script are not an id
    client = _client(app, session, Role.EDITOR)
    assert client.get(f"/publicity/manage/{MAX_ID}").status_code == 404  # no such item
    assert client.get(f"/publicity/manage/{item.id}").status_code == 200


def test_id_number_reads_query_string_ids():
    assert id_number("12") == 12 and id_number(str(MAX_ID)) == MAX_ID
    for bad in [str(MAX_ID + 1), "9" * 5000, "-1", "1.0", "٣", "", " 1"]:
        with pytest.raises(ValueError):
            id_number(bad)


@pytest.mark.parametrize("huge", [*HUGE_IDS, "٣", "-1"])
def test_revision_numbers_in_the_query_string_are_bounded(app, session, item, huge):
    client = _client(app, session, Role.EDITOR)
    assert client.get(f"/publicity/manage/{item.id}/diff?a=1&b=1").status_code == 200
    assert client.get(f"/publicity/manage/{item.id}/diff?a={huge}&b=1").status_code == 404
    assert client.get(f"/publicity/manage/{item.id}/diff?a=1&b={huge}").status_code == 404


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (None, "/publicity/news/", 404),  # a page past the end of a public list
        (None, "/search?q=家长学校", 200),
        (Role.EDITOR, "/publicity/manage/", 200),
        (Role.ADMIN, "/admin/users", 200),
        (Role.ADMIN, "/admin/outbox", 200),
        (Role.ADMIN, "/admin/audit", 200),
        (Role.VOLUNTEER, "/inbox", 200),
    ],
)
@pytest.mark.parametrize("huge", HUGE_IDS)
def test_a_huge_page_number_is_clamped(app, session, role, path, status, huge):
    client = _client(app, session, role)
    joiner = "&" if "?" in path else "?"
    assert client.get(f"{path}{joiner}page={huge}").status_code == status


# Dates outside 2000-2100 --------------------------------------------------------------------

ITEM = {
    "kind": "news",
    "slug": "date-check",
    "title": "讲座通知",
    "summary": "摘要",
    "body": "## 小标题\n\n正文",
    "policy_slug": "",
    "related": "",
    "publish_at": "",
    "expire_at": "",
}


def _field_errors(response, name: str) -> list[str]:
    html = response.get_data(as_text=True)
    return re.findall(rf'<p class="error" id="{name}-error">([^<]*)</p>', html)


def _input_value(response, name: str) -> str | None:
    html = response.get_data(as_text=True)
    tag = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>([^<]*)', html)
    if tag is None:
        return None
    if tag.group(0).startswith("<textarea"):
        return tag.group(1).removeprefix("\r\n")  # WTForms starts a textarea with a newline
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


@pytest.mark.parametrize("field", ["publish_at", "expire_at"])
@pytest.mark.parametrize("typed", ["0001-01-01T00:00", "1999-12-31T23:59", "9999-12-31T23:59"])
def test_a_date_outside_2000_to_2100_is_refused_on_its_field(app, session, field, typed):
    client = _client(app, session, Role.EDITOR)
    response = post(client, "/publicity/manage/new", {**ITEM, field: typed})
    assert response.status_code == 200
    assert _field_errors(response, field) == [DATE_RANGE]
    assert _input_value(response, field) == typed
    assert _input_value(response, "title") == "讲座通知"
    assert "## 小标题" in (_input_value(response, "body") or "")
    assert session.exec(select(Item).where(Item.slug == "date-check")).first() is None


def test_dates_at_the_edges_of_the_range_are_accepted(app, session, item):
    client = _client(app, session, Role.EDITOR)
    response = post(
        client,
        f"/publicity/manage/{item.id}/edit",
        {**ITEM, "publish_at": "2000-01-01T00:00", "expire_at": "2100-12-31T23:59"},
    )
    assert response.status_code == 303, page_text(response)
    session.refresh(item)
    assert (item.publish_at.year, item.expire_at.year) == (1999, 2100)  # stored in UTC


def test_date_in_range_guards_any_date_field(app):
    class EventForm(PortalForm):
        class Meta:
            csrf = False

        day = DateField(validators=[Optional(), DateInRange(2020, 2030)])

    with app.test_request_context():
        for typed, ok in [("2030-12-31", True), ("2019-12-31", False), ("", True)]:
            form = EventForm(MultiDict({"day": typed}))
            assert form.validate() is ok, typed
            if not ok:
                assert form.day.errors == ["日期须在 2020 年至 2030 年之间。"]
        assert EventForm(data={"day": date(2025, 1, 1)}).day.data == date(2025, 1, 1)


# Control characters -------------------------------------------------------------------------


@pytest.fixture()
def writer(app, session):
    return _client(app, session, Role.EDITOR)


def test_control_characters_are_removed_from_a_title_and_the_feed_stays_valid(app, session, writer):
    reviewer = _client(app, session, Role.REVIEWER)
    typed = {
        **ITEM,
        "title": "家长学校\x1b[31m开讲\x00",
        "summary": "隔代\x0c教育\u200b讲座\x85",
        "body": "## 小标题\r\n\r\n第一行\x1b\r\n\t缩进\x7f的第二行\u202e",
    }
    response = post(writer, "/publicity/manage/new", typed)
    assert response.status_code == 303, page_text(response)
    item = session.exec(select(Item).where(Item.slug == "date-check")).one()
    revision = session.exec(select(Revision).where(Revision.item_id == item.id)).one()
    assert revision.title == "家长学校[31m开讲"
    assert revision.summary == "隔代教育讲座"
    assert revision.body == "## 小标题\n\n第一行\n\t缩进的第二行"  # line breaks and tabs kept
    assert post(writer, f"/publicity/manage/{item.id}/submit").status_code == 303
    assert post(reviewer, f"/publicity/manage/{item.id}/publish").status_code == 303

    # A strict parser: one control character anywhere makes it raise.
    feed = ET.fromstring(app.test_client().get("/feed.atom").get_data())  # noqa: S314
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [entry.findtext(f"{atom}title") for entry in feed.iter(f"{atom}entry")]
    assert titles == ["家长学校[31m开讲"]


@pytest.mark.parametrize(
    ("changes", "field", "message", "shown"),
    [
        ({"title": "\u200b\u200b"}, "title", NO_VISIBLE_TEXT, ""),
        ({"title": "\u200c\u200d\ufeff"}, "title", NO_VISIBLE_TEXT, "\u200c\u200d"),
        ({"title": "\x00\x1b"}, "title", NO_VISIBLE_TEXT, ""),
        ({"title": "\u3164\u2800"}, "title", NO_VISIBLE_TEXT, "\u3164\u2800"),
        ({"title": "\u202e讲座通知"}, "title", BIDI_REFUSED, "讲座通知"),
        ({"title": "讲座\u2066通知\u2069"}, "title", BIDI_REFUSED, "讲座通知"),
        ({"summary": "\u200b \u2060"}, "summary", NO_VISIBLE_TEXT, " "),
        ({"issuer": "\u202e局政民县"}, "issuer", BIDI_REFUSED, "局政民县"),
    ],
)
def test_text_with_nothing_visible_or_a_bidi_override_is_refused(
    session, writer, changes, field, message, shown
):
    form = {**ITEM, **changes}
    response = post(writer, "/publicity/manage/new", form)
    assert response.status_code == 200
    assert _field_errors(response, field) == [message]
    assert _input_value(response, field) == shown  # shown again without the hidden characters
    assert "## 小标题" in (_input_value(response, "body") or "")
    assert session.exec(select(Item).where(Item.slug == "date-check")).first() is None


@pytest.fixture()
def admin(app, session):
    return _client(app, session, Role.ADMIN)


ACCOUNT = {"phone": "13900007777", "email": "", "role": "editor", "township_code": "", "office": ""}


@pytest.mark.parametrize(
    ("name", "message", "shown"),
    [
        ("\u202eadmin", BIDI_REFUSED, "admin"),
        ("\u202d王五\u202c", BIDI_REFUSED, "王五"),
        ("\u200b\u200b", NO_VISIBLE_TEXT, ""),
        ("\x00", NO_VISIBLE_TEXT, ""),
    ],
)
def test_an_account_name_with_hidden_characters_is_refused(admin, session, name, message, shown):
    response = post(admin, "/admin/users/new", {**ACCOUNT, "name": name})
    assert response.status_code == 200
    assert _field_errors(response, "name") == [message]
    assert _input_value(response, "name") == shown
    assert _input_value(response, "phone") == "13900007777"
    assert session.exec(select(User).where(User.phone == "13900007777")).first() is None


def test_an_account_name_is_stored_without_control_characters(admin, session):
    response = post(admin, "/admin/users/new", {**ACCOUNT, "name": "王\x00五\u200b\t"})
    assert response.status_code == 200 and "账号已创建" in page_text(response)
    user = session.exec(select(User).where(User.phone == "13900007777")).one()
    assert user.name == "王五"


def test_a_reviewers_comment_of_invisible_characters_is_refused(app, session, writer, item):
    reviewer = _client(app, session, Role.REVIEWER)
    assert post(writer, f"/publicity/manage/{item.id}/submit").status_code == 303
    response = post(
        reviewer, f"/publicity/manage/{item.id}/send-back", {"comment": "\u200b\u2060\x1b"}
    )
    assert response.status_code == 200
    assert _field_errors(response, "comment") == [NO_VISIBLE_TEXT]


def test_every_text_field_kind_is_cleaned_passwords_and_hidden_fields_are_not(app):
    class Sample(PortalForm):
        class Meta:
            csrf = False

        line = StringField()
        email = EmailField()
        search = SearchField()
        text = TextAreaField()
        password = PasswordField()
        hidden = HiddenField()

    typed = "a\x00b\tc\r\nd\u202ee\u200bf\ufffe"
    with app.test_request_context():
        form = Sample(MultiDict({name: typed for name in Sample()._fields}))
        assert form.line.data == form.email.data == form.search.data == "ab c def"
        assert form.text.data == "ab\tc\ndef"
        assert form.password.data == form.hidden.data == typed


def test_clean_text_keeps_ordinary_text_whole():
    text = "松阳县 𠮷 👨\u200d👩\u200d👧 café « » — ½ 你好！"
    assert clean_text(text) == text and clean_text(text, multiline=True) == text
    assert clean_text(None) is None and clean_text("") == ""


def test_every_form_in_the_portal_derives_from_the_portal_form():
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        if module.name.endswith(".forms") or module.name.endswith(".views"):
            importlib.import_module(module.name)
    forms = []
    pending = list(FlaskForm.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("portal."):
            forms.append(cls)
    assert len(forms) >= 8
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in forms]
    outside = [
        name for cls, name in zip(forms, outside, strict=True) if PortalForm not in cls.__mro__
    ]
    assert not outside, f"forms not derived from PortalForm: {outside}"


@pytest.mark.parametrize("module", ["portal.core.forms", "portal.core.converters"])
def test_the_kernel_modules_import_no_area(module):
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('portal.') and "
        "m.split('.')[1] in ('publicity', 'volunteers', 'parents_school', 'charity')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
