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
