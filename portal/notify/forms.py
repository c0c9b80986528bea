"""Contact preferences."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField


class ContactPreferencesForm(FlaskForm):
    notify_by_email = BooleanField(_l("Also send me messages by e-mail"))
    notify_by_sms = BooleanField(_l("Also send me messages by text message (SMS)"))
    language = SelectField(
        _l("Language of my messages"),
        choices=[("zh_CN", "中文"), ("en", "English")],
    )
