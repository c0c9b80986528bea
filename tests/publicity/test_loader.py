"""`flask content load`: the shipped content, idempotence, updates, and clear errors per file."""

import re
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from portal.extensions import db
from portal.publicity.loader import load_directory
from portal.publicity.models import Item, Revision
from portal.publicity.services import live_revision
from portal.timeutil import SHANGHAI

CONTENT = Path(__file__).resolve().parents[2] / "content"
GOOD = """---
slug: {slug}
kind: news
title: 测试新闻
summary: 摘要
published_at: 2026-11-20
---
## 正文

第一段。
"""


def _load(app, directory):
    lines = []
    with app.app_context():
        results = load_directory(db, directory, report=lambda r: lines.append(r))
    return {r.path.name: r for r in results}


def test_the_shipped_content_loads_with_the_county_policy(app, session):
    results = _load(app, CONTENT)
    assert all(r.outcome == "created" for r in results.values()), results
    policy = session.exec(select(Item).where(Item.slug == "songyang-2017-139")).one()
    revision = live_revision(session, policy)
    assert policy.live and policy.kind == "policy"
    assert revision.meta["doc_no"] == "松政办发〔2017〕139号"
    assert revision.meta["norm_no"] == "KSYD01-2017-0024"
    assert "一对一帮扶" in revision.body and len(revision.body) > 4000
    annex = session.exec(select(Item).where(Item.slug == "songyang-2017-139-annex-2")).one()
    assert live_revision(session, annex).body.count("\n## ") >= 26
    kinds = {i.kind for i in session.exec(select(Item))}
    assert {"policy", "interpretation", "law", "guide", "page", "notice"} <= kinds
    for slug in [
        "hotlines",
        "about",
        "law-minors-protection",
        "law-charity",
        "law-family-education",
        "law-volunteer-service-regulation",
        "law-anti-domestic-violence",
        "policy-guofa-2016-13",
    ]:
        assert session.exec(select(Item).where(Item.slug == slug)).first(), slug


def test_the_annex_can_be_browsed_by_unit(app, client):
    _load(app, CONTENT)
    html = client.get("/pages/songyang-2017-139-annex-2").get_data(as_text=True)
    assert html.count('<li><a href="#') >= 26
    assert "（二十六）慈善总会" in html


def test_loading_twice_changes_nothing(app, session):
    _load(app, CONTENT)
    again = _load(app, CONTENT)
    assert {r.outcome for r in again.values()} == {"unchanged"}
    assert session.exec(select(Revision)).all().__len__() == len(again)


def test_a_changed_file_publishes_a_new_revision(app, session, tmp_path):
    path = tmp_path / "a.md"
    path.write_text(GOOD.format(slug="n-file"), encoding="utf-8")
    assert _load(app, tmp_path)["a.md"].outcome == "created"
    path.write_text(
        GOOD.format(slug="n-file").replace("第一段。", "第一段（更新）。"), encoding="utf-8"
    )
    assert _load(app, tmp_path)["a.md"].outcome == "updated"
    item = session.exec(select(Item).where(Item.slug == "n-file")).one()
    assert "更新" in live_revision(session, item).body
    assert len(session.exec(select(Revision).where(Revision.item_id == item.id)).all()) == 2


def test_an_item_edited_in_the_portal_is_not_overwritten(app, session, tmp_path, editor):
    from portal.publicity import services

    path = tmp_path / "a.md"
    path.write_text(GOOD.format(slug="n-kept"), encoding="utf-8")
    _load(app, tmp_path)
    item = session.exec(select(Item).where(Item.slug == "n-kept")).one()
    with app.app_context():
        services.save_draft(
            session, item=item, editor=editor, draft=services.Draft(title="编辑改过")
        )
        session.commit()
    path.write_text(GOOD.format(slug="n-kept").replace("测试新闻", "文件改过"), encoding="utf-8")
    assert _load(app, tmp_path)["a.md"].outcome == "kept"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("no front matter\n", 1, "must start with a line '---'"),
        ("---\nslug: x\n", 1, "not closed"),
        ("---\nslug: bad-yaml\ntitle: [unclosed\n---\nbody\n", 3, "not valid YAML"),
        (
            "---\nslug: n-missing\nkind: news\ntitle: t\npublished_at: 2026-01-01\n---\nb\n",
            6,
            "'summary' is missing",
        ),
        (
            "---\nslug: n-typo\nkind: news\ntitle: t\nsummary: s\npublished_at: 2026-01-01\nauthr: me\n---\nb\n",
            7,
            "unknown key 'authr'",
        ),
        (
            "---\nslug: n-kind\nkind: blog\ntitle: t\nsummary: s\npublished_at: 2026-01-01\n---\nb\n",
            3,
            "kind must be one of",
        ),
        (
            "---\nslug: n-date\nkind: news\ntitle: t\nsummary: s\npublished_at: soon\n---\nb\n",
            6,
            "must be a date",
        ),
        (
            "---\nslug: n-undated\nkind: policy\ntitle: t\nsummary: s\nissuer: 国务院\n---\nb\n",
            7,
            "the document's date is missing: give published_at (发布日期) or written (成文日期)",
        ),
        (
            "---\nslug: n-written\nkind: policy\ntitle: t\nsummary: s\nwritten: 二〇一六年\n---\nb\n",
            6,
            "written must be a date",
        ),
        (
            "---\nslug: n-html\nkind: news\ntitle: t\nsummary: s\npublished_at: 2026-01-01\n---\n<script>x</script>\n",
            8,
            "raw HTML",
        ),
        (
            "---\nslug: Bad Slug\nkind: news\ntitle: t\nsummary: s\npublished_at: 2026-01-01\n---\nb\n",
            2,
            "may use a-z",
        ),
        (
            "---\nslug: n-interp\nkind: interpretation\ntitle: t\nsummary: s\npublished_at: 2026-01-01\n---\nb\n",
            7,
            "needs 'policy",
        ),
    ],
)
def test_a_bad_file_is_named_with_its_line_and_the_others_still_load(
    app, session, tmp_path, text, line, message
):
    (tmp_path / "bad.md").write_text(text, encoding="utf-8")
    (tmp_path / "good.md").write_text(GOOD.format(slug="n-good"), encoding="utf-8")
    results = _load(app, tmp_path)
    bad = results["bad.md"]
    assert bad.outcome == "error"
    assert f"bad.md:{line}:" in bad.message and message in bad.message
    assert results["good.md"].outcome == "created"


def test_the_cli_reports_each_file_and_fails_on_errors(app, tmp_path):
    (tmp_path / "good.md").write_text(GOOD.format(slug="n-cli"), encoding="utf-8")
    (tmp_path / "bad.md").write_text("oops\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["content", "load", str(tmp_path)])
    assert result.exit_code == 1
    assert "created" in result.output and "good.md" in result.output
    assert "bad.md:1:" in result.output


POLICY = """---
slug: {slug}
kind: policy
title: {title}
summary: 摘要
issuer: {issuer}
{dates}
---
正文
"""


def _policy(directory, slug, title, issuer, dates):
    (directory / f"{slug}.md").write_text(
        POLICY.format(slug=slug, title=title, issuer=issuer, dates=dates), encoding="utf-8"
    )


def test_a_document_is_dated_by_its_own_date_never_the_day_it_is_loaded(
    app, session, client, tmp_path, time_machine
):
    from datetime import datetime

    from portal.timeutil import SHANGHAI

    time_machine.move_to(datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI), tick=False)
    _policy(tmp_path, "p-guofa", "国务院的意见", "国务院", "written: 2016-02-04")
    _policy(tmp_path, "p-county", "县里的实施意见", "县政府办公室", "published_at: 2017-09-01")
    _policy(
        tmp_path,
        "p-both",
        "发布晚于成文",
        "市政府办公室",
        "written: 2016-11-20\npublished_at: 2016-12-02",
    )
    _policy(tmp_path, "p-timed", "定时发布", "县政府办公室", "publish_at: 2016-06-01")
    assert {r.outcome for r in _load(app, tmp_path).values()} == {"created"}
    dated = {
        item.slug: item.published_at.astimezone(SHANGHAI).date().isoformat()
        for item in session.exec(select(Item))
    }
    # 成文日期 when nothing else is given; 发布日期 when it is; publish-at as a last resort.
    assert dated == {
        "p-guofa": "2016-02-04",
        "p-county": "2017-09-01",
        "p-both": "2016-12-02",
        "p-timed": "2016-06-01",
    }
    guofa = session.exec(select(Item).where(Item.slug == "p-guofa")).one()
    assert guofa.published_at.astimezone(SHANGHAI).isoformat() == "2016-02-04T09:00:00+08:00"
    assert live_revision(session, guofa).meta["written"] == "2016-02-04"
    # Newest first: the county's 2017 policy above the 2016 ones, in lists and feeds.
    text = client.get("/publicity/policies/").get_data(as_text=True)
    order = [
        text.index(title)
        for title in ("县里的实施意见", "发布晚于成文", "定时发布", "国务院的意见")
    ]
    assert order == sorted(order)
    shown = re.findall(r'<time datetime="([^"]*)">', text)
    assert shown == [
        "2017-09-01T01:00:00+00:00",
        "2016-12-02T01:00:00+00:00",
        "2016-06-01T01:00:00+00:00",
        "2016-02-04T01:00:00+00:00",
    ]
    import feedparser

    feed = feedparser.parse(client.get("/publicity/policies/feed.atom").get_data())
    assert [e.title for e in feed.entries][:2] == ["县里的实施意见", "发布晚于成文"]
    assert feed.entries[-1].published.startswith("2016-02-04")


def test_the_shipped_higher_level_policies_are_dated_in_2016(app, session, client):
    from portal.timeutil import SHANGHAI

    _load(app, CONTENT)
    dates = {
        item.slug: item.published_at.astimezone(SHANGHAI).date()
        for item in session.exec(select(Item).where(Item.kind.in_(["policy", "law"])))
    }
    for slug in (
        "policy-guofa-2016-13",
        "policy-zhezhengbanfa-2016-50",
        "policy-lizhengbanfa-2016-149",
    ):
        assert dates[slug].year == 2016, slug
    assert str(dates["policy-guofa-2016-13"]) == "2016-02-04"
    assert str(dates["songyang-2017-139"]) == "2017-09-01"
    # Every law is dated by when it was made, never by when the portal loaded it.
    assert all(day.year < 2026 for day in dates.values()), dates
    listing = client.get("/publicity/policies/").get_data(as_text=True)
    county = listing.index("松阳县人民政府办公室关于加强留守儿童关爱保护工作的实施意见")
    assert county < listing.index("国务院关于加强农村留守儿童关爱保护工作的意见")
    assert county < listing.index("浙江省人民政府办公厅关于加强农村留守儿童关爱保护工作的实施意见")
    assert county < listing.index("丽水市人民政府办公室关于加强留守儿童关爱保护工作的实施意见")


def test_a_document_known_only_by_its_year_shows_the_year_alone(app, session, tmp_path, client):
    (tmp_path / "p.md").write_text(
        "---\nslug: p-year-only\nkind: policy\ntitle: 只知道年份的文件\nsummary: 摘要\n"
        "published_at: 2016-03-01\ndate_precision: year\n---\n正文\n",
        encoding="utf-8",
    )
    with app.app_context():
        [result] = load_directory(db, tmp_path, report=lambda r: None)
    assert result.outcome == "created"
    item = session.exec(select(Item).where(Item.slug == "p-year-only")).one()
    assert item.date_precision == "year"
    assert item.published_at.astimezone(SHANGHAI).date() == date(2016, 12, 31)
    page = client.get("/publicity/policies/p-year-only").get_data(as_text=True)
    assert "2016年</time>" in page and "2016年12月31日" not in page
    listing = client.get("/publicity/policies/").get_data(as_text=True)
    assert "2016年12月31日" not in listing


def test_a_wrong_date_precision_is_refused_with_its_line(tmp_path):
    from portal.publicity.loader import ContentFileError, parse

    path = tmp_path / "p.md"
    path.write_text(
        "---\nslug: p-bad\nkind: policy\ntitle: t\nsummary: s\npublished_at: 2016-03-01\n"
        "date_precision: month\n---\nx\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentFileError, match="date_precision must be day or year"):
        parse(path)
