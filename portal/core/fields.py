"""Field limits defined once, on the model, and read by forms and services alike."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from portal.core.domain import DomainError
from portal.i18n import N_

# A person's name as the portal accepts it: Chinese characters or Latin letters, with the middle
# dot of ethnic-minority and transliterated names (阿依古丽·买买提) and spaces inside.
PERSON_NAME_RE = re.compile(
    r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·• .]*[\u3400-\u9fffA-Za-z]$"
)


def max_length(model: type, name: str) -> int:
    """The max_length declared on a model's field (`Field(max_length=...)`)."""
    for constraint in model.model_fields[name].metadata:
        limit = getattr(constraint, "max_length", None)
        if limit:
            return limit
    raise LookupError(f"{model.__name__}.{name} declares no max_length")


def validated(model: type, data: dict[str, Any]):
    """Build an input model (`XCreate`, `XUpdate`); its first problem becomes a DomainError.

    The message names the limit in the user's language and the error carries the field's
    name, so a view puts it on that field of the form.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem.get("loc") else None
        context = problem.get("ctx") or {}
        kind = problem["type"]
        if kind == "string_too_long":
            raise DomainError(
                N_("At most %(max)d characters."),
                field=field,
                params={"max": context.get("max_length", 0)},
            ) from None
        if kind in ("string_too_short", "missing"):
            raise DomainError(N_("Fill this in."), field=field) from None
        raise DomainError(N_("This value is not valid."), field=field) from None
