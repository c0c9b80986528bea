import shutil
from pathlib import Path

from portal.search import get_index


def test_healthz_answers_200_with_the_database_and_the_index(app, client):
    with app.app_context():
        get_index()  # the index exists (created empty, as on a new install)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["database"] == "ok"
    assert response.json["search"]["state"] == "ok"


def test_a_lost_search_index_is_degraded_not_down(app, client):
    with app.app_context():
        get_index()
    shutil.rmtree(Path(app.config["PORTAL_SEARCH_DIR"]))
    response = client.get("/healthz")
    assert response.status_code == 200  # the load balancer keeps sending traffic
    assert response.json["status"] == "degraded"
    assert response.json["search"]["state"] in ("missing", "degraded")


def test_healthz_answers_503_without_the_database(new_app):
    app = new_app("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_login_limits_counted_per_worker_show_as_degraded(app, client, monkeypatch):
    with app.app_context():
        get_index()
    monkeypatch.setenv("WEB_CONCURRENCY", "4")  # several gunicorn workers, no REDIS_URL
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["rate_limit"]["shared"] is False
    assert response.json["rate_limit"]["warning"]
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert client.get("/healthz").json["status"] == "ok"
