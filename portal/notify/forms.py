"""Contact preferences."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from portal.core.forms import PortalForm


class ContactPreferencesForm(PortalForm):
    notify_by_email = BooleanField(_l("Also send me messages by e-mail"))
    notify_by_sms = BooleanField(_l("Also send me messages by text message (SMS)"))
    language = SelectField(
        _l("Language of my messages"),
        choices=[SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")],
    )
