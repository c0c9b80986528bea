"""Flask extensions, created unbound and attached in create_app with init_app."""

from flask import current_app, request, session
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login.config import AUTH_HEADER_NAME, COOKIE_NAME
from flask_login.signals import user_accessed
from flask_wtf.csrf import CSRFProtect

from portal.db import Database


class PortalLoginManager(LoginManager):
    """Flask-Login's manager, with a short way for the visitor who carries no login at all.

    With an empty session, no remember-me cookie and no other loader, Flask-Login ends with
    the anonymous user anyway, after hashing the visitor's address and browser for session
    protection (which an empty session skips). Most requests are such visitors'.
    """

    def _load_user(self):
        config = current_app.config
        if (
            not session
            and config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) not in request.cookies
            and self._request_callback is None
            and (
                self._header_callback is None
                or config.get("AUTH_HEADER_NAME", AUTH_HEADER_NAME) not in request.headers
            )
        ):
            user_accessed.send(current_app._get_current_object())
            return self._update_request_context_with_user()
        return super()._load_user()


db = Database()
login_manager = PortalLoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = HTMX()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
