"""Public pages, feeds, sitemap, XSS, and the writers' and reviewers' screens."""

import re
from html.parser import HTMLParser

import feedparser
import pytest
from sqlmodel import select

from portal.auth.models import Role
from portal.publicity.models import Item, ItemStatus, Revision
from tests.conftest import login, make_user, page_text, post

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Tags(HTMLParser):
    """The start tags a browser would build from a page, with their attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _live_markup(html: str) -> list[str]:
    """Script, event handlers and javascript: links that would run: escaped text is fine."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    found = []
    for tag, attrs in parser.tags:
        if tag == "script" and not attrs.get("src", "").startswith("/static/"):
            found.append(f"<script {attrs}>")
        if tag == "img" and attrs.get("src") == "x":
            found.append(f"<img {attrs}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"<{tag} {name}={value}>")
            if (value or "").strip().lower().startswith("javascript:"):
                found.append(f"<{tag} {name}={value}>")
    return found


def test_home_lists_the_latest_news_and_notices(client, publish):
    publish(kind="news", slug="n-1", title="古市镇开展暑期防溺水宣传")
    publish(kind="notice", slug="t-1", title="关于家长学校秋季讲座安排的通知")
    text = page_text(client.get("/"))
    assert "古市镇开展暑期防溺水宣传" in text and "关于家长学校秋季讲座安排的通知" in text
    assert "留守儿童关爱保护工作专题" in text


def test_column_pages_paginate_and_show_an_empty_state(app, client, publish):
    assert "暂无内容" in page_text(client.get("/publicity/cases/"))
    size = app.config["PORTAL_PAGE_SIZE"]  # every list reads its page size from the settings
    for i in range(size + 2):
        publish(kind="news", slug=f"news-{i:02d}", title=f"动态第{i}条")
    first = page_text(client.get("/publicity/news/"))
    assert "第 1 页，共 2 页" in first
    assert f"动态第{size + 1}条" in first  # newest first
    assert "动态第0条" in page_text(client.get("/publicity/news/?page=2"))
    assert client.get("/publicity/news/?page=9").status_code == 404
    assert client.get("/publicity/no-such-column/").status_code == 404
    assert client.get("/publicity/pages/").status_code == 404


def test_policy_detail_shows_metadata_breadcrumbs_and_interpretations(client, publish):
    publish(
        kind="policy",
        slug="p-139",
        title="实施意见",
        body="## 一、总则\n\n正文",
        meta={
            "doc_no": "松政办发〔2017〕139号",
            "index_no": "1133252877070942X5/2017-06672",
            "validity": "有效",
        },
    )
    publish(
        kind="interpretation", slug="p-139-explained", title="图解实施意见", policy_slug="p-139"
    )
    response = client.get("/publicity/policies/p-139")
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "文号 松政办发〔2017〕139号" in text and "索引号 1133252877070942X5/2017-06672" in text
    assert "首页 › 政策宣传 › 政策文件 › 实施意见" in text
    assert 'href="/publicity/interpretations/p-139-explained"' in html
    interpretation = page_text(client.get("/publicity/interpretations/p-139-explained"))
    assert "解读： 实施意见" in interpretation


def test_detail_only_under_its_own_column(client, publish):
    publish(kind="news", slug="n-col", title="新闻")
    assert client.get("/publicity/news/n-col").status_code == 200
    assert client.get("/publicity/laws/n-col").status_code == 404


def test_pages_have_a_table_of_contents(client, publish):
    publish(
        kind="page",
        slug="annex",
        title="附件2",
        body="\n\n".join(f"## （{n}）单位{n}\n\n职责{n}" for n in "一二三"),
    )
    html = client.get("/pages/annex").get_data(as_text=True)
    assert '<nav class="toc"' in html and 'href="#一-单位一"' in html


def test_unpublished_and_retracted_items_are_not_public(
    app, client, session, publish, editor, reviewer
):
    from portal.publicity import services

    with app.app_context():
        draft = services.create_item(
            session, author=editor, kind="news", slug="n-draft", draft=services.Draft(title="草稿")
        )
        session.commit()
    assert client.get("/publicity/news/n-draft").status_code == 404
    item = publish(kind="news", slug="n-gone", title="将撤下")
    with app.app_context():
        services.retract(session, item=item, reviewer=reviewer)
        session.commit()
    assert client.get("/publicity/news/n-gone").status_code == 404
    session.refresh(draft)
    assert draft.status == ItemStatus.DRAFT and not draft.live


def test_xss_in_markdown_and_titles_is_escaped(client, publish, session):
    publish(
        kind="news",
        slug="n-xss",
        title=XSS,
        summary=XSS,
        body=f"{XSS}\n\n[click](javascript:alert(1))\n\n<a href=x onclick=alert(1)>a</a>",
    )
    for path, headers in [
        ("/publicity/news/n-xss", {}),
        ("/", {}),
        ("/publicity/news/", {}),
        ("/search?q=alert", {}),
        ("/search?q=alert", {"HX-Request": "true"}),
        ("/feed.atom", {}),
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "javascript:alert" not in html and 'onclick="alert' not in html, path
        assert _live_markup(html) == [], path


def test_atom_feeds_parse(client, publish):
    publish(kind="news", slug="n-feed", title="家长学校开讲", summary="隔代教育讲座")
    publish(kind="notice", slug="t-feed", title="报名通知")
    site = feedparser.parse(client.get("/feed.atom").get_data())
    assert not site.bozo, site.bozo_exception
    assert {e.title for e in site.entries} == {"家长学校开讲", "报名通知"}
    entry = next(e for e in site.entries if e.title == "家长学校开讲")
    assert entry.link.endswith("/publicity/news/n-feed") and entry.summary == "隔代教育讲座"
    news = feedparser.parse(client.get("/publicity/news/feed.atom").get_data())
    assert not news.bozo and [e.title for e in news.entries] == ["家长学校开讲"]
    assert client.get("/feed.atom").headers["Content-Type"].startswith("application/atom+xml")


def test_sitemap_and_robots(client, publish):
    publish(kind="guide", slug="g-1", title="办事指南")
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert "<loc>http://localhost/publicity/guides/g-1</loc>" in sitemap
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert (
        "Disallow: /publicity/manage/" in robots
        and "Sitemap: http://localhost/sitemap.xml" in robots
    )


def test_page_titles_and_descriptions(client, publish):
    publish(kind="news", slug="n-meta", title="标题甲", summary="摘要乙")
    html = client.get("/publicity/news/n-meta").get_data(as_text=True)
    assert "<title>标题甲 · 松阳县留守儿童关爱保护服务平台</title>" in html
    assert '<meta name="description" content="摘要乙">' in html


# The editors' and reviewers' screens ----------------------------------------------------------


def deliver_inbox(app):
    """What the scheduler's delivery job does every 10 seconds."""
    from portal.extensions import db
    from portal.notify.channels import InAppChannel
    from portal.notify.services import deliver_due

    with app.app_context():
        deliver_due(db, senders={"inapp": InAppChannel()}, owner="test")


@pytest.fixture()
def writer_client(app, session, editor):
    c = app.test_client()
    login(c, editor)
    return c


@pytest.fixture()
def reviewer_client(app, session, reviewer):
    c = app.test_client()
    login(c, reviewer)
    return c


NEW = {
    "kind": "news",
    "slug": "n-ui",
    "title": "界面新建的新闻",
    "summary": "摘要",
    "body": "## 小标题\n\n正文",
    "policy_slug": "",
    "related": "",
    "publish_at": "",
    "expire_at": "",
}


def test_an_editor_and_a_reviewer_run_the_column(writer_client, reviewer_client, client, session):
    response = post(writer_client, "/publicity/manage/new", NEW)
    assert response.status_code == 303
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    item_url = f"/publicity/manage/{item.id}"
    assert "草稿已保存" in page_text(writer_client.get(response.headers["Location"]))
    post(writer_client, f"{item_url}/submit")
    assert "界面新建的新闻" in page_text(reviewer_client.get("/publicity/review"))
    # The editor has no publish button and the route refuses them.
    assert f'action="{item_url}/publish"' not in writer_client.get(item_url).get_data(as_text=True)
    assert post(writer_client, f"{item_url}/publish").status_code == 403
    post(reviewer_client, f"{item_url}/send-back", {"comment": "请补充活动时间"})
    assert "请补充活动时间" in page_text(writer_client.get(item_url))
    deliver_inbox(writer_client.application)
    assert "审核员退回了您撰写的" in page_text(writer_client.get("/inbox"))
    post(writer_client, f"{item_url}/edit", {**NEW, "body": "## 小标题\n\n正文，时间：周六上午"})
    post(writer_client, f"{item_url}/submit")
    assert "已发布" in page_text(
        reviewer_client.get(post(reviewer_client, f"{item_url}/publish").headers["Location"])
    )
    assert "周六上午" in page_text(client.get("/publicity/news/n-ui"))


def test_the_diff_page_marks_added_and_removed_lines(writer_client, session):
    post(writer_client, "/publicity/manage/new", {**NEW, "body": "第一行\n第二行"})
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    post(writer_client, f"/publicity/manage/{item.id}/edit", {**NEW, "body": "第一行\n第三行"})
    html = writer_client.get(f"/publicity/manage/{item.id}/diff?a=1&b=2").get_data(as_text=True)
    assert re.search(r"<del>.*第二行</del>", html) and re.search(r"<ins>.*第三行</ins>", html)
    assert writer_client.get(f"/publicity/manage/{item.id}/diff?a=1&b=9").status_code == 404


def test_restore_from_the_item_page(writer_client, session):
    post(writer_client, "/publicity/manage/new", {**NEW, "title": "第一版"})
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    post(writer_client, f"/publicity/manage/{item.id}/edit", {**NEW, "title": "第二版"})
    first = session.exec(
        select(Revision).where(Revision.item_id == item.id, Revision.number == 1)
    ).one()
    response = post(writer_client, f"/publicity/manage/{item.id}/restore/{first.id}")
    assert "旧版本已恢复为草稿" in page_text(writer_client.get(response.headers["Location"]))
    session.expire_all()
    latest = session.exec(
        select(Revision).where(Revision.item_id == item.id).order_by(Revision.number.desc())
    ).first()
    assert latest.number == 3 and latest.title == "第一版"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": ""}, "请填写标题"),
        ({"slug": ""}, "请填写网址名"),
        ({"slug": "Bad Slug!"}, "网址名只能用"),
        ({"kind": "nonsense"}, "不是有效的选择"),
        ({"title": "𠮷" * 201}, "最多 200 个字"),
        ({"publish_at": "not a date"}, "不是有效的日期与时间值"),
        ({"kind": "interpretation", "policy_slug": "missing"}, "没有这个网址名的政策文件"),
        (
            {"publish_at": "2026-12-02T09:00", "expire_at": "2026-12-01T09:00"},
            "下线时间必须晚于发布时间",
        ),
    ],
)
def test_bad_item_input_is_explained_and_kept(writer_client, changes, message):
    response = post(writer_client, "/publicity/manage/new", {**NEW, **changes})
    assert response.status_code == 200
    text = page_text(response)
    assert message in text
    assert "## 小标题" in response.get_data(as_text=True)  # what was typed is kept


def test_duplicate_address_is_refused(writer_client):
    post(writer_client, "/publicity/manage/new", NEW)
    assert "已有其他内容使用了这个网址名" in page_text(
        post(writer_client, "/publicity/manage/new", NEW)
    )


def test_expired_items_leave_public_pages_but_editors_still_see_them(
    app, client, session, publish, editor, time_machine
):
    from datetime import UTC, datetime, timedelta

    from portal.publicity import services

    now = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    item = publish(
        kind="notice", slug="t-exp", title="过期通知", expire_at=now + timedelta(hours=1)
    )
    time_machine.move_to(now + timedelta(hours=2), tick=False)
    with app.app_context():
        services.refresh_timed(session)
        session.commit()
    assert client.get("/publicity/notices/t-exp").status_code == 404
    writer_client = app.test_client()
    login(writer_client, editor)
    dashboard = page_text(writer_client.get(f"/publicity/manage/{item.id}"))
    assert "过期通知" in dashboard and "已到期" in dashboard
    assert writer_client.get(f"/publicity/manage/{item.id}/preview/1").status_code == 200


def test_manage_list_filters(writer_client, publish):
    publish(kind="news", slug="n-a", title="已发布的")
    post(writer_client, "/publicity/manage/new", {**NEW, "title": "还是草稿"})
    drafts = page_text(writer_client.get("/publicity/manage/?status=draft"))
    assert "还是草稿" in drafts and "已发布的" not in drafts
    assert "已发布的" in page_text(writer_client.get("/publicity/manage/?status=published"))


def test_other_roles_cannot_reach_the_editor_screens(app, session):
    c = app.test_client()
    login(c, make_user(session, role=Role.COUNTY_STAFF))
    assert c.get("/publicity/manage/").status_code == 403
    assert post(c, "/publicity/manage/new", NEW).status_code == 403
    assert session.exec(select(Item)).first() is None


def test_item_statuses_are_shown(writer_client, session):
    post(writer_client, "/publicity/manage/new", NEW)
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    assert item.status == ItemStatus.DRAFT
    assert "草稿" in page_text(writer_client.get(f"/publicity/manage/{item.id}"))


def test_a_refused_send_back_keeps_the_reviewers_comment(writer_client, reviewer_client, session):
    post(writer_client, "/publicity/manage/new", NEW)
    item = session.exec(select(Item).where(Item.slug == "n-ui")).one()
    item_url = f"/publicity/manage/{item.id}"
    post(writer_client, f"{item_url}/submit")
    long_comment = "请补充活动时间。" * 130  # over the 1,000 characters a comment may have
    response = post(reviewer_client, f"{item_url}/send-back", {"comment": long_comment})
    assert response.status_code == 200  # the item's page again, not a redirect
    html = response.get_data(as_text=True)
    assert "最多 1000 个字" in page_text(response)
    assert long_comment in html  # what the reviewer typed is still in the box
    session.expire_all()
    assert session.get(Revision, item.working_revision_id).status == "pending"


@pytest.mark.parametrize("path", ["/publicity/manage/new", "/publicity/manage/new?kind=policy"])
def test_the_new_item_form_shows_each_field_once(writer_client, path):
    html = writer_client.get(path).get_data(as_text=True)
    for name in ("doc_no", "issuer", "written", "index_no", "title", "policy_slug"):
        assert html.count(f'name="{name}"') == 1, name


def test_a_refused_new_policy_shows_each_field_and_error_once(writer_client):
    response = post(
        writer_client,
        "/publicity/manage/new",
        {**NEW, "kind": "policy", "slug": "p-new", "doc_no": "x" * 121},
    )
    html = response.get_data(as_text=True)
    assert html.count('name="doc_no"') == 1
    assert html.count('id="doc_no-error"') == 1
