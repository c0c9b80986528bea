"""gunicorn settings for the portal, read from the project root: `gunicorn wsgi:app`.

Password-reset and account-setup links (`/auth/reset/<token>`) must not reach the logs: the
access log (request line, path, query string, Referer) and the error log ("Error handling
request /auth/reset/...") pass through `portal.logs.redact_path`, which knows every token route
of the app this worker serves.
"""

from gunicorn import glogging

from portal.logs import RedactingFilter


class PortalLogger(glogging.Logger):
    """gunicorn's logger with token paths and secret query parameters redacted."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())


logger_class = PortalLogger
