"""Forms of the staff pairing flow: suggestions, by hand, consent, closure, capacity."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core.forms import ChoiceField, DateInRange, PortalForm, options
from portal.pairing.services import CLOSE_LABELS, REASON_MAX

_MAX = _l("At most %(max)d characters.")
CONSENT_METHOD_LABELS = {
    "written": _l("In writing"),
    "in_person": _l("In person"),
    "phone": _l("By phone"),
}


class SwapForm(PortalForm):
    volunteer_id = ChoiceField(
        _l("Another volunteer"), validators=[DataRequired(_l("Choose a volunteer from the list."))]
    )


class ByHandForm(PortalForm):
    child_id = ChoiceField(_l("Child"), validators=[DataRequired(_l("Choose a child."))])
    volunteer_id = ChoiceField(
        _l("Volunteer"), validators=[DataRequired(_l("Choose a volunteer from the list."))]
    )
    override_reason = TextAreaField(
        _l("Reason for an exception (only when a limit is overridden)"),
        validators=[Optional(), Length(max=REASON_MAX, message=_MAX)],
        description=_l(
            "A neighbouring township not on the allowed list, the gender policy, or the waiting time after a closed pairing. Vetting and capacity are never overridden."
        ),
        render_kw={"rows": 2},
    )


class ConsentForm(PortalForm):
    consent_by = StringField(
        _l("Guardian who consented"),
        validators=[
            DataRequired(_l("Enter the name of the guardian who consented (2 to 20 characters).")),
            Length(max=20, message=_MAX),
        ],
    )
    consent_on = DateField(
        _l("Date of the consent"), validators=[DataRequired(_l("Enter the date.")), DateInRange()]
    )
    consent_method = ChoiceField(
        _l("How"),
        choices=options([("", "—"), *CONSENT_METHOD_LABELS.items()]),
        validators=[DataRequired(_l("Choose how the guardian consented."))],
    )


class CloseForm(PortalForm):
    close_reason = ChoiceField(
        _l("Why the pairing ends"),
        choices=options([("", "—"), *((k.value, v) for k, v in CLOSE_LABELS.items())]),
        validators=[DataRequired(_l("Choose why the pairing ends."))],
    )
    close_note = TextAreaField(
        _l("Closing note"),
        validators=[Optional(), Length(max=500, message=_MAX)],
        render_kw={"rows": 3},
    )


class CapacityForm(PortalForm):
    capacity = IntegerField(
        _l("Children this volunteer may support"),
        validators=[
            DataRequired(_l("Enter a number from 1 to 5.")),
            NumberRange(min=1, max=5, message=_l("Enter a number from 1 to 5.")),
        ],
    )
    reason = StringField(
        _l("Reason"), validators=[Optional(), Length(max=REASON_MAX, message=_MAX)]
    )
