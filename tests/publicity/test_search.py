"""Chinese search: words, phrases, filters, odd queries; the index follows the workflow."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal.publicity import services
from portal.publicity.loader import load_directory
from portal.search import catch_up, get_index
from tests.conftest import page_text

CONTENT = Path(__file__).resolve().parents[2] / "content"


@pytest.fixture()
def shipped(app):
    """The real shipped content, loaded and indexed."""
    from portal.extensions import db

    with app.app_context():
        results = load_directory(db, CONTENT, report=lambda r: None)
        assert not [r for r in results if r.outcome == "error"]
    return results


def _titles(client, query, **params):
    response = client.get("/search", query_string={"q": query, **params})
    assert response.status_code == 200
    return page_text(response)


@pytest.mark.parametrize(
    "word",
    [
        "监护",
        "慈善",
        "督导",
        "帮扶",
        "家长学校",
        "留守儿童",
        "应急救助",
        "联席会议",
        "关爱保护",
        "委托监护",
        "信息排查",
    ],
)
def test_the_policy_is_found_by_two_and_four_character_words(client, shipped, word):
    text = _titles(client, word)
    assert "松阳县人民政府办公室关于加强留守儿童关爱保护工作的实施意见" in text


def test_title_is_weighted_above_body(client, shipped):
    response = client.get("/search", query_string={"q": "慈善法"})
    first = page_text(response).split("条结果")[1]
    assert first.strip().startswith("中华人民共和国慈善法")


def test_snippets_highlight_the_words(client, shipped):
    html = client.get("/search", query_string={"q": "督导"}).get_data(as_text=True)
    marked = re.findall(r"<mark\b[^>]*>([^<]*)</mark>", html)
    assert marked and set(marked) == {"督导"}, marked  # the query word, and nothing else
    assert '<mark class="hl">督导</mark>' in html


def test_filters_by_column_and_year(client, shipped):
    laws_only = _titles(client, "未成年人", kind="law")
    assert "中华人民共和国未成年人保护法" in laws_only
    assert "松阳县人民政府办公室关于加强" not in laws_only
    in_2017 = _titles(client, "留守儿童", year="2017")
    assert "松阳县人民政府办公室关于加强" in in_2017 and "上线试运行" not in in_2017


def test_single_character_queries_find_words_containing_it(client, shipped):
    assert "条结果" in _titles(client, "爱")


@pytest.mark.parametrize(
    "query",
    [
        "title:监护",
        "监护*",
        '"监护',
        "监护 AND 儿童",
        "((监护",
        "监护)",
        "a" * 1000,
        "监护" * 500,
        "<script>alert(1)</script>",
        "'; DROP TABLE x; --",
        "𠮷",
        "🙂",
        "   ",
    ],
)
def test_odd_queries_are_answered_sensibly(client, shipped, query):
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    if "监护" in query:
        assert "条结果" in page_text(response)


def test_words_no_item_has_together_fall_back_to_some(client, shipped):
    text = _titles(client, "监护 zzzyyyxxx")
    assert "条结果" in text and "部分" in text


def test_pagination(client, shipped):
    first = _titles(client, "儿童")
    assert "第 1 页" in first
    assert "第 2 页" in _titles(client, "儿童", page=2)


def test_live_results_for_htmx_return_only_the_results(client, shipped):
    response = client.get("/search", query_string={"q": "监护"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="results"') and "<html" not in html


def test_retracted_items_leave_search(app, client, session, publish, reviewer):
    item = publish(kind="news", slug="n-river", title="暑期防溺水安全教育", body="防溺水 安全 教育")
    assert "暑期防溺水安全教育" in _titles(client, "防溺水")
    with app.app_context():
        services.retract(session, item=item, reviewer=reviewer)
        session.commit()
    assert "暑期防溺水安全教育" not in _titles(client, "防溺水")


def test_editing_updates_the_index_when_published(app, client, session, publish, editor, reviewer):
    item = publish(kind="news", slug="n-edit", title="旧的标题", body="内容")
    with app.app_context():
        services.save_draft(
            session, item=item, editor=editor, draft=services.Draft(title="崭新的标题", body="内容")
        )
        services.submit(session, item=item, user=editor)
        session.commit()
        assert "旧的标题" in _titles(client, "标题")  # the live text is still the old one
        services.publish(session, item=item, reviewer=reviewer)
        session.commit()
    text = _titles(client, "标题")
    assert "崭新的标题" in text and "旧的标题" not in text


def test_expiry_removes_from_search(app, client, session, publish, time_machine):
    now = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    publish(
        kind="notice",
        slug="n-expire",
        title="限时通知",
        body="报名截止",
        expire_at=now + timedelta(hours=1),
    )
    assert "限时通知" in _titles(client, "通知")
    time_machine.move_to(now + timedelta(hours=2), tick=False)
    with app.app_context():
        services.refresh_timed(session)
        session.commit()
    assert "限时通知" not in _titles(client, "通知")


def test_catch_up_repairs_the_index_after_a_crash(app, client, session, publish, monkeypatch):
    import portal.search.index as index_module

    # The process dies after the commit, before indexing: nothing reaches the index.
    monkeypatch.setattr(index_module, "sync_items", lambda *a, **k: None)
    publish(kind="news", slug="n-lost", title="未入索引的新闻", body="儿童之家 开放")
    assert "未入索引的新闻" not in _titles(client, "儿童之家")
    monkeypatch.undo()
    with app.app_context():
        result = catch_up(session)
    assert result == {"indexed": 1, "removed": 0, "rebuilt": False}
    assert "未入索引的新闻" in _titles(client, "儿童之家")
    with app.app_context():
        assert catch_up(session) == {"indexed": 0, "removed": 0, "rebuilt": False}


def test_reindex_command_rebuilds_with_a_progress_bar(app, shipped):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert f"Indexed {len(shipped)} published documents." in result.output
    with app.app_context():
        assert len(get_index().versions()) == len(shipped)


def test_the_searcher_is_reused_between_queries(app, shipped):
    with app.app_context():
        index = get_index()
        first = index.searcher()
        index.search("监护")
        assert index.searcher() is first


def test_words_inside_longer_words_are_indexed_and_context_does_not_change_them():
    from portal.search.analysis import cut, query_words

    indexed = {
        w for w, _s, _e in cut("资助农村留守儿童，联系受委托监护人，斋坛乡上田村", for_index=True)
    }
    assert {"农村留守儿童", "留守儿童", "受委托监护人", "委托监护", "斋坛乡"} <= indexed
    # Without jieba's guessing of unknown words, a name cuts the same alone and in context.
    alone = query_words("上田村")
    in_context = [w for w, _s, _e in cut("斋坛乡上田村")][1:]
    assert alone == in_context


def test_an_index_built_for_another_dictionary_is_rebuilt(app, session, publish, tmp_path):
    from portal.search.index import SearchIndex

    publish(kind="news", slug="n-sig", title="儿童之家开放", body="儿童之家")
    path = tmp_path / "other"
    SearchIndex(path)
    (path / "portal-signature").write_text("1:old-dictionary")
    fresh = SearchIndex(path)  # starts empty, marked with the current signature
    assert fresh.versions() == {}
    with app.app_context():
        assert catch_up(session, index=fresh)["indexed"] >= 1
    assert fresh.versions()


def test_results_link_to_the_public_page_with_column_and_date(app, client, publish):
    from portal.publicity.search import item_path

    page = publish(kind="page", slug="contact-us", title="联系我们", body="联席会议办公室 电话")
    news = publish(kind="news", slug="n-office", title="办公室搬迁", body="联席会议办公室 新址")
    response = client.get("/search", query_string={"q": "联席会议办公室"})
    html, text = response.get_data(as_text=True), page_text(response)
    assert 'href="/pages/contact-us"' in html and 'href="/publicity/news/n-office"' in html
    assert "页面" in text and "工作动态" in text  # each result names its column
    assert "<time datetime=" in html
    assert client.get("/pages/contact-us").status_code == 200
    with app.app_context():
        assert item_path(page) == "/pages/contact-us"
        assert item_path(news) == "/publicity/news/n-office"


POLICY = "松阳县人民政府办公室关于加强留守儿童关爱保护工作的实施意见"
ANNEX = "松政办发〔2017〕139号附件2：松阳县留守儿童关爱保护工作联席会议成员单位职责和任务分工"


def _result_titles(client, query, **params) -> list[str]:
    response = client.get("/search", query_string={"q": query, **params})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    results = html.split('<ol class="results"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r"<li>\s*<a href=\"[^\"]*\">([^<]*)</a>", results)


@pytest.mark.parametrize(
    "query",
    [
        "松政办发〔2017〕139号",
        "139号",
        "〔2017〕139号",
        "松政办发[2017]139号",  # other brackets, as typed on a keyboard
        "松政办发（２０１７）１３９号",  # full-width
        " 松政办发 〔2017〕 139号 ",
        "关于松政办发〔2017〕139号",
    ],
)
def test_the_county_policy_is_the_first_hit_for_its_document_number(client, shipped, query):
    titles = _result_titles(client, query)
    assert titles[0] == POLICY, titles


@pytest.mark.parametrize("query", ["松政办发〔2017〕139号", "139号"])
def test_the_annex_comes_after_the_policy_it_belongs_to(client, shipped, query):
    titles = _result_titles(client, query)
    assert ANNEX in titles and titles.index(ANNEX) > titles.index(POLICY), titles


def test_another_issuers_number_of_the_same_year_and_serial_is_not_taken_for_it(app, shipped):
    with app.app_context():
        index = get_index()
        searcher = index.searcher()
        [policy] = index.numbered_documents(searcher, "松政办发〔2017〕139号")
        assert searcher.stored_fields(policy)["title"] == POLICY
        assert index.numbered_documents(searcher, "〔2017〕139号") == {policy}
        # 丽政办发〔2017〕139号 would be Lishui's document, not the county's.
        assert index.numbered_documents(searcher, "丽政办发〔2017〕139号") == set()


def test_policies_are_found_by_index_number_and_issuing_body(client, shipped):
    assert _result_titles(client, "1133252877070942X5/2017-06672")[0] == POLICY
    assert _result_titles(client, "2017-06672")[0] == POLICY
    assert POLICY in _result_titles(client, "政府信息公开办公室")
    assert (
        _result_titles(client, "国发〔2016〕13号")[0]
        == "国务院关于加强农村留守儿童关爱保护工作的意见"
    )


def test_a_hit_shows_its_document_number(client, shipped):
    text = page_text(client.get("/search", query_string={"q": "139号"}))
    assert f"{POLICY} 政策文件 · 松政办发〔2017〕139号 ·" in text


def test_documents_are_filed_under_the_year_they_were_issued(app, session, client, shipped):
    from portal.publicity.search import source

    with app.app_context():
        years = {d.title: d.year for d in source.documents(session)}
    assert years["国务院关于加强农村留守儿童关爱保护工作的意见"] == "2016"
    assert years["中华人民共和国反家庭暴力法"] == "2015"
    in_2016 = _titles(client, "留守儿童", year="2016")
    assert "国务院关于加强农村留守儿童关爱保护工作的意见" in in_2016
    assert "浙江省人民政府办公厅关于加强农村留守儿童关爱保护工作的实施意见" in in_2016
    assert "松阳县人民政府办公室关于加强" not in in_2016
    assert "国务院关于加强农村留守儿童关爱保护工作的意见" not in _titles(
        client, "留守儿童", year="2026"
    )
