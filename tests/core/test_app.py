"""The portal's Flask application class."""

import pytest


def test_a_plain_function_is_checked_once_and_returned_as_is(app):
    def hook():
        return None

    assert hook not in app._plain_functions
    assert app.ensure_sync(hook) is hook
    assert hook in app._plain_functions
    assert app.ensure_sync(hook) is hook


def test_a_coroutine_function_is_never_taken_for_a_plain_one(app):
    async def view():
        return "x"

    for _ in range(2):  # the second time too: its answer was not remembered as plain
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(view)  # Flask needs its `async` extra to run it
    assert view not in app._plain_functions


def test_the_hooks_of_a_request_are_remembered(app, client):
    assert client.get("/robots.txt?x=1").status_code == 200
    assert app.view_functions["core.robots"] in app._plain_functions


def test_app_memo_builds_once_per_key_and_empties_past_its_bound(app):
    from portal.web import app_memo

    built = []

    def build(key):
        return lambda: built.append(key) or f"value {key}"

    with app.app_context():
        app.extensions.pop("test_memo", None)
        assert app_memo("test_memo", "a", build("a"), bound=2) == "value a"
        assert app_memo("test_memo", "a", build("a"), bound=2) == "value a"
        assert built == ["a"]
        for key in ("b", "c", "d"):  # the fourth key finds three kept: emptied first
            app_memo("test_memo", key, build(key), bound=2)
        assert set(app.extensions["test_memo"]) == {"d"}
        app_memo("test_memo", "a", build("a"), bound=2)
        assert built == ["a", "b", "c", "d", "a"]
        app.extensions.pop("test_memo")
