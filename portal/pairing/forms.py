"""Forms of the pairing area.

The forms check what a browser can get wrong (a missing answer, a length); the rules (the age
limit, phone formats, the guardian's consent) live in the services, which mark every wrong
field at once, so a form never holds a second copy of a rule.
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
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from portal.core.fields import max_length
from portal.core.forms import ChoiceField, DateInRange, MultiCheckboxField, PortalForm, options
from portal.pairing import children
from portal.pairing.models import ChildBase, ChildStatus

_MAX = _l("At most %(max)d characters.")


# Children ---------------------------------------------------------------------------------


def _limit(name: str) -> Length:
    return Length(max=max_length(ChildBase, name), message=_MAX)


def _relations() -> list[SelectChoice]:
    return options([("", "—"), *children.RELATION_LABELS.items()])


class ChildForm(PortalForm):
    """A child's record and the guardian's consent (no ID number: minimal by design)."""

    name = StringField(_l("Child's name"), validators=[_limit("name")])
    sex = ChoiceField(_l("Sex"), choices=options([("", "—"), *children.SEX_LABELS.items()]))
    birth_date = DateField(
        _l("Birth date"),
        validators=[Optional(), DateInRange(min_year=1900)],
        description=_l("As on the household register. The child must be under 16."),
    )
    township_code = ChoiceField(_l("Township"))
    village = StringField(_l("Village or community"), validators=[_limit("village")])
    school = StringField(_l("School (optional)"), validators=[Optional(), _limit("school")])
    grade = StringField(
        _l("Grade or class (optional)"),
        validators=[Optional(), _limit("grade")],
        description=_l("Such as 三年级二班."),
    )
    guardian_name = StringField(_l("Guardian's name"), validators=[_limit("guardian_name")])
    guardian_relation = ChoiceField(_l("Guardian's relation to the child"), choices=_relations())
    guardian_phone = StringField(
        _l("Guardian's phone"),
        validators=[Length(max=20, message=_MAX)],
        description=_l("A mobile number, or a landline with its area code (0578-8123456)."),
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    parents_work_city = StringField(
        _l("Where the parents work (city, optional)"),
        validators=[Optional(), _limit("parents_work_city")],
    )
    needs = MultiCheckboxField(_l("Needs"), choices=options(children.NEED_LABELS.items()))
    notes = TextAreaField(
        _l("Notes (optional)"),
        validators=[Optional(), _limit("notes")],
        description=_l("Only what helps the support; no ID numbers or medical records."),
        render_kw={"rows": 4},
    )
    preferred_volunteer_sex = ChoiceField(
        _l("Preferred volunteer (optional)"),
        choices=options([("", _l("No preference")), *children.VOLUNTEER_SEX_LABELS.items()]),
    )
    consent_by = StringField(
        _l("Who consented"),
        validators=[_limit("consent_by")],
        description=_l("The guardian who agreed to this record being kept."),
    )
    consent_relation = ChoiceField(_l("Their relation to the child"), choices=_relations())
    consent_on = DateField(
        _l("Date of the consent"), validators=[Optional(), DateInRange(min_year=1900)]
    )
    consent_method = ChoiceField(
        _l("How they consented"),
        choices=options([("", "—"), *children.CONSENT_METHOD_LABELS.items()]),
    )
    consent_to_pairing = BooleanField(
        _l("The guardian also consents to pairing the child with a volunteer.")
    )

    def set_townships(self, choices: list[tuple[str, str]]) -> None:
        self.township_code.choices = options(
            choices if len(choices) == 1 else [("", "—"), *choices]
        )

    def data_for_service(self) -> dict:
        return {name: self[name].data for name in children.FIELDS}


class LeaveForm(PortalForm):
    """A child leaves the programme (turning 16 is recorded by the portal itself)."""

    reason = ChoiceField(
        _l("Why the child leaves"),
        choices=options(
            [
                ("", "—"),
                *((r.value, children.LEAVE_LABELS[r]) for r in children.STAFF_LEAVE_REASONS),
            ]
        ),
    )
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=children.NOTE_MAX, message=_MAX)],
        description=_l(
            "Required unless the parents returned: where the child moved, or what happened."
        ),
        render_kw={"rows": 3},
    )
    confirm = BooleanField(
        _l(
            "I confirm: the child leaves the programme, an active pairing closes and proposals "
            "are withdrawn."
        )
    )


class ChildFilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name, code or village"), validators=[Optional(), Length(max=40)])
    status = SelectField(
        _l("Status"),
        choices=options(
            [("", _l("All")), *((s.value, children.STATUS_LABELS[s]) for s in ChildStatus)]
        ),
        default=ChildStatus.IN_PROGRAMME.value,
        validators=[Optional()],
    )
    township = SelectField(_l("Township"), validators=[Optional()])
    need = SelectField(
        _l("Need"),
        choices=options([("", _l("All")), *children.NEED_LABELS.items()]),
        validators=[Optional()],
    )
