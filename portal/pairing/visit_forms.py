"""Forms of visits and of the volunteer's answer to a proposal.

The forms check what a browser can get wrong (a missing answer, a length); the rules (the
date against the pairing, the duration, the choices) live in `visits.check_input`, which
names the field it refuses.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.core.fields import max_length
from portal.core.forms import ChoiceRadioField, DateInRange, PortalForm
from portal.pairing import visits
from portal.pairing.models import VisitBase
from portal.pairing.services import REASON_MAX
from portal.volunteers.forms import MultiCheckboxField, options

_MAX = _l("At most %(max)d characters.")


def _limit(name: str) -> Length:
    return Length(max=max_length(VisitBase, name), message=_MAX)


def _condition(label, hint=None) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[Optional()],
        description=hint,
        render_kw={"rows": 2},
    )


class VisitForm(PortalForm):
    visited_on = DateField(
        _l("Date of the visit"),
        validators=[InputRequired(_l("Enter the date of the visit.")), DateInRange()],
    )
    mode = ChoiceRadioField(
        _l("How you were in contact"),
        choices=options(visits.MODE_LABELS.items()),
        validators=[DataRequired(_l("Choose how you were in contact."))],
    )
    minutes = StringField(
        _l("Duration in minutes"),
        validators=[DataRequired(_l("Enter how many minutes the visit lasted."))],
        description=_l("From 5 to 720 minutes."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 5},
    )
    condition_study = _condition(_l("Study (optional)"))
    condition_life = _condition(_l("Daily life (optional)"))
    condition_psych = _condition(_l("Feelings (optional)"))
    condition_safety = _condition(
        _l("Safety (optional)"), _l("Required when you report a safety problem.")
    )
    safety_concern = BooleanField(_l("I saw a safety problem (township staff are alerted at once)"))
    help_given = MultiCheckboxField(
        _l("Help given (optional)"), choices=options(visits.HELP_LABELS.items())
    )
    help_note = StringField(_l("Details of the help (optional)"), validators=[Optional()])
    problems = _condition(_l("Problems (optional)"))
    follow_up = _condition(_l("Follow-up (optional)"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in visits.TEXT_FIELDS:
            self[name].validators = [*self[name].validators, _limit(name)]

    def data_for_service(self) -> dict:
        return {name: self[name].data for name in visits.FIELDS}


class ReturnForm(PortalForm):
    comment = TextAreaField(
        _l("What the volunteer should correct"),
        validators=[
            DataRequired(_l("Say what the volunteer should correct.")),
            Length(max=visits.COMMENT_MAX, message=_MAX),
        ],
        render_kw={"rows": 3, "maxlength": visits.COMMENT_MAX},
    )


class DeclineForm(PortalForm):
    reason = TextAreaField(
        _l("Why you decline (optional)"),
        validators=[Optional(), Length(max=REASON_MAX, message=_MAX)],
        description=_l("Township staff read it and can suggest another child."),
        render_kw={"rows": 2, "maxlength": REASON_MAX},
    )


class VisitFilterForm(PortalForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Show"),
        choices=options(
            [
                ("logged", _l("Waiting for confirmation")),
                ("returned", _l("Returned for correction")),
                ("confirmed", _l("Confirmed")),
                ("all", _l("All")),
            ]
        ),
        default="logged",
        validate_choice=False,
    )
