"""CSRF on every unsafe request (17) and security headers (19)."""

from portal.auth.models import Role
from tests.conftest import PASSWORD, csrf_token, login, make_user


def test_post_without_csrf_token_is_refused(client, session):
    user = make_user(session)
    response = client.post("/auth/login", data={"login": user.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert "表单已过期或来源不明" in response.get_data(as_text=True)


def test_post_with_a_forged_token_is_refused(client, session):
    user = make_user(session)
    response = client.post(
        "/auth/login",
        data={"login": user.phone, "password": PASSWORD, "csrf_token": "forged.token.value"},
    )
    assert response.status_code == 400


def test_htmx_header_token_is_accepted(client, session):
    user = make_user(session)
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        data={"login": user.phone, "password": PASSWORD},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert response.status_code == 303


def test_token_from_another_session_is_refused(app, session):
    user = make_user(session)
    token = csrf_token(app.test_client())
    response = app.test_client().post(
        "/auth/login", data={"login": user.phone, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    for directive in [
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]:
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_when_served_over_https(client):
    response = client.get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_logged_in_pages_are_never_stored(client, session):
    login(client, make_user(session, role=Role.EDITOR))
    for path in ["/", "/volunteers/", "/search?q=a"]:
        assert client.get(path).headers["Cache-Control"] == "no-store"


def test_error_pages_have_the_headers_too(client):
    response = client.get("/missing")
    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
