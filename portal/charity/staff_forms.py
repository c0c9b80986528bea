"""Forms of the staff pages of emergency aid.

The forms check what a browser can get wrong (a missing answer, a length); amounts are typed
in yuan and parsed by `ledger.parse_yuan`, and every money rule lives in the services.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.charity import requests
from portal.charity.funds import KIND_LABELS
from portal.core.forms import ChoiceField, DateInRange, PortalForm, options

_MAX = _l("At most %(max)d characters.")


class QueueFilterForm(PortalForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=options(
            [
                ("", _l("Open and approved")),
                *((s.value, label) for s, label in requests.STATUS_LABELS.items()),
            ]
        ),
        validators=[Optional()],
    )


class CheckForm(PortalForm):
    note = TextAreaField(
        _l("Note of the check (optional)"),
        validators=[Optional(), Length(max=500, message=_MAX)],
        description=_l("What the township and the village know of the family."),
        render_kw={"rows": 2},
    )


class AskForm(PortalForm):
    what = TextAreaField(
        _l("What the applicant should add"),
        validators=[
            DataRequired(_l("Say what the applicant should add.")),
            Length(max=500, message=_MAX),
        ],
        render_kw={"rows": 2},
    )


class RejectForm(PortalForm):
    reason = TextAreaField(
        _l("Reason (the applicant is told it)"),
        validators=[
            DataRequired(_l("Give the reason; the applicant is told it.")),
            Length(max=500, message=_MAX),
        ],
        render_kw={"rows": 2},
    )


class ProposeForm(PortalForm):
    fund_id = ChoiceField(_l("Fund"), validators=[DataRequired(_l("Choose the fund."))])
    amount = StringField(
        _l("Amount (yuan)"),
        validators=[DataRequired(_l("Enter the amount in yuan.")), Length(max=20, message=_MAX)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    cap_reason = TextAreaField(
        _l("Reason for exceeding the yearly cap (only when needed)"),
        validators=[Optional(), Length(max=200, message=_MAX)],
        render_kw={"rows": 2},
    )


class ApproveForm(PortalForm):
    """Nothing to type: the CSRF token and the button."""


class PayForm(PortalForm):
    reference = StringField(
        _l("Bank payment reference"),
        validators=[
            DataRequired(_l("Enter the bank's payment reference (4 to 60 characters).")),
            Length(max=60, message=_MAX),
        ],
        render_kw={"autocomplete": "off"},
    )


class FundEditForm(PortalForm):
    """What may change in a fund once it exists (its name, kind and principal rule may not)."""

    donor_public = BooleanField(_l("The donor agrees to be named in public"))
    purpose = TextAreaField(
        _l("Purpose"),
        validators=[
            DataRequired(_l("Say what the fund is for (2 to 200 characters).")),
            Length(max=200, message=_MAX),
        ],
        render_kw={"rows": 2},
    )
    earmark = StringField(
        _l("Earmark (optional)"),
        validators=[Optional(), Length(max=100, message=_MAX)],
        description=_l("For example: children with serious illness in Xiping."),
    )


class FundForm(FundEditForm):
    """A new fund: what may change later, and what is fixed when it is created."""

    name = StringField(
        _l("Name of the fund"),
        validators=[
            DataRequired(_l("Enter the fund's name (2 to 60 characters).")),
            Length(max=60, message=_MAX),
        ],
    )
    kind = ChoiceField(
        _l("Kind"),
        choices=options([("", "—"), *((k.value, v) for k, v in KIND_LABELS.items())]),
        validators=[DataRequired(_l("Choose the kind of fund."))],
    )
    donor = StringField(_l("Donor"), validators=[Optional(), Length(max=60, message=_MAX)])
    keep_principal = BooleanField(
        _l("Keep the principal (only income may be granted)"),
    )


class FundCloseForm(PortalForm):
    reason = StringField(
        _l("Why is the fund closed?"),
        validators=[
            DataRequired(_l("Say why the fund is closed (2 to 200 characters).")),
            Length(max=200, message=_MAX),
        ],
        description=_l(
            "For example: the donor's agreement has ended. It is kept in the audit log."
        ),
    )


class EntryForm(PortalForm):
    amount = StringField(
        _l("Amount (yuan)"),
        validators=[DataRequired(_l("Enter the amount in yuan.")), Length(max=20, message=_MAX)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    booked_on = DateField(
        _l("Date"), validators=[DataRequired(_l("Enter the date.")), DateInRange()]
    )
    reference = StringField(
        _l("Receipt or bank reference"), validators=[Optional(), Length(max=60, message=_MAX)]
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200, message=_MAX)])


class ReverseForm(PortalForm):
    note = TextAreaField(
        _l("Why the entry is reversed"),
        validators=[
            DataRequired(_l("Say why the entry is reversed.")),
            Length(max=200, message=_MAX),
        ],
        render_kw={"rows": 2},
    )
    confirm = BooleanField(
        _l("I understand that the opposite amount is booked today and cannot be undone"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
