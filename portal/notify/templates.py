"""Message templates: English source text, rendered in the recipient's language when queued."""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter

from flask_babel import force_locale, gettext

from portal.i18n import N_


@dataclass(frozen=True)
class MessageTemplate:
    name: str
    subject: str
    body: str
    sms: str  # a text message: short, no link a basic phone may not open
    fields: frozenset[str]

    def render(self, language: str, context: dict) -> tuple[str, str, str]:
        """Subject, body and SMS text in the given language (KeyError for a missing field)."""
        with force_locale(language):
            return tuple(
                gettext(text).format(**context) for text in (self.subject, self.body, self.sms)
            )


_REGISTRY: dict[str, MessageTemplate] = {}


def register_template(
    name: str, *, subject: str, body: str, sms: str | None = None
) -> MessageTemplate:
    """Declare a template once, at import time of the area that sends it (texts marked with N_)."""
    fields = {
        field_name
        for text in (subject, body, sms or body)
        for _literal, field_name, _spec, _conv in Formatter().parse(text)
        if field_name
    }
    template = MessageTemplate(name, subject, body, sms or body, frozenset(fields))
    _REGISTRY[name] = template
    return template


def get_template(name: str) -> MessageTemplate | None:
    return _REGISTRY.get(name)


# Templates of the platform itself; each area registers its own in its services module.
register_template(
    "account.password_changed",
    subject=N_("Your password was changed"),
    body=N_(
        "The password of your account on the Songyang care portal was changed on {when}. "
        "If this was not you, call the portal administrator at once."
    ),
    sms=N_(
        "Songyang care portal: your password was changed on {when}. Not you? Call the administrator."
    ),
)
