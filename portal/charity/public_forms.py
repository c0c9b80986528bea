"""Forms of the public emergency-aid pages: applying, following a request, adding documents.

The forms only carry what was typed; every rule (names, mobile, age, amount, account, the
documents a request needs) is checked by `requests.check_request`, which names each wrong field
at once, so a form never holds a second copy of a rule. Files are read here and checked by
`core.uploads` (type by content, size, images re-encoded) through the service.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.datastructures import FileStorage
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice

from portal.charity.models import AidKind, DocumentKind
from portal.charity.requests import DOCUMENT_LABELS, KIND_LABELS, RELATION_LABELS, RELATIONS
from portal.core.forms import ChoiceField, ChoiceRadioField, PortalForm
from portal.core.uploads import MAX_FILE_BYTES

# Empty file inputs offered on the form, each preset to a likely kind (one can be changed).
SLOT_KINDS = (
    DocumentKind.APPLICATION,
    DocumentKind.HOUSEHOLD,
    DocumentKind.IDENTITY,
    DocumentKind.MEDICAL,
    DocumentKind.VILLAGE,
    DocumentKind.OTHER,
)
ADD_SLOTS = 3  # on the tracking page, when more is asked for
ACCEPT = "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png"
SEX_LABELS = {"M": _l("Boy"), "F": _l("Girl")}
MAX_FILE_MB = MAX_FILE_BYTES // (1024 * 1024)


class FileInput(Field):
    """One file input (`<input type=file>`); its data is the uploaded FileStorage or None."""

    widget = widgets.FileInput()

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("render_kw", {"accept": ACCEPT})
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist) -> None:
        found = [v for v in valuelist if isinstance(v, FileStorage) and v.filename]
        self.data = found[0] if found else None


class ErrorAnchor(Field):
    """No input of its own: the place where the errors of a group of inputs are shown."""

    def widget(self, field, **kwargs) -> Markup:
        return Markup("")

    def process_formdata(self, valuelist) -> None:
        self.data = None


def document_choices() -> list[SelectChoice]:
    return [SelectChoice(k.value, DOCUMENT_LABELS[k]) for k in DocumentKind]


class DocumentSlots:
    """Numbered pairs of inputs: what the document is (`doc_kind_N`) and the file (`doc_file_N`)."""

    slots: int = 0

    def slot_fields(self) -> list[tuple[Field, Field]]:
        return [(self[f"doc_kind_{i}"], self[f"doc_file_{i}"]) for i in range(self.slots)]

    def chosen_files(self) -> list[tuple[int, str, FileStorage]]:
        """(slot, kind, file) for each slot where a file was chosen."""
        return [
            (i, kind.data or "", upload.data)
            for i, (kind, upload) in enumerate(self.slot_fields())
            if upload.data is not None
        ]


def _add_slots(cls, kinds) -> None:
    for i, kind in enumerate(kinds):
        setattr(
            cls,
            f"doc_kind_{i}",
            ChoiceField(
                _l("Document %(n)d: what it is", n=i + 1),
                choices=document_choices(),
                default=kind.value,
            ),
        )
        setattr(cls, f"doc_file_{i}", FileInput(_l("Document %(n)d: file", n=i + 1)))
    cls.slots = len(kinds)


class ApplyForm(DocumentSlots, PortalForm):
    """A request for emergency aid, without an account (应急救助申请)."""

    idempotency_key = HiddenField()
    applicant_name = StringField(
        _l("Your name"), render_kw={"autocomplete": "name", "maxlength": 20}
    )
    applicant_mobile = StringField(
        _l("Your mobile number"),
        description=_l(
            "11 digits. With the tracking number, it lets you follow the request on the "
            "tracking page."
        ),
        render_kw={"autocomplete": "tel", "inputmode": "numeric", "maxlength": 13},
    )
    applicant_relation = ChoiceRadioField(
        _l("You are the child's"),
        choices=[SelectChoice(code, RELATION_LABELS[code]) for code in RELATIONS],
    )
    child_name = StringField(_l("Child's name"), render_kw={"autocomplete": "off", "maxlength": 20})
    child_sex = ChoiceRadioField(
        _l("Child's sex"), choices=[SelectChoice(k, v) for k, v in SEX_LABELS.items()]
    )
    child_age = StringField(
        _l("Child's age"),
        description=_l("In years, 0 to 17."),
        render_kw={"inputmode": "numeric", "maxlength": 2, "autocomplete": "off"},
    )
    township_code = ChoiceField(_l("Township where the child lives"))
    village = StringField(
        _l("Village or community"), render_kw={"maxlength": 30, "autocomplete": "off"}
    )
    kind = ChoiceRadioField(
        _l("What happened"), choices=[SelectChoice(k.value, KIND_LABELS[k]) for k in AidKind]
    )
    emergency = BooleanField(
        _l("This is an emergency: the child needs help now (documents may follow)"),
        description=_l(
            "Emergencies are helped first (先行救助): the township answers within 24 hours and "
            "the documents can be added afterwards."
        ),
    )
    amount = StringField(
        _l("Amount asked for, in yuan"),
        description=_l("For example 3000. At most ¥100,000."),
        render_kw={"inputmode": "decimal", "maxlength": 16, "autocomplete": "off"},
    )
    story = TextAreaField(
        _l("What happened, and what the money is for"),
        description=_l(
            "A few sentences: when it happened, the child's situation now, the costs. At most "
            "2,000 characters."
        ),
        render_kw={"rows": 6, "maxlength": 2000},
    )
    account_holder = StringField(
        _l("Account holder"),
        description=_l("Usually the guardian."),
        render_kw={"maxlength": 20, "autocomplete": "off"},
    )
    account_bank = StringField(
        _l("Bank and branch"),
        description=_l("For example 松阳县农商银行西屏支行."),
        render_kw={"maxlength": 40, "autocomplete": "off"},
    )
    account_number = StringField(
        _l("Account or card number"),
        description=_l(
            "8 to 30 digits. It is stored encrypted and shown afterwards with only its last "
            "four digits."
        ),
        render_kw={"inputmode": "numeric", "maxlength": 40, "autocomplete": "off"},
    )
    documents = ErrorAnchor(_l("Documents"))
    consent = BooleanField(
        _l(
            "I agree that the charity federation and township staff use this information, the "
            "child's included, to handle the request; a public notice shows no names."
        )
    )

    def set_townships(self, pairs) -> None:
        self.township_code.choices = [SelectChoice("", _l("Choose…"))] + [
            SelectChoice(code, name) for code, name in pairs
        ]

    def data_for_service(self) -> dict:
        """What was typed, under the names `requests.submit` reads."""
        return {
            "applicant_name": self.applicant_name.data,
            "applicant_mobile": self.applicant_mobile.data,
            "applicant_relation": self.applicant_relation.data,
            "child_name": self.child_name.data,
            "child_sex": self.child_sex.data,
            "child_age": self.child_age.data,
            "township_code": self.township_code.data,
            "village": self.village.data,
            "kind": self.kind.data,
            "emergency": bool(self.emergency.data),
            "amount": self.amount.data,
            "story": self.story.data,
            "account_holder": self.account_holder.data,
            "account_bank": self.account_bank.data,
            "account_number": self.account_number.data,
            "consent": bool(self.consent.data),
        }


_add_slots(ApplyForm, SLOT_KINDS)


class TrackForm(PortalForm):
    """A tracking number and the mobile number the request was made with."""

    number = StringField(
        _l("Tracking number"),
        description=_l(
            "YJ and 10 digits, for example YJ2026000042, as shown on the page when you applied."
        ),
        render_kw={"autocomplete": "off", "maxlength": 16, "autocapitalize": "characters"},
    )
    mobile = StringField(
        _l("Mobile number"),
        description=_l("The applicant's mobile number given in the request."),
        render_kw={"autocomplete": "tel", "inputmode": "numeric", "maxlength": 13},
    )


class AddDocumentsForm(DocumentSlots, PortalForm):
    """The documents asked for, added to a request being followed."""

    documents = ErrorAnchor(_l("Documents"))
    note = TextAreaField(
        _l("A note for the staff (optional)"), render_kw={"rows": 3, "maxlength": 200}
    )


_add_slots(
    AddDocumentsForm,
    (DocumentKind.OTHER,) * ADD_SLOTS,
)
