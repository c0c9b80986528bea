"""Songyang Care Portal for Left-behind Children (松阳县留守儿童关爱保护服务平台)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

__all__ = ["Portal", "create_app"]


class Portal(Flask):
    """The portal's Flask application.

    Flask asks of each hook, context processor and view, on every request, whether it is a
    coroutine function (23 times for an article page): the answer for a function never
    changes, so it is remembered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_functions: set[Callable] = set()

    def ensure_sync(self, func: Callable) -> Callable:
        try:
            if func in self._plain_functions:
                return func
        except TypeError:  # not hashable: asked each time
            return super().ensure_sync(func)
        checked = super().ensure_sync(func)
        if checked is func and len(self._plain_functions) < 10_000:
            self._plain_functions.add(func)
        return checked


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: load settings, attach extensions, register blueprints."""
    from portal import cache, cli, i18n, logs, security
    from portal.config import check_production, load_config
    from portal.core import errors
    from portal.core.converters import BoundedIntConverter
    from portal.db import commit_request_session
    from portal.extensions import babel, csrf, db, htmx, limiter, login_manager
    from portal.web import check_host

    app = Portal(__name__, instance_relative_config=True)
    # Before any blueprint: ids too large for the database match no route (404, never a 500).
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "portal")
    app.debug = bool(app.config["DEBUG"])
    check_production(app.config)
    if app.config["PORTAL_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PORTAL_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    logs.init_app(app)
    # Before any other hook: a host the portal does not serve gets 400, never a page.
    app.before_request(check_host)
    # Before every other hook: a cached page is answered before sessions, users or Babel load,
    # and stored after every header has been set.
    cache.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    security.limit_before_views_only_when_needed(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(security.load_user)
    login_manager.unauthorized_handler(_unauthorized)
    security.init_app(app)
    # Registered last so it runs first: the commit happens before headers are finalised.
    app.after_request(commit_request_session)

    from portal.admin.views import bp as admin_bp
    from portal.auth.views import bp as auth_bp
    from portal.core import registry
    from portal.core.views import bp as core_bp
    from portal.notify.views import bp as notify_bp
    from portal.search.views import bp as search_bp

    for blueprint in (core_bp, auth_bp, admin_bp, notify_bp, search_bp):
        app.register_blueprint(blueprint)
    # Every area found under portal/ (each declares itself in its own area.py).
    app.extensions["areas"] = registry.areas()
    for spec in app.extensions["areas"]:
        app.register_blueprint(registry.resolve(spec.blueprint))
    errors.init_app(app)
    cli.init_app(app)
    return app


def _unauthorized():
    from portal.web import login_redirect

    return login_redirect()
