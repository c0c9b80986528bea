"""Whole numbers taken from URLs, bounded to what a database id column can hold.

Werkzeug's `<int:>` converts any run of digits, and a query for an id the column cannot hold
fails in the database (a 500). The portal's ids are `INTEGER` columns, 32-bit on PostgreSQL
(SQLAlchemy casts the parameter, so even 2147483648 is "integer out of range"), and SQLite
refuses anything above 64 bits. The portal installs `BoundedIntConverter` as its `int`
converter, so a larger number matches no route and the answer is 404; `id_number` does the
same for numbers read from the query string (`request.args.get("a", type=id_number)` gives
None for anything else).
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, ValidationError

MAX_ID = 2**31 - 1  # the largest INTEGER on PostgreSQL, the smallest of the databases used
_MAX_DIGITS = len(str(MAX_ID))


class BoundedIntConverter(IntegerConverter):
    """`<int:name>`: ASCII digits only, at most MAX_ID (a stricter `max=` still applies)."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False) -> None:
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=min,
            max=max if max is not None and max < MAX_ID else MAX_ID,
            signed=signed,
        )
        if signed:
            self.regex = r"-?[0-9]+"

    def to_python(self, value: str) -> int:
        if len(value.lstrip("-").lstrip("0")) > _MAX_DIGITS:
            raise ValidationError()
        value_num = super().to_python(value)
        if value_num < -MAX_ID - 1:  # signed=True
            raise ValidationError()
        return value_num


def id_number(value: str) -> int:
    """A query-string id: ASCII digits, 0 to MAX_ID; anything else raises ValueError."""
    if not value.isascii() or not value.isdigit() or len(value.lstrip("0")) > _MAX_DIGITS:
        raise ValueError(value)
    number = int(value)
    if number > MAX_ID:
        raise ValueError(value)
    return number
