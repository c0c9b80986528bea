"""Identity documents: the 18-digit resident ID number (GB 11643-1999) and the others.

`parse()` checks a number for its document type and answers what can be derived from it: for a
resident ID card the birth date and sex; for the other documents nothing (the person gives them).
Errors are `DomainError`s on the `id_number` field, with a message that says what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from portal.core.domain import DomainError
from portal.i18n import N_

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
# First two digits: the provinces, regions and municipalities of the national division codes.
PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
    ]
)
OTHER_DOCUMENT_RE = re.compile(r"^[A-Z0-9]{5,20}$")


class IdType(StrEnum):
    RESIDENT_ID = "resident_id"  # 居民身份证
    HK_MACAO_PERMIT = "hk_macao"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan"  # 台湾居民来往大陆通行证
    PASSPORT = "passport"  # 护照
    FOREIGN_RESIDENT = "foreign_resident"  # 外国人永久居留身份证


@dataclass(frozen=True)
class ParsedId:
    id_type: IdType
    number: str  # normalised: upper case, no spaces
    birth_date: date | None = None
    sex: str | None = None  # "M" or "F"


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def _error(message: str, **params) -> DomainError:
    return DomainError(message, field="id_number", params=params or None)


def parse_resident_id(raw: str, *, today: date) -> ParsedId:
    number = re.sub(r"\s+", "", raw or "").upper()
    if not number:
        raise _error(N_("Enter the ID number."))
    if len(number) == 15 and number.isdigit():
        raise _error(
            N_(
                "15-digit ID numbers are no longer in use. Enter the 18-digit number on your "
                "current ID card."
            )
        )
    if (
        len(number) != 18
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise _error(N_("An ID number has 18 characters: 17 digits and a last digit or X."))
    if number[:2] not in PROVINCES:
        raise _error(N_("The first digits of this ID number are not a region code."))
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _error(
            N_("Digits 7 to 14 of an ID number are the birth date; these are not a date.")
        ) from None
    if born.year < 1900 or born > today:
        raise _error(N_("Digits 7 to 14 of an ID number are the birth date; these are not a date."))
    if check_character(number[:17]) != number[17]:
        raise _error(
            N_("This ID number is not valid: its last character does not match. Check each digit.")
        )
    sex = "M" if int(number[16]) % 2 else "F"
    return ParsedId(IdType.RESIDENT_ID, number, born, sex)


def parse(id_type: str, raw: str, *, today: date) -> ParsedId:
    """Check a document number of the given type (DomainError on `id_number` or `id_type`)."""
    try:
        kind = IdType(id_type)
    except ValueError:
        raise DomainError(N_("Choose the type of identity document."), field="id_type") from None
    if kind == IdType.RESIDENT_ID:
        return parse_resident_id(raw, today=today)
    number = re.sub(r"[\s-]+", "", raw or "").upper()
    if not number:
        raise _error(N_("Enter the ID number."))
    if not OTHER_DOCUMENT_RE.match(number):
        raise _error(N_("A document number has 5 to 20 letters and digits."))
    return ParsedId(kind, number)


def age_on(born: date, day: date) -> int:
    """Whole years of age on `day` (a person born on 29 February turns a year older on 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def make_resident_id(region: str, born: date, sequence: int, *, sex: str = "M") -> str:
    """A well-formed number (for demo data, tests and benchmarks): region, birth date, order.

    The order code's last digit is odd for men and even for women, as on real cards.
    """
    order = sequence % 1000
    if (order % 2 == 1) != (sex == "M"):
        order = (order + 1) % 1000
    first17 = f"{region}{born:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)
