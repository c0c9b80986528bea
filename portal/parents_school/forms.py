"""Forms of the organisers' pages and of the feedback page.

The forms check what a browser can get wrong (a length, a date that is not a date); the rules
(times, capacity, topics, townships) live in `services.check_input`, which names every wrong
field at once, so no form holds a second copy of a rule.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    FieldList,
    FormField,
    HiddenField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from portal.core.fields import max_length
from portal.core.forms import (
    ChoiceField,
    ChoiceRadioField,
    DateInRange,
    MultiCheckboxField,
    PortalForm,
    options,
)
from portal.parents_school import services
from portal.parents_school.models import LectureBase

_MAX = _l("At most %(max)d characters.")


def _limit(name: str) -> Length:
    return Length(max=max_length(LectureBase, name), message=_MAX)


def _time(label, hint=None) -> TimeField:
    return TimeField(
        label,
        validators=[Optional()],
        description=hint,
        render_kw={"step": 300},
    )


def _topics() -> list[SelectChoice]:
    return options([("", "—"), *services.TOPIC_LABELS.items()])


class LectureForm(PortalForm):
    title = StringField(_l("Title"), validators=[_limit("title")])
    topic = ChoiceField(_l("Topic"), choices=_topics())
    speaker = StringField(_l("Speaker"), validators=[_limit("speaker")])
    speaker_bio = TextAreaField(
        _l("About the speaker (optional)"),
        validators=[Optional(), _limit("speaker_bio")],
        description=_l("One or two sentences: their work and experience."),
        render_kw={"rows": 3},
    )
    township_code = ChoiceField(_l("Township"))
    venue = StringField(
        _l("Venue"),
        validators=[_limit("venue")],
        description=_l("Such as 村文化礼堂 or 儿童之家."),
    )
    day = DateField(
        _l("Day"), validators=[Optional(), DateInRange()], description=_l("China time.")
    )
    start_time = _time(_l("Starts at"))
    end_time = _time(_l("Ends at"), _l("Lectures usually last 1 to 1.5 hours."))
    capacity = StringField(
        _l("Seats"),
        description=_l("From 1 to 500. Guardians book until the seats are taken, then wait."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 5},
    )
    audience = StringField(
        _l("Audience (optional)"),
        validators=[Optional(), _limit("audience")],
        description=_l("Such as grandparents raising grandchildren."),
    )
    description = TextAreaField(
        _l("Description (optional)"),
        validators=[Optional(), _limit("description")],
        render_kw={"rows": 5},
    )

    def data_for_service(self) -> dict:
        return {name: self[name].data for name in self._fields if name != "csrf_token"}


class RepeatRowForm(PortalForm):
    class Meta:
        csrf = False

    township_code = ChoiceField(_l("Township"))
    day = DateField(_l("Day"), validators=[Optional(), DateInRange()])
    start_time = _time(_l("Starts at (optional)"))
    end_time = _time(_l("Ends at (optional)"))
    venue = StringField(
        _l("Venue"),
        validators=[Optional(), _limit("venue")],
    )


class RepeatForm(PortalForm):
    rows = FieldList(FormField(RepeatRowForm), min_entries=services.REPEAT_ROWS)

    def rows_for_service(self) -> list[services.RepeatRow]:
        return [
            services.RepeatRow(
                township_code=row.township_code.data or "",
                day=row.day.data,
                start_time=row.start_time.data,
                end_time=row.end_time.data,
                venue=(row.venue.data or "").strip() or None,
            )
            for row in self.rows
        ]


class CapacityForm(PortalForm):
    capacity = StringField(
        _l("Seats"),
        description=_l(
            "More seats confirm the waiting list in order; fewer than booked is refused."
        ),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 5},
    )


class CancelForm(PortalForm):
    reason = TextAreaField(
        _l("Why the lecture is cancelled"),
        validators=[Length(max=services.REASON_MAX, message=_MAX)],
        description=_l(
            "A text message with this reason is recorded for every booked or waiting guardian "
            "(text messages are not sent to phones yet)."
        ),
        render_kw={"rows": 3, "maxlength": services.REASON_MAX},
    )


class SearchForm(PortalForm):
    class Meta:
        csrf = False

    q = StringField(
        _l("Booking code, mobile or name"),
        description=_l("Scan the code on the guardian's phone, or type it and press Enter."),
        render_kw={"autocomplete": "off", "enterkeyhint": "search", "inputmode": "search"},
    )


class AttendanceForm(PortalForm):
    booking_id = HiddenField()
    attended = StringField(
        _l("Seats that came"),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 2},
    )


class WalkInForm(PortalForm):
    walk_ins = StringField(
        _l("People without a booking"),
        description=_l("Only the number; they sign the paper sheet."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 4},
    )


class FeedbackForm(PortalForm):
    rating = ChoiceRadioField(
        _l("How useful was the lecture?"),
        choices=options(
            [
                ("5", _l("5 – very useful")),
                ("4", _l("4 – useful")),
                ("3", _l("3 – so-so")),
                ("2", _l("2 – not very useful")),
                ("1", _l("1 – not useful")),
            ]
        ),
    )
    comment = TextAreaField(
        _l("What would you like to tell the organisers? (optional)"),
        validators=[Optional(), Length(max=services.COMMENT_MAX, message=_MAX)],
        render_kw={"rows": 4, "maxlength": services.COMMENT_MAX},
    )
    topics = MultiCheckboxField(
        _l("Topics you would like next (optional)"),
        choices=options(services.TOPIC_LABELS.items()),
    )


class PlanForm(PortalForm):
    class Meta:
        csrf = False

    year = ChoiceField(_l("Year"))
