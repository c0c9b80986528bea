"""Forms for writing and reviewing publicity content."""

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.core.forms import DateInRange, PortalForm
from portal.publicity.services import (
    BODY_MAX,
    COLUMNS,
    COMMENT_MAX,
    META_FIELDS,
    META_LABELS,
    META_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
)


class ItemForm(PortalForm):
    kind = SelectField(_l("Column"), validators=[DataRequired(_l("Choose a column."))])
    slug = StringField(
        _l("Page address"),
        validators=[DataRequired(_l("Enter the address (for example 2026-parents-school)."))],
        description=_l("Part of the web address: a-z, 0-9 and hyphens. It cannot change later."),
    )
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Enter a title.")),
            Length(max=TITLE_MAX, message=_l("At most %(max)d characters.")),
        ],
    )
    summary = TextAreaField(
        _l("Summary"),
        validators=[Length(max=SUMMARY_MAX, message=_l("At most %(max)d characters."))],
        description=_l("One or two sentences, shown in lists and search results."),
    )
    body = TextAreaField(
        _l("Text"),
        validators=[Length(max=BODY_MAX, message=_l("This is too long."))],
        description=_l("Markdown: ## heading, - list, **bold**, [link](/pages/about)."),
        render_kw={"rows": 18},
    )
    policy_slug = StringField(
        _l("Address of the policy explained (interpretations only)"),
        validators=[Optional(), Length(max=80)],
    )
    related = StringField(
        _l("Related items (addresses, separated by commas)"),
        validators=[Optional(), Length(max=800)],
    )
    publish_at = DateTimeLocalField(
        _l("Publish at (optional)"),
        validators=[Optional(), DateInRange()],
        format="%Y-%m-%dT%H:%M",
        description=_l("China time. Empty: as soon as a reviewer approves."),
    )
    expire_at = DateTimeLocalField(
        _l("Expire at (optional)"),
        validators=[Optional(), DateInRange()],
        format="%Y-%m-%dT%H:%M",
    )
    index_no = StringField(META_LABELS["index_no"], validators=[Optional(), Length(max=META_MAX)])
    topic = StringField(META_LABELS["topic"], validators=[Optional(), Length(max=META_MAX)])
    issuer = StringField(META_LABELS["issuer"], validators=[Optional(), Length(max=META_MAX)])
    written = StringField(META_LABELS["written"], validators=[Optional(), Length(max=META_MAX)])
    doc_no = StringField(META_LABELS["doc_no"], validators=[Optional(), Length(max=META_MAX)])
    norm_no = StringField(META_LABELS["norm_no"], validators=[Optional(), Length(max=META_MAX)])
    validity = StringField(META_LABELS["validity"], validators=[Optional(), Length(max=META_MAX)])
    effective = StringField(META_LABELS["effective"], validators=[Optional(), Length(max=META_MAX)])

    def set_choices(self) -> None:
        self.kind.choices = [SelectChoice(str(c.kind), c.title) for c in COLUMNS]

    def meta_fields(self, kind: str) -> list:
        from portal.publicity.models import Kind

        try:
            names = META_FIELDS.get(Kind(kind), ())
        except ValueError:
            names = ()
        return [getattr(self, name) for name in names]


class ReturnForm(PortalForm):
    comment = TextAreaField(
        _l("What needs to change"),
        validators=[
            DataRequired(_l("Say what needs to change.")),
            Length(max=COMMENT_MAX, message=_l("At most %(max)d characters.")),
        ],
    )


class UploadForm(PortalForm):
    file = FileField(
        _l("File (PDF, JPEG or PNG, at most 8 MB)"), validators=[FileRequired(_l("Choose a file."))]
    )
