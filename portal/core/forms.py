"""The base of every form in the portal: typed text is cleaned and checked in one place.

Every form derives from `PortalForm`. Each text field (single-line or multi-line; passwords
and hidden fields excepted) gets, before its own filters and validators:

- a filter that removes invisible control characters: C0 and C1 controls, zero-width
  spaces, byte-order marks, bidirectional marks, overrides and isolates, and noncharacters
  (none of which is valid in an XML feed). A multi-line field keeps its line breaks (as
  ``\\n``) and tabs; in a single-line field a tab or line break becomes a space;
- a validator that refuses, with a field error, a value that has nothing visible in it (only
  spaces, zero-width or control characters), and a single-line value (a name, a title) that
  was typed with a bidirectional override or isolate, which can make ``\\u202eadmin`` show as
  ``nimda``. The value shown again has those characters already removed.

Dates use `DateInRange`, so a year such as 0001 is refused before any arithmetic on it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

# Bidirectional embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Invisible format characters with no use in the portal's text: zero-width space, bidi marks
# (LRM, RLM, ALM), word joiner and invisible operators, deprecated format characters, the
# byte-order mark and interlinear annotation marks. Zero-width (non-)joiners stay: emoji
# sequences and some scripts need them.
_INVISIBLE_FORMAT = frozenset(
    chr(c)
    for c in [
        0x061C,
        0x180E,
        0x200B,
        0x200E,
        0x200F,
        *range(0x2060, 0x2065),
        *range(0x206A, 0x2070),
        0xFEFF,
        *range(0xFFF9, 0xFFFC),
    ]
)
# Letters and symbols that render as blank space.
_BLANK_LOOKING = frozenset("\u115f\u1160\u2800\u3164\uffa0")
_NEWLINES = re.compile(r"\r\n?")
_LINE_BREAKS = re.compile(r"\r\n|[\t\n\r\v\f\x85\u2028\u2029]")


def _removed(ch: str, *, multiline: bool) -> bool:
    if multiline and ch in "\n\t":
        return False
    if ch in BIDI_CONTROLS or ch in _INVISIBLE_FORMAT:
        return True
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs"):
        return True
    code = ord(ch)
    # Noncharacters: U+FDD0-U+FDEF and the last two code points of every plane.
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def clean_text(value: str | None, *, multiline: bool = False) -> str | None:
    """The text without invisible control characters (see the module's docstring)."""
    if not value:
        return value
    if multiline:
        value = _NEWLINES.sub("\n", value).replace("\u2028", "\n").replace("\u2029", "\n")
    else:
        value = _LINE_BREAKS.sub(" ", value)
    return "".join(ch for ch in value if not _removed(ch, multiline=multiline))


def is_visible(ch: str) -> bool:
    """Whether a character leaves a mark: not a control, format, space or combining mark."""
    return unicodedata.category(ch)[0] not in "CZM" and ch not in _BLANK_LOOKING


def has_visible(value: str) -> bool:
    return any(is_visible(ch) for ch in value)


class VisibleText:
    """Refuse text with nothing visible in it, and bidi overrides in single-line text."""

    def __init__(self, *, multiline: bool) -> None:
        self.multiline = multiline

    def __call__(self, form, field) -> None:
        typed = field.raw_data[0] if field.raw_data else None
        if not isinstance(typed, str):
            return
        if typed.strip() and not has_visible(field.data or ""):
            raise StopValidation(
                _("Type some visible text: spaces and invisible characters alone do not count.")
            )
        if not self.multiline and any(ch in BIDI_CONTROLS for ch in typed):
            raise StopValidation(
                _(
                    "This contained hidden characters that change the direction of the text; "
                    "they have been removed. Check it and send it again."
                )
            )


def _is_text(field) -> bool:
    return isinstance(field, StringField) and not isinstance(field, (PasswordField, HiddenField))


class PortalForm(FlaskForm):
    """The base of every form: each text field is cleaned and checked (module docstring)."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if _is_text(field):
                multiline = isinstance(field, TextAreaField)
                field.filters = [
                    lambda value, multiline=multiline: clean_text(value, multiline=multiline),
                    *field.filters,
                ]
                field.validators = [VisibleText(multiline=multiline), *field.validators]
            return field


class DateInRange:
    """A date (or date and time) between two years, inclusive; None is left to Optional()."""

    def __init__(self, min_year: int = 2000, max_year: int = 2100, message=None) -> None:
        self.min_year = min_year
        self.max_year = max_year
        self.message = message

    def __call__(self, form, field) -> None:
        value = field.data
        if not isinstance(value, date):
            return
        if not self.min_year <= value.year <= self.max_year:
            bounds = {"min": self.min_year, "max": self.max_year}
            if self.message is not None:
                raise ValidationError(str(self.message) % bounds)
            raise ValidationError(
                _("Enter a date between the years %(min)d and %(max)d.", **bounds)
            )


# Choices the services check ----------------------------------------------------------------
# A form holds no second copy of a rule: these fields accept any submitted value, and the
# area's service refuses an unknown one with an error on that field (in the person's
# language), keeping what was typed everywhere else.


def options(pairs) -> list:
    """(value, label) pairs as WTForms choices."""
    from wtforms.fields.choices import SelectChoice

    return [SelectChoice(str(value), label) for value, label in pairs]


class ChoiceField(SelectField):
    """A select whose value the services check (they name the field when it is not a choice)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("validate_choice", False)
        super().__init__(*args, **kwargs)


class ChoiceRadioField(RadioField):
    """Radio buttons (large targets on a phone) whose value the services check."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("validate_choice", False)
        super().__init__(*args, **kwargs)

    def pre_validate(self, form) -> None:
        return None


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (a phone shows them better than a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        return None  # unknown values are the service's to refuse (it names the field)
