"""Markdown is escaped once, its contents come out plain, and both are stored with the revision."""

import re

import pytest

from portal.publicity import markdown, services
from portal.publicity.markdown import render
from tests.conftest import login


def _toc_links(html: str) -> list[str]:
    """The link texts of the page's table of contents, as they are in the HTML."""
    toc = re.search(r'<nav class="toc".*?</nav>', html, flags=re.S)
    assert toc, "no table of contents"
    return re.findall(r'<li><a href="#[^"]*">(.*?)</a></li>', toc.group(0))


def test_code_shows_typed_markup_escaped_exactly_once():
    html = render("用 `<b>` 加粗，`a && b`。\n\n    <i>缩进代码</i> & x\n").html
    assert "<code>&lt;b&gt;</code>" in html
    assert "<code>a &amp;&amp; b</code>" in html
    assert "&lt;i&gt;缩进代码&lt;/i&gt; &amp; x" in html
    assert "&amp;lt;" not in html and "&amp;amp;" not in html


def test_raw_html_is_text_never_markup():
    html = render('<script>alert(1)</script>\n\n<div onclick="x()">块</div>\n\n1 < 2 & 3 > 2').html
    assert "<script" not in html and "<div" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "1 &lt; 2 &amp; 3 &gt; 2" in html


def test_the_contents_are_plain_text_of_the_level_two_headings():
    rendered = render("## 家长 & 学校\n\n### 小节\n\n## **加粗** `<b>`\n\n## 同名\n\n## 同名\n")
    assert rendered.toc == [
        ("家长-学校", "家长 & 学校"),
        ("加粗-b", "加粗 <b>"),
        ("同名", "同名"),
        ("同名_1", "同名"),
    ]
    # Each entry links to a heading that is in the HTML with that id.
    for anchor, _text in rendered.toc:
        assert f'<h2 id="{anchor}">' in rendered.html


def test_the_page_shows_code_and_contents_escaped_once(client, publish):
    publish(
        kind="guide",
        slug="g-escape",
        title="家长学校指南",
        body="## 家长 & 学校\n\n在 `<b>` 中加粗。\n\n## 报名 <须知>\n\n正文\n\n## 联系\n\n电话",
    )
    html = client.get("/publicity/guides/g-escape").get_data(as_text=True)
    assert "<code>&lt;b&gt;</code>" in html and "&amp;lt;" not in html
    assert _toc_links(html) == ["家长 &amp; 学校", "报名 &lt;须知&gt;", "联系"]
    assert "&amp;amp;" not in html


def test_markdown_is_rendered_when_saved_never_when_a_page_is_shown(
    app, session, publish, editor, monkeypatch
):
    item = publish(kind="policy", slug="p-once", title="政策", body="## 一\n\n## 二\n\n## 三\n")
    revision = services.live_revision(session, item)
    assert revision.toc == [["一", "一"], ["二", "二"], ["三", "三"]]
    assert '<h2 id="二">二</h2>' in revision.body_html

    def refuse(*_args, **_kwargs):
        raise AssertionError("Markdown rendered for a page view")

    monkeypatch.setattr(markdown, "render", refuse)
    monkeypatch.setattr(services, "render", refuse)
    monkeypatch.setattr(markdown.nh3, "clean", refuse)
    writer = app.test_client()
    login(writer, editor)  # logged in: the page cache is bypassed, the view runs
    for client in (writer, app.test_client()):
        html = client.get("/publicity/policies/p-once").get_data(as_text=True)
        assert _toc_links(html) == ["一", "二", "三"]
    preview = writer.get(f"/publicity/manage/{item.id}/preview/1").get_data(as_text=True)
    assert _toc_links(preview) == ["一", "二", "三"]


@pytest.mark.parametrize("body", ["", "没有标题的正文", "### 只有三级标题"])
def test_a_text_without_level_two_headings_has_no_contents(body):
    assert render(body).toc == []
