"""Languages: zh_CN by default, English second; dates shown the Chinese way."""

from __future__ import annotations

import functools
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date, format_datetime
from flask import Flask, current_app, g, request  # noqa: F401
from flask.globals import _cv_app
from flask_babel import get_locale as _babel_get_locale
from flask_babel import get_translations
from jinja2 import pass_context
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from portal.timeutil import SHANGHAI

LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
WEEKDAYS_ZH = "一二三四五六日"
_ALIASES = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "en": "en", "en_us": "en"}


def N_(message: str) -> str:
    """Mark a message for translation where it is defined; translate it where it is shown."""
    return message


def _known(value: str | None) -> str | None:
    return _ALIASES.get((value or "").strip().lower().replace("-", "_"))


def locale_from(cookie: str | None, accept_language: str) -> str:
    """The remembered cookie, then the browser's wish (the Accept-Language header); zh_CN
    otherwise (no ?lang= here)."""
    remembered = _known(cookie)
    if remembered:
        return remembered
    return _wished(accept_language)


@functools.lru_cache(maxsize=512)
def _wished(accept_language: str) -> str:
    """The language an Accept-Language header asks for: browsers send few distinct headers,
    and parsing one costs more than the rest of choosing the language."""
    wishes = parse_accept_header(accept_language, LanguageAccept)
    return _known(wishes.best_match(["zh_CN", "zh", "en"], default="zh_CN")) or "zh_CN"


def select_locale() -> Locale:
    """?lang= first, then the remembered cookie, then the browser's wish; zh_CN otherwise."""
    chosen = _known(request.args.get("lang"))
    if chosen:
        g.lang_to_remember = chosen
        return _parsed(chosen)
    return _parsed(
        locale_from(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language", ""))
    )


@functools.lru_cache(maxsize=8)
def _parsed(name: str) -> Locale:
    """Babel's Locale for one of the portal's languages, parsed once (Flask-Babel parses the
    selector's text on every request; a Locale it is given it takes as it is)."""
    return Locale.parse(name)


def remember_language(response):
    lang = g.pop("lang_to_remember", None)
    if lang:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


def get_locale() -> Locale | None:
    """Flask-Babel's locale of the current context, read without its proxies once it is known.

    A page asks for it dozens of times (every translated label and date); Flask-Babel keeps it
    in `g._flask_babel.babel_locale` (also under `force_locale`), so this reads that first.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        found = ctx.g.__dict__.get("_flask_babel")
        if found is not None:
            locale = getattr(found, "babel_locale", None)
            if locale is not None:
                return locale
    return _babel_get_locale()


def current_language() -> str:
    """The current locale as text ("zh_Hans_CN", "en"), worked out once per locale object.

    A key for caches of translated text: hashing and comparing Babel's Locale objects costs
    more than the lookup it keys.
    """
    locale = get_locale()
    if locale is None:
        return ""
    ctx = _cv_app.get(None)
    holder = ctx.g.__dict__.get("_flask_babel") if ctx is not None else None
    if holder is None:
        return str(locale)
    known = getattr(holder, "portal_language", None)
    if known is None or known[0] is not locale:  # first use, or force_locale changed it
        known = holder.portal_language = (locale, str(locale))
    return known[1]


def is_chinese() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


_TRANSLATED: dict[tuple, str] = {}


def translated(message) -> str:
    """str() of a lazy message (`_l`), remembered per language: a translation never changes.

    Messages with variables, and plain strings, are translated as usual.
    """
    args = getattr(message, "_args", None)
    if not args or getattr(message, "_kwargs", None):
        return str(message)
    key = (current_language(), message._func, args)
    found = _TRANSLATED.get(key)
    if found is None:
        found = _TRANSLATED[key] = str(message)
    return found


def translated_for(user, message: str) -> str:
    """A message in a person's language (their account's, else Chinese), for a message's
    context or a job; outside any request."""
    from flask_babel import force_locale, gettext

    with force_locale(getattr(user, "language", None) or "zh_CN"):
        return gettext(message)


def _local(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI)
    return value


def format_day(value: date | datetime | None) -> str:
    """2026年11月29日（星期日） in Chinese; Sunday, 29 November 2026 in English."""
    if value is None:
        return ""
    day = _local(value)
    if is_chinese():
        return f"{day.year}年{day.month}月{day.day}日（星期{WEEKDAYS_ZH[day.weekday()]}）"
    return format_date(day, "EEEE, d MMMM y", locale="en")


def format_time(value: datetime | None) -> str:
    """Date and time of day in Asia/Shanghai."""
    if value is None:
        return ""
    local = value.astimezone(SHANGHAI)
    if is_chinese():
        return f"{format_day(local)} {local:%H:%M}"
    return format_datetime(local, "EEEE, d MMMM y HH:mm", locale="en")


def content_lang() -> Markup:
    """` lang="zh-CN"` on an element holding Chinese content when the page is in English.

    Titles and texts written by people are Chinese; screen readers and browsers need to know
    when they sit in an English page.
    """
    return _NO_LANG if is_chinese() else _LANG_ZH


_NO_LANG, _LANG_ZH = Markup(""), Markup(' lang="zh-CN"')


def html_lang() -> str:
    return "zh-CN" if is_chinese() else "en"


def _jinja_gettext(translations):
    """Jinja's newstyle gettext and ngettext bound to one catalogue (escaping, %-formatting).

    As in jinja2.ext: the catalogue's text is markup (it is ours), the variables are escaped.
    """
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context, string: str, **variables):
        rv = ugettext(string)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - the catalogue's own text
        if not variables and "%" not in rv:
            return rv  # what `% {}` would give, without formatting (most messages)
        return rv % variables

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables):
        variables.setdefault("num", num)
        rv = ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - the catalogue's own text
        return rv % variables

    return gettext, ngettext


def template_i18n() -> dict:
    """The language's values for templates, resolved once per render instead of at every use.

    Flask-Babel's callables look the locale and catalogue up again at each `_()`; these are
    bound to the catalogue of the locale in force now (?lang=, the cookie, or force_locale).
    """
    translations = get_translations()
    locale = current_language() or "zh_CN"
    cached = getattr(translations, "_portal_template_i18n", None)
    if cached is not None and cached[0] == locale:
        return cached[1]
    gettext, ngettext = _jinja_gettext(translations)
    chinese = locale.startswith("zh")
    values = {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "is_chinese": (lambda: True) if chinese else (lambda: False),
        "html_lang": (lambda: "zh-CN") if chinese else (lambda: "en"),
        "content_lang": (lambda: _NO_LANG) if chinese else (lambda: _LANG_ZH),
    }
    translations._portal_template_i18n = (locale, values)
    return values


def init_app(app: Flask) -> None:
    app.after_request(remember_language)
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["datetime"] = format_time
    # The same as functions, for arguments of a translated sentence: _("... %(day)s", day=format_day(d)).
    app.jinja_env.globals["format_day"] = format_day
    app.jinja_env.globals["format_time"] = format_time
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["is_chinese"] = is_chinese
