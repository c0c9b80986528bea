"""Forms for managing staff accounts."""

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.auth.labels import OFFICE_LABELS, ROLE_LABELS
from portal.core.forms import PortalForm


class UserCreateForm(PortalForm):
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Enter the person's name.")),
            Length(max=40, message=_l("At most 40 characters.")),
        ],
    )
    phone = StringField(
        _l("Mobile number"),
        validators=[Optional(), Length(max=20, message=_l("This is too long."))],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    email = EmailField(
        _l("E-mail"),
        validators=[Optional(), Length(max=254, message=_l("This is too long."))],
        render_kw={"autocomplete": "off"},
    )
    role = SelectField(_l("Role"), validators=[DataRequired(_l("Choose a role."))])
    township_code = SelectField(_l("Township (township staff only)"), validators=[Optional()])
    office = SelectField(_l("Organising office (lecture organisers only)"), validators=[Optional()])

    def set_choices(self, townships: list[tuple[str, str]]) -> None:
        none = SelectChoice("", _l("None"))
        self.role.choices = [SelectChoice(str(k), v) for k, v in ROLE_LABELS.items()]
        self.township_code.choices = [none] + [SelectChoice(c, n) for c, n in townships]
        self.office.choices = [none] + [SelectChoice(str(k), v) for k, v in OFFICE_LABELS.items()]
