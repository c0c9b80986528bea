"""Forms of the parents' school's public pages: booking a seat, finding a booking, filters.

The forms only carry what was typed; every rule (name, mobile, relation, township, seats, the
booker's name) is checked by `booking.check_input`, which names each wrong field at once, so a
form never holds a second copy of a rule.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.fields.choices import SelectChoice

from portal.core.forms import ChoiceField, ChoiceRadioField, PortalForm
from portal.parents_school.booking import CODE_LENGTH, MAX_SEATS, RELATION_LABELS
from portal.parents_school.models import RELATIONS
from portal.parents_school.services import TOPIC_LABELS


def topic_label(topic: str) -> str:
    return str(TOPIC_LABELS.get(topic, topic))


class BookingForm(PortalForm):
    """Booking seats at a lecture, without an account."""

    name = StringField(
        _l("Guardian's name"),
        description=_l("The person who will come to the lecture."),
        render_kw={"autocomplete": "name", "maxlength": 20},
    )
    mobile = StringField(
        _l("Mobile number"),
        description=_l("11 digits. With the booking code, it lets you see or cancel the booking."),
        render_kw={"autocomplete": "tel", "inputmode": "numeric", "maxlength": 13},
    )
    relation = ChoiceRadioField(
        _l("Relation to the child"),
        choices=[SelectChoice(code, RELATION_LABELS[code]) for code in RELATIONS],
    )
    township_code = ChoiceField(_l("Township where you live"))
    village = StringField(
        _l("Village or community"), render_kw={"maxlength": 30, "autocomplete": "off"}
    )
    seats = ChoiceField(
        _l("Seats"),
        description=_l("At most 3: for example a grandmother and a grandfather."),
        choices=[SelectChoice(str(n), str(n)) for n in range(1, MAX_SEATS + 1)],
        default="1",
    )
    for_someone_else = BooleanField(
        _l("I am booking for someone else (for example an elderly guardian)")
    )
    booked_by = StringField(
        _l("Your own name"),
        description=_l("Only when you book for someone else."),
        render_kw={"maxlength": 20},
    )

    def set_townships(self, pairs) -> None:
        self.township_code.choices = [SelectChoice("", _l("Choose…"))] + [
            SelectChoice(code, name) for code, name in pairs
        ]

    def data_for_booking(self) -> dict:
        """What was typed, under the names `booking.book` reads."""
        return {
            "name": self.name.data,
            "mobile": self.mobile.data,
            "relation": self.relation.data,
            "township_code": self.township_code.data,
            "village": self.village.data,
            "seats": self.seats.data,
            "for_someone_else": bool(self.for_someone_else.data),
            "booked_by": self.booked_by.data,
        }


class FindBookingForm(PortalForm):
    """A booking code and the mobile number it was made with."""

    code = StringField(
        _l("Booking code"),
        description=_l("8 letters and digits, as shown on the page when you booked."),
        render_kw={
            "autocomplete": "off",
            "maxlength": CODE_LENGTH + 4,
            "autocapitalize": "characters",
        },
    )
    mobile = StringField(
        _l("Mobile number"),
        description=_l("The number the booking was made with."),
        render_kw={"autocomplete": "tel", "inputmode": "numeric", "maxlength": 13},
    )
