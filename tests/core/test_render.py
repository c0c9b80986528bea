"""render(): fragment for htmx partials, whole page for boosts, history restores and browsers."""

import pytest

PARTIAL = {"HX-Request": "true"}


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),
        (PARTIAL, True),
        ({**PARTIAL, "HX-Boosted": "true"}, False),
        ({**PARTIAL, "HX-History-Restore-Request": "true"}, False),
    ],
)
def test_render_decides_page_or_fragment(client, headers, fragment):
    response = client.get("/search?q=x", headers=headers)
    html = response.get_data(as_text=True)
    assert ("<html" not in html) is fragment
    assert "HX-Request" in response.headers.get("Vary", "")


def test_pages_without_block_are_always_whole(client):
    html = client.get("/", headers=PARTIAL).get_data(as_text=True)
    assert "<html" in html
