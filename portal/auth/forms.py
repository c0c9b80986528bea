"""Forms for logging in and managing one's password."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.core.forms import PortalForm


class LoginForm(PortalForm):
    login = StringField(
        _l("Mobile number or e-mail"),
        validators=[
            DataRequired(_l("Enter your mobile number or e-mail address.")),
            Length(max=254, message=_l("This is too long.")),
        ],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Enter your password.")),
            Length(max=256, message=_l("This is too long.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me logged in on this device (volunteers, 14 days)"))


class ReauthForm(PortalForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )


class NewPasswordMixin:
    new = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password."))],
        render_kw={"autocomplete": "new-password", "minlength": 8},
        description=_l("At least 8 characters. A short sentence is easy to remember."),
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("new", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class PasswordChangeForm(PortalForm, NewPasswordMixin):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordResetForm(PortalForm, NewPasswordMixin):
    pass
