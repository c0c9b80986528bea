"""A lost or damaged index: the page says so with the hotlines (never a 500, never cached),
readers reopen what was replaced under them, and the catch-up job rebuilds it by itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from whoosh import index as whoosh_index

from portal.search import IndexUnavailable, catch_up, get_index, index_health, sync_items
from portal.search.index import DAMAGE_FILE, SearchIndex, forget_index
from portal.search.sources import Document
from tests.conftest import page_text

TITLE = "防溺水家访记录"


@pytest.fixture()
def indexed(app, session, notes) -> Path:
    """One note in this test's index; its directory."""
    notes.put("7", TITLE, "走访留守儿童家庭，讲解防溺水常识")
    with app.app_context():
        sync_items(session, "notes", ["7"])
        return get_index().path


def _corrupt(path: Path) -> None:
    """Cut every segment file in half, as a crash while writing it leaves it."""
    segments = sorted(path.glob("*.seg"))
    assert segments
    for segment in segments:
        data = segment.read_bytes()
        segment.write_bytes(data[: len(data) // 2])


def _unavailable(response) -> str:
    assert response.status_code == 503
    assert response.headers["Cache-Control"] == "no-store"
    text = page_text(response)
    assert "搜索暂时无法使用" in text and "请过几分钟再试" in text
    return text


def test_a_deleted_index_answers_the_hotlines_until_catch_up_rebuilds_it(
    app, client, session, indexed, notes
):
    assert TITLE in page_text(client.get("/search?q=防溺水"))  # this page is cached now
    shutil.rmtree(indexed)

    text = _unavailable(client.get("/search?q=留守儿童"))
    assert "110" in text and "12355" in text and "12338" in text
    assert 'href="tel:110"' in client.get("/search?q=留守儿童").get_data(as_text=True)
    assert len(app.extensions["page_cache"]) == 1  # the page from before; nothing of these
    # Live search cannot swap a 503 in: htmx is sent to the whole page, which says it.
    partial = client.get("/search?q=家访", headers={"HX-Request": "true"})
    assert partial.status_code == 503
    assert partial.headers["HX-Redirect"] == "/search?q=%E5%AE%B6%E8%AE%BF"  # 家访
    with app.app_context():
        assert index_health()["state"] == "missing"

        assert catch_up(session) == {"indexed": 1, "removed": 0, "rebuilt": True}
        assert index_health() == {"state": "ok", "documents": 1, "detail": "1 segment(s)"}
    # The same process, the same index object: the next search finds it again.
    response = client.get("/search?q=留守儿童")
    assert response.status_code == 200 and TITLE in page_text(response)


def test_a_directory_replaced_under_a_reader_is_reopened(app, client, indexed, notes):
    reader = get_index(indexed)
    assert reader.search("防溺水").total == 1
    # Another process rebuilds the index in a new directory at the same generation: the
    # generation alone cannot tell the old index from the new one.
    shutil.rmtree(indexed)
    other = SearchIndex(indexed)
    other.update([notes.put("8", "儿童之家开放日", "儿童之家 防溺水 讲座")])
    assert reader.search("防溺水").hits[0].title == "儿童之家开放日"
    assert reader.search("防溺水").total == 1
    assert TITLE not in page_text(client.get("/search?q=防溺水"))


def test_a_corrupt_segment_is_rebuilt_by_catch_up_instead_of_raising(app, client, session, indexed):
    _corrupt(indexed)
    scheduler = SearchIndex(indexed)  # the scheduler's process opens the damaged index
    with app.app_context():
        assert catch_up(session, index=scheduler) == {"indexed": 1, "removed": 0, "rebuilt": True}
        assert scheduler.search("防溺水").hits[0].title == TITLE
        assert index_health()["state"] == "ok"
    response = client.get("/search?q=防溺水")  # this process's reader, opened before
    assert response.status_code == 200 and TITLE in page_text(response)


def test_a_search_on_a_damaged_index_is_a_503_and_catch_up_in_another_process_repairs_it(
    app, client, session, indexed
):
    with app.app_context():
        forget_index(indexed)  # a web worker that starts after the damage
    _corrupt(indexed)
    _unavailable(client.get("/search?q=防溺水"))
    assert (indexed / DAMAGE_FILE).exists()  # left for the catch-up job
    with app.app_context():
        health = index_health()
        assert health["state"] == "degraded" and health["documents"] == 0
    # The scheduler's process has its own index object, opened before the damage.
    scheduler = SearchIndex(indexed)
    with app.app_context():
        assert catch_up(session, index=scheduler)["rebuilt"] is True
    response = client.get("/search?q=防溺水")
    assert response.status_code == 200 and TITLE in page_text(response)
    assert not (indexed / DAMAGE_FILE).exists()


def test_health_is_degraded_once_a_read_has_failed_until_the_rebuild(app, indexed):
    (indexed / DAMAGE_FILE).write_text("CorruptIndexError: bad block")
    with app.app_context():
        health = index_health()
    assert health["state"] == "degraded" and health["documents"] == 1
    assert "CorruptIndexError" in health["detail"]


def test_health_never_creates_an_index(tmp_path):
    path = tmp_path / "never"
    assert index_health(path) == {
        "state": "missing",
        "documents": 0,
        "detail": f"no search index in {path}",
    }
    assert not path.exists()


def test_an_update_to_a_lost_index_is_left_to_catch_up(app, session, indexed):
    shutil.rmtree(indexed)
    with app.app_context(), pytest.raises(IndexUnavailable) as raised:
        sync_items(session, "notes", ["7"])
    assert raised.value.missing
    assert not indexed.exists()  # not silently recreated with one document in it


def test_a_source_change_after_commit_waits_for_catch_up_when_the_index_is_lost(
    app, session, indexed, notes, caplog
):
    from portal.search import sync_after_commit

    shutil.rmtree(indexed)
    notes.put("9", "心理辅导讲座", "心理辅导")
    with app.app_context():
        sync_after_commit(session, "notes", ["9"])
        session.commit()  # the commit stands; the index is left to the catch-up job
        assert [(r.name, r.levelname) for r in caplog.records] == [("portal.search", "WARNING")]
        assert "catch-up job will index these documents" in caplog.records[0].getMessage()
        assert catch_up(session)["rebuilt"] is True
        assert {"notes:7", "notes:9"} <= set(get_index().versions())


def _note(number: int, version: str = "1") -> Document:
    return Document(
        source="notes",
        local_id=str(number),
        kind="note",
        version=version,
        url=f"/notes/{number}",
        title=f"儿童之家开放日{version}",
        body="儿童之家 周末开放",
    )


def test_a_refreshed_searcher_reuses_unchanged_segments_and_sees_merges_and_deletions(tmp_path):
    index = SearchIndex(tmp_path / "search")
    index.update([_note(0)])
    reused = merged = 0
    for number in range(1, 16):
        before = [r for r, _o in index.searcher().reader().leaf_readers()]
        index.update([_note(number)])
        searcher = index.searcher()
        after = [r for r, _o in searcher.reader().leaf_readers()]
        if len(after) > len(before):
            # A segment was added: every other one kept its reader.
            assert all(any(old is new for new in after) for old in before)
            reused += 1
        else:
            merged += 1  # small segments merged into one
        with whoosh_index.open_dir(str(index.path), indexname="MAIN").searcher() as fresh:
            assert searcher.doc_count() == fresh.doc_count() == number + 1
        assert index.search("儿童之家").total == number + 1
    assert reused and merged
    # A document of an old segment replaced: deleted there, added in a new segment.
    index.update([_note(3, version="2")])
    results = index.search("儿童之家", per_page=20)
    assert results.total == 16 and len({hit.key for hit in results.hits}) == 16
    assert index.versions()["notes:3"] == "2"
    assert "儿童之家开放日1" not in [h.title for h in results.hits if h.key == "notes:3"]


def test_the_searcher_is_reused_until_the_index_changes(tmp_path):
    index = SearchIndex(tmp_path / "search")
    index.update([_note(1)])
    first = index.searcher()
    index.search("儿童之家")
    assert index.searcher() is first
    index.update([_note(2)])
    assert index.searcher() is not first


def test_a_killed_rebuilds_leftover_folders_are_removed_but_a_fresh_one_is_kept(tmp_path):
    import os
    import time

    from portal.search.index import remove_leftovers

    index_dir = tmp_path / "search"
    index_dir.mkdir()
    old = tmp_path / ".search-new-abc"
    old_swapped = tmp_path / ".search-old-def"
    fresh = tmp_path / ".search-new-ghi"
    for folder in (old, old_swapped, fresh):
        folder.mkdir()
        (folder / "segment").write_text("x")
    two_hours_ago = time.time() - 7200
    for folder in (old, old_swapped):
        os.utime(folder, (two_hours_ago, two_hours_ago))
    assert sorted(remove_leftovers(index_dir)) == sorted([old, old_swapped])
    assert fresh.exists() and index_dir.exists()
    assert not old.exists() and not old_swapped.exists()
