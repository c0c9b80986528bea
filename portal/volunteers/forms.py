"""Forms of the volunteers area: sign-up, profile, certificate, staff decisions.

The forms check what a browser can get wrong (a missing answer, a length); the rules (ID
checksum, age, uniqueness, Party details) live in `services.validate`, which marks every wrong
field at once, so a form never holds a second copy of a rule.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from portal.core.fields import max_length
from portal.core.forms import ChoiceField, DateInRange, MultiCheckboxField, PortalForm, options
from portal.volunteers import services
from portal.volunteers.models import POLITICAL_STATUSES, Category, VolunteerBase
from portal.volunteers.services import (
    AVAILABILITY_LABELS,
    CATEGORY_LABELS,
    ID_TYPE_LABELS,
    REASON_MAX,
    SEX_LABELS,
    SKILL_LABELS,
)

_MAX = _l("At most %(max)d characters.")


def _limit(name: str) -> Length:
    return Length(max=max_length(VolunteerBase, name), message=_MAX)


class ProfileFields(PortalForm):
    """The fields of a volunteer record (sign-up and profile alike)."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter your name.")), _limit("name")],
        description=_l("As on your identity document."),
        render_kw={"autocomplete": "name"},
    )
    id_type = ChoiceField(
        _l("Identity document"),
        choices=options((k.value, v) for k, v in ID_TYPE_LABELS.items()),
        default="resident_id",
    )
    id_number = StringField(
        _l("Identity document number"),
        validators=[Length(max=30, message=_MAX)],
        description=_l(
            "18 characters for an ID card. Birth date and sex are read from it. It is stored "
            "encrypted and never shown in full."
        ),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    birth_date = DateField(
        _l("Birth date (only for documents other than the ID card)"),
        validators=[Optional(), DateInRange(min_year=1900)],
    )
    sex = ChoiceField(
        _l("Sex (only for documents other than the ID card)"),
        choices=options([("", "—"), *SEX_LABELS.items()]),
        validators=[Optional()],
    )
    mobile = StringField(
        _l("Mobile number"),
        validators=[DataRequired(_l("Enter your mobile number.")), Length(max=13, message=_MAX)],
        description=_l("You log in with it."),
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )
    ethnicity = StringField(
        _l("Ethnicity (optional)"), validators=[Optional(), _limit("ethnicity")]
    )
    township_code = ChoiceField(
        _l("Township where you live"), validators=[DataRequired(_l("Choose your township."))]
    )
    village = StringField(
        _l("Village or community"),
        validators=[DataRequired(_l("Enter your village or community.")), _limit("village")],
    )
    political_status = ChoiceField(
        _l("Political status"),
        choices=options([("", "—"), *POLITICAL_STATUSES]),
        validators=[DataRequired(_l("Choose your political status."))],
    )
    category = ChoiceField(
        _l("I volunteer as"),
        choices=options([("", "—"), *((c.value, CATEGORY_LABELS[c]) for c in Category)]),
        validators=[DataRequired(_l("Choose the kind of volunteer you are."))],
    )
    employer = StringField(
        _l("Employer or Party organisation (optional)"), validators=[Optional(), _limit("employer")]
    )
    skills = MultiCheckboxField(_l("What you can help with"), choices=options(SKILL_LABELS.items()))
    skills_note = StringField(
        _l("Other skills (optional)"), validators=[Optional(), _limit("skills_note")]
    )
    availability = MultiCheckboxField(
        _l("When you can help"), choices=options(AVAILABILITY_LABELS.items())
    )
    preferred_township_code = ChoiceField(_l("Township you would prefer to serve in (optional)"))
    party_organisation = StringField(
        _l("Party organisation"), validators=[Optional(), _limit("party_organisation")]
    )
    residence_village = StringField(
        _l("Village or community where you live and report"),
        validators=[Optional(), _limit("residence_village")],
    )
    report_date = DateField(_l("Date you reported"), validators=[Optional(), DateInRange()])
    party_post = StringField(
        _l("Post or task you take on (optional)"), validators=[Optional(), _limit("party_post")]
    )

    def set_townships(self, choices: list[tuple[str, str]]) -> None:
        self.township_code.choices = options([("", "—"), *choices])
        self.preferred_township_code.choices = options([("", _l("No preference")), *choices])

    def data_for_service(self) -> dict:
        return {name: self[name].data for name in PROFILE_FORM_FIELDS}


PROFILE_FORM_FIELDS = (
    "name", "id_type", "id_number", "birth_date", "sex", "mobile", "ethnicity", "township_code",
    "village", "political_status", "category", "employer", "skills", "skills_note",
    "availability", "preferred_township_code", "party_organisation", "residence_village",
    "report_date", "party_post",
)  # fmt: skip


class SignupForm(ProfileFields):
    password = PasswordField(
        _l("Choose a password"),
        description=_l("At least 10 characters; not a common password."),
        render_kw={"autocomplete": "new-password"},
    )
    consent = BooleanField(
        _l("I have read and agree to the privacy notice and the volunteer agreement.")
    )


class ProfileForm(ProfileFields):
    pass


class CertificateForm(PortalForm):
    file = FileField(
        _l("No-criminal-record certificate (PDF, JPEG or PNG, at most 8 MB)"),
        validators=[FileRequired(_l("Choose a file."))],
    )


class ConsentForm(PortalForm):
    consent = BooleanField(
        _l("I have read and agree to the privacy notice and the volunteer agreement."),
        validators=[DataRequired(_l("To continue, agree to both texts."))],
    )


class WithdrawForm(PortalForm):
    confirm = BooleanField(
        _l("I understand what happens to my data and want to withdraw."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class VerifyForm(PortalForm):
    check_date = DateField(
        _l("Date of the check (on the certificate)"),
        validators=[DataRequired(_l("Enter the date of the check.")), DateInRange()],
    )
    training_date = DateField(
        _l("Training completed on (optional)"), validators=[Optional(), DateInRange()]
    )


class TrainingForm(PortalForm):
    training_date = DateField(
        _l("Training completed on"),
        validators=[DataRequired(_l("Enter the date of the training.")), DateInRange()],
    )


class ReasonForm(PortalForm):
    reason = TextAreaField(
        _l("Reason (the volunteer is told)"),
        validators=[
            DataRequired(_l("Give the reason; the volunteer is told it.")),
            Length(max=REASON_MAX, message=_MAX),
        ],
        render_kw={"rows": 3},
    )


class FilterForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name, number, mobile or village"), validators=[Optional(), Length(max=40)])
    status = SelectField(
        _l("Status"),
        choices=options(
            [("", _l("All")), *((s.value, label) for s, label in services.STATUS_LABELS.items())]
        ),
        validators=[Optional()],
    )
    township = SelectField(_l("Township"), validators=[Optional()])
    category = SelectField(
        _l("Kind"),
        choices=options([("", _l("All")), *((c.value, CATEGORY_LABELS[c]) for c in Category)]),
        validators=[Optional()],
    )
    check = SelectField(
        _l("Check"),
        choices=options(
            [
                ("", _l("All")),
                ("pending", _l("Certificate waiting")),
                ("expiring", _l("Expiring within 30 days")),
                ("expired", _l("Expired")),
            ]
        ),
        validators=[Optional()],
    )
