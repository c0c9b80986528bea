"""Document and index numbers, as official documents print them and as people type them.

A document number (发文字号) is the issuer's code, the year in tortoise-shell brackets and a
serial: 松政办发〔2017〕139号. People type it with other brackets ([2017], (2017), 【2017】),
full-width digits or spaces, and often only its end (〔2017〕139号, 139号). An index number
(索引号) is a code, a slash and a serial: 1133252877070942X5/2017-06672.

Each number is indexed under a few exact forms (the whole number, and its end), so that the
search can put a document whose number the visitor typed first.
"""

from __future__ import annotations

import re
import unicodedata

_OPEN, _CLOSE = "〔", "〕"
_BRACKETS = str.maketrans(
    {
        **dict.fromkeys("[(【{〖［（｛", _OPEN),
        **dict.fromkeys("])】}〗］）｝", _CLOSE),
    }
)
# 松政办发〔2017〕139号 / 〔2017〕139号 / 139号, in normalised text.
DOC_NO = re.compile(
    rf"(?:(?P<issuer>[\u3400-\u9fff]*){_OPEN}(?P<year>\d{{4}}){_CLOSE})?(?P<serial>\d+)号"
)


def normalise(text: str) -> str:
    """One spelling: half-width letters and digits, lower case, 〔〕 brackets, no spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_BRACKETS)
    return "".join(text.split()).lower()


def doc_no_forms(doc_no: str) -> list[str]:
    """The exact forms a document number is found by: the whole, 〔year〕serial号, serial号."""
    whole = normalise(doc_no)
    if not whole:
        return []
    forms = [whole]
    match = DOC_NO.fullmatch(whole)
    if match:
        if match["year"]:
            forms.append(f"{_OPEN}{match['year']}{_CLOSE}{match['serial']}号")
        forms.append(f"{match['serial']}号")
    return list(dict.fromkeys(forms))


def index_no_forms(index_no: str) -> list[str]:
    """The whole index number, and its part after the last slash (2017-06672)."""
    whole = normalise(index_no)
    if not whole:
        return []
    return list(dict.fromkeys([whole, whole.rsplit("/", 1)[-1]]))


def query_forms(query: str) -> list[list[str]]:
    """The numbers a query holds, each as the forms to try, most specific first.

    The whole query and each of its space-separated pieces are tried as typed; a document
    number inside the text is tried without what precedes it ("关于松政办发〔2017〕139号的通知"
    tries 松政办发〔2017〕139号 and shorter beginnings). A number typed with its issuer's code is
    not taken for another issuer's number of the same year and serial.
    """
    found: list[list[str]] = []
    pieces = [normalise(query)] + [normalise(piece) for piece in query.split()]
    for piece in dict.fromkeys(p for p in pieces if p):
        found.append([piece])
        for match in DOC_NO.finditer(piece):
            issuer, year, serial = match["issuer"], match["year"], match["serial"]
            if issuer:
                tail = f"{_OPEN}{year}{_CLOSE}{serial}号"
                found.append([issuer[i:] + tail for i in range(len(issuer))])
            elif year:
                found.append([f"{_OPEN}{year}{_CLOSE}{serial}号"])
            else:
                found.append([f"{serial}号"])
    return [list(forms) for forms in dict.fromkeys(tuple(forms) for forms in found)]
