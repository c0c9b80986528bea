"""Search knows documents, not the areas: a second source is searched, filtered and mended
like publicity's, and the search kernel imports no area."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask_babel import force_locale
from sqlmodel import select

from portal.core.models import ContentVersion
from portal.publicity.search import source as publicity_source
from portal.search import SearchSource, catch_up, get_index, sync_after_commit, sync_items
from tests.conftest import page_text

ROOT = Path(__file__).resolve().parents[2]


def _search(client, query, **params):
    response = client.get("/search", query_string={"q": query, **params})
    assert response.status_code == 200
    return response


def _search_version(session) -> int:
    row = session.exec(select(ContentVersion).where(ContentVersion.area == "search")).first()
    return row.version if row else 0


def test_sources_follow_the_protocol(notes):
    assert isinstance(publicity_source, SearchSource)
    assert isinstance(notes, SearchSource)


def test_the_page_finds_documents_of_both_sources(app, client, session, publish, notes):
    item = publish(kind="news", slug="n-swim", title="暑期防溺水安全教育", body="防溺水 安全")
    notes.put("7", "防溺水家访记录", "走访留守儿童家庭，讲解防溺水常识")
    with app.app_context():
        sync_items(session, "notes", ["7"])
        versions = get_index().versions()
    assert versions[f"publicity:{item.id}"] == str(item.public_version)
    assert versions["notes:7"] == "1"

    response = _search(client, "防溺水")
    text, html = page_text(response), response.get_data(as_text=True)
    assert "2 条结果" in text
    assert "暑期防溺水安全教育" in text and "防溺水家访记录" in text
    assert 'href="/publicity/news/n-swim"' in html and 'href="/notes/7"' in html
    assert "工作动态" in text and "Notes" in text  # each hit names its kind
    assert "<mark" in html and "防溺水</mark>常识" in html  # the note's snippet, from its source


def test_the_kind_filter_lists_every_source_and_narrows_to_one(
    app, client, session, publish, notes
):
    publish(kind="news", slug="n-swim", title="暑期防溺水安全教育", body="防溺水 安全")
    notes.put("7", "防溺水家访记录", "防溺水常识")
    with app.app_context():
        sync_items(session, "notes", ["7"])

    html = _search(client, "防溺水").get_data(as_text=True)
    assert '<option value="note">Notes</option>' in html
    assert '<option value="news">工作动态</option>' in html
    only_notes = page_text(_search(client, "防溺水", kind="note"))
    assert "防溺水家访记录" in only_notes and "暑期防溺水安全教育" not in only_notes
    only_news = page_text(_search(client, "防溺水", kind="news"))
    assert "暑期防溺水安全教育" in only_news and "防溺水家访记录" not in only_news
    # An unknown kind is no filter at all.
    assert "2 条结果" in page_text(_search(client, "防溺水", kind="nothing"))


def test_snippet_texts_are_read_again_when_the_version_changes(app, session, notes):
    """A document's text is read from its source once per version, and a new version's
    text is what the snippets show."""
    from portal.search import services

    notes.put("5", "家访记录", "周末走访留守儿童家庭，讲解防溺水常识")
    with app.app_context():
        sync_items(session, "notes", ["5"])
    reads: list[list[str]] = []
    texts = notes.texts

    def counted(session, ids):
        reads.append(list(ids))
        return texts(session, ids)

    notes.texts = counted
    with app.test_request_context():
        first = services.search(session, "防溺水")
        again = services.search(session, "防溺水")
        assert reads == [["5"]]  # the second search used the text read by the first
        assert "防溺水</mark>常识" in first.items[0].snippet == again.items[0].snippet

        notes.change("5", body="暑假开展防溺水安全教育进村活动", version="2")
        sync_items(session, "notes", ["5"])
        changed = services.search(session, "防溺水")
    assert reads == [["5"], ["5"]]
    assert "开展<mark" in changed.items[0].snippet and "常识" not in changed.items[0].snippet


def test_catch_up_indexes_new_documents_and_removes_vanished_ones(app, client, session, notes):
    notes.put("1", "儿童之家开放日", "儿童之家 周末开放")
    assert "儿童之家开放日" not in page_text(_search(client, "儿童之家"))  # cached: no result
    before = _search_version(session)
    with app.app_context():
        assert catch_up(session) == {"indexed": 1, "removed": 0, "rebuilt": False}
    assert _search_version(session) > before  # the cached search page goes
    assert "儿童之家开放日" in page_text(_search(client, "儿童之家"))

    notes.change("1", title="儿童之家开放时间调整", version="2")
    with app.app_context():
        assert catch_up(session) == {"indexed": 1, "removed": 0, "rebuilt": False}
    text = page_text(_search(client, "儿童之家"))
    assert "开放时间调整" in text and "儿童之家开放日" not in text

    del notes.live["1"]
    with app.app_context():
        assert catch_up(session) == {"indexed": 0, "removed": 1, "rebuilt": False}
        assert "notes:1" not in get_index().versions()
        unchanged = _search_version(session)
        assert catch_up(session) == {"indexed": 0, "removed": 0, "rebuilt": False}
    assert _search_version(session) == unchanged  # nothing mended, nothing bumped
    assert "没有找到" in page_text(_search(client, "儿童之家"))


def test_documents_of_a_source_that_is_gone_are_removed(app, session, notes, monkeypatch):
    from portal.core import registry

    notes.put("1", "儿童之家开放日", "儿童之家")
    with app.app_context():
        catch_up(session)
        monkeypatch.setattr(registry, "search_sources", lambda: [publicity_source])
        assert catch_up(session) == {"indexed": 0, "removed": 1, "rebuilt": False}
        assert get_index().versions() == {}


def test_a_source_indexes_after_its_transaction_commits(app, session, notes):
    notes.put("3", "心理辅导讲座", "心理辅导")
    with app.app_context():
        sync_after_commit(session, "notes", ["3"])
        assert "notes:3" not in get_index().versions()
        session.commit()
        assert "notes:3" in get_index().versions()


def test_reindex_counts_every_source(app, session, publish, notes, monkeypatch):
    import click

    publish(kind="news", slug="n-one", title="新闻一", body="正文")
    notes.put("1", "记录一", "正文")
    notes.put("2", "记录二", "正文")
    bars = []
    progressbar = click.progressbar

    def counted(*args, **kwargs):
        bar = progressbar(*args, **kwargs)
        bars.append(bar)
        return bar

    monkeypatch.setattr(click, "progressbar", counted)
    result = app.test_cli_runner().invoke(args=["search", "reindex", "--procs", "1"])
    assert result.exit_code == 0, result.output
    assert "Indexed 3 published documents." in result.output
    [bar] = bars  # the progress bar counted both sources' documents, and went to the end
    assert bar.length == 3 and bar.pos == 3
    with app.app_context():
        keys = set(get_index().versions())
    assert {"notes:1", "notes:2"} < keys and len(keys) == 3


def test_the_search_kernel_imports_no_area():
    code = (
        "import portal.search, portal.search.index, portal.search.views, portal.search.jobs, sys; "
        "assert not [m for m in sys.modules if m.split('.')[1:2] in "
        "(['publicity'], ['volunteers'], ['parents_school'], ['charity'])]"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_kind_labels_are_worked_out_once_per_language(app):
    """Each source's kinds property may build its labels anew (the lectures' does): the labels
    are still translated once per language, not at every search."""
    from portal.search.services import _KIND_LABELS, kind_labels

    with app.test_request_context("/search", headers={"Accept-Language": "en"}):
        first = kind_labels()
        assert first["lecture"] == "Parents' school lecture"
    size = len(_KIND_LABELS)
    with app.test_request_context("/search", headers={"Accept-Language": "en"}):
        assert kind_labels() is first  # another request: from the cache, not made again
        assert len(_KIND_LABELS) == size
    with app.test_request_context("/search", headers={"Accept-Language": "zh-CN"}):
        chinese = kind_labels()
        assert chinese["lecture"] != first["lecture"]
        with force_locale("en"):
            assert kind_labels() is first  # the language in force, not the request's first
        assert kind_labels() is chinese
