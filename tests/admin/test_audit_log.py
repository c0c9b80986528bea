"""The audit log page is for people: words, names, links, filters, pages and clear refusals."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal import audit
from portal.audit import AuditEntry
from portal.auth.models import Role
from tests.conftest import login, make_user, page_text

ROOT = Path(__file__).resolve().parents[2]


def _codes_in_the_code() -> set[str]:
    """Every action code the portal can write, read from the source."""
    codes: set[str] = set()
    for path in (ROOT / "portal").rglob("*.py"):
        if path.name == "audit.py" and path.parent.name == "portal":
            continue
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"(?:action=|record_request\()\s*([^,\n]+(?:\n[^,\n]*)?)", text):
            expression = call.group(1)
            for code in re.findall(r'f?"([a-z_.{}]+)"', expression):
                if "{outcome}" in code:  # the content loader: content.loaded.created/updated
                    codes |= {code.replace("{outcome}", o) for o in ("created", "updated")}
                elif "{" not in code:
                    codes.add(code)
    codes.add("access.denied")  # written by record_denial()
    return codes


def test_every_action_code_in_the_code_has_a_label(app):
    """Areas register their labels when they load (the app fixture loads every area)."""
    codes = _codes_in_the_code()
    assert {"login.failed", "content.published", "user.disabled", "outbox.retried"} <= codes
    assert sorted(codes - set(audit.ACTION_LABELS)) == []


def test_every_target_page_exists(app):
    endpoints = {rule.endpoint: rule.arguments for rule in app.url_map.iter_rules()}
    for target in audit.TARGET_TYPES.values():
        if target.endpoint:
            assert target.argument in endpoints[target.endpoint], target.endpoint


def _entry(session, action, *, at, actor=None, **fields):
    entry = AuditEntry(action=action, at=at, actor_id=actor.id if actor else None, **fields)
    session.add(entry)
    session.commit()
    return entry


@pytest.fixture()
def admin_client(app, session):
    admin = make_user(session, role=Role.ADMIN, name="管理员甲")
    c = app.test_client()
    login(c, admin)
    return c, admin


def test_entries_read_in_words_with_names_links_and_addresses(admin_client, session):
    c, admin = admin_client
    editor = make_user(session, role=Role.EDITOR, name="编辑叶小红")
    at = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    _entry(
        session,
        "user.disabled",
        at=at,
        actor=admin,
        target_type="user",
        target_id=str(editor.id),
        ip="203.0.113.9",
    )
    _entry(
        session,
        "content.published",
        at=at,
        actor=editor,
        target_type="item",
        target_id="42",
        ip="198.51.100.4",
        detail={"revision": 3},
    )
    _entry(session, "login.failed", at=at, ip="192.0.2.1", detail={"login": "139****5678"})
    _entry(session, "content.went_live", at=at, target_type="item", target_id="42")
    _entry(
        session,
        "access.denied",
        at=at,
        actor=editor,
        ip="192.0.2.2",
        detail={"reason": "role", "endpoint": "admin.users"},
    )
    html = c.get("/admin/audit").get_data(as_text=True)
    text = page_text(c.get("/admin/audit"))
    assert "停用账号" in text and "发布内容" in text and "登录失败" in text
    assert "user.disabled" not in text.replace('title="user.disabled"', "")
    assert f'<a href="/admin/users/{editor.id}">账号 编辑叶小红</a>' in html
    assert f'<a href="/admin/users/{editor.id}">编辑叶小红</a>' in html  # the actor, by name
    assert '<a href="/publicity/manage/42">内容条目 #42</a>' in html
    assert "第 3 版" in text and "输入的账号：139****5678" in text
    assert "未登录的访客" in text and "本平台（定时任务或命令）" in text
    assert "该账号的角色无权打开此页面" in text
    for ip in ("203.0.113.9", "198.51.100.4", "192.0.2.1", "192.0.2.2"):
        assert ip in text
    assert "2026年11月29日（星期日） 10:00" in text  # China time


@pytest.fixture()
def log(session):
    """Entries by people of two townships on either side of midnight, China time."""
    gushi = make_user(session, role=Role.TOWNSHIP_STAFF, name="古市周敏", township_code="331124101")
    xiping = make_user(
        session, role=Role.TOWNSHIP_STAFF, name="西屏吴刚", township_code="331124001"
    )
    late = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 28 Nov 23:30 in China
    early = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)  # 29 Nov 00:30 in China
    _entry(session, "login", at=late, actor=gushi, ip="10.0.0.1")
    _entry(session, "logout", at=early, actor=gushi, ip="10.0.0.2")
    _entry(session, "login", at=early, actor=xiping, ip="10.0.0.3")
    return gushi, xiping


def _addresses(c, **args) -> set[str]:
    text = page_text(c.get("/admin/audit", query_string=args))
    return set(re.findall(r"10\.0\.0\.\d", text))


def test_filters_by_action_actor_township_and_china_dates(admin_client, log):
    c, _admin = admin_client
    assert _addresses(c) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert _addresses(c, action="login") == {"10.0.0.1", "10.0.0.3"}
    assert _addresses(c, actor="周敏") == {"10.0.0.1", "10.0.0.2"}
    assert _addresses(c, actor=log[1].phone) == {"10.0.0.3"}
    assert _addresses(c, township="331124001") == {"10.0.0.3"}
    assert _addresses(c, since="2026-11-29") == {"10.0.0.2", "10.0.0.3"}
    assert _addresses(c, until="2026-11-28") == {"10.0.0.1"}
    assert _addresses(c, since="2026-11-28", until="2026-11-28", township="331124101") == {
        "10.0.0.1"
    }
    assert _addresses(c, actor="100%_") == set()  # wildcards are matched as typed
    assert _addresses(c, actor="周\u200b敏") == {"10.0.0.1", "10.0.0.2"}  # invisible: dropped
    assert "没有符合条件的记录" in page_text(c.get("/admin/audit?actor=nobody"))


def test_the_filter_form_offers_actions_in_words_and_the_townships(admin_client):
    c, _admin = admin_client
    html = c.get("/admin/audit", query_string={"action": "logout"}).get_data(as_text=True)
    assert '<option selected value="logout">退出登录</option>' in html
    assert '<option value="331124212">板桥畲族乡</option>' in html
    assert 'type="date"' in html and 'hx-target="#results"' in html


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"since": "29/11/2026"}, "since", "请按“年-月-日”填写日期，例如 2026-11-29。"),
        ({"until": "2026-02-30"}, "until", "请按“年-月-日”填写日期，例如 2026-11-29。"),
        ({"since": "20261129"}, "since", "请按“年-月-日”填写日期，例如 2026-11-29。"),
        ({"since": "0001-01-01"}, "since", "请填写2000年至2099年之间的日期。"),
        ({"until": "9999-12-31"}, "until", "请填写2000年至2099年之间的日期。"),
        ({"since": "2026-11-29", "until": "2026-11-01"}, "until", "结束日期早于开始日期。"),
        ({"action": "login.forged"}, "action", "请从列表中选择操作类型。"),
        ({"township": "331124999"}, "township", "请从列表中选择乡镇（街道）。"),
        ({"actor": "张" * 41}, "actor", "姓名或账号最多40个字符。"),
    ],
)
def test_bad_filters_are_refused_clearly_in_chinese(admin_client, log, args, field, message):
    c, _admin = admin_client
    response = c.get("/admin/audit", query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<p class="error" id="{field}-error">{message}</p>' in html
    assert 'aria-invalid="true"' in html
    assert "10.0.0." not in page_text(response)  # nothing half-filtered is shown
    # What was typed stays in the field.
    typed = next(iter(args.values()))
    assert typed in html
    # The htmx request of the filter form gets the refusal inside the block it swaps in.
    partial = c.get("/admin/audit", query_string=args, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    fragment = partial.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="results"') and message in fragment


def test_pages_keep_the_filters(app, admin_client, session, log):
    c, _admin = admin_client
    size = app.config["PORTAL_PAGE_SIZE"]
    gushi = log[0]
    for i in range(size + 1):
        _entry(
            session,
            "login",
            at=datetime(2026, 11, 30, 1, i % 60, tzinfo=UTC),
            actor=gushi,
            ip=f"10.1.{i // 250}.{i % 250}",
        )
    html = c.get("/admin/audit", query_string={"action": "login", "actor": "周敏"}).get_data(
        as_text=True
    )
    assert f"共 {size + 2} 条记录" in page_text(c.get("/admin/audit?action=login&actor=周敏"))
    next_link = re.search(r'<a rel="next" href="([^"]+)"', html).group(1)
    assert "action=login" in next_link and "page=2" in next_link
    second = page_text(c.get(next_link.replace("&amp;", "&")))
    # Page 2 holds the oldest matches of the filter only: two logins of 古市周敏.
    assert "10.0.0.1" in second and "10.0.0.3" not in second
    assert "第 2 页" in second


def test_only_admins_read_the_log(app, session):
    c = app.test_client()
    login(c, make_user(session, role=Role.COUNTY_STAFF))
    assert c.get("/admin/audit").status_code == 403
