"""Generic error pages in Chinese, never a stack trace (security.md 21)."""

import pytest
from werkzeug.exceptions import abort

from portal.security import public
from tests.conftest import page_text


@pytest.fixture()
def failing_app(db_url, new_app):
    app = new_app(db_url)

    @app.route("/boom")
    @public
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    @app.route("/status/<int:code>")
    @public
    def status(code):
        abort(code)

    return app


@pytest.mark.parametrize(
    ("code", "title"),
    [
        (400, "请求有误"),
        (403, "无权操作"),
        (404, "页面不存在"),
        (413, "文件过大"),
        (429, "操作过于频繁"),
        (500, "出错了"),
    ],
)
def test_error_pages_are_generic_and_chinese(failing_app, code, title):
    response = failing_app.test_client().get(f"/status/{code}")
    assert response.status_code == code
    text = page_text(response)
    assert title in text and f"错误代码 {code}" in text


def test_unhandled_error_shows_no_stack_trace(failing_app):
    failing_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = failing_app.test_client().get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "出错了" in html
    assert "Traceback" not in html and "secret internals" not in html


def test_unknown_page_is_404_in_english_when_asked(client):
    response = client.get("/no/such/page?lang=en")
    assert response.status_code == 404
    assert "Page not found" in page_text(response)


def test_too_large_request_answers_413(client):
    response = client.post("/auth/login", data={"login": "x" * (11 * 1024 * 1024)})
    assert response.status_code == 413
    assert "文件过大" in page_text(response)


def test_debug_is_off_unless_asked(base_app):
    assert base_app.debug is False
