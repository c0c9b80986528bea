"""Document and index numbers: one spelling for what people type, the exact forms indexed."""

from __future__ import annotations

import pytest

from portal.search.numbers import doc_no_forms, index_no_forms, normalise, query_forms
from portal.search.sources import Document


@pytest.mark.parametrize(
    "typed",
    [
        "松政办发〔2017〕139号",
        "松政办发[2017]139号",
        "松政办发［2017］139号",
        "松政办发(2017)139号",
        "松政办发（2017）139号",
        "松政办发【2017】139号",
        "松政办发〔２０１７〕１３９号",
        " 松政办发 〔2017〕 139号 ",
    ],
)
def test_the_ways_a_document_number_is_typed_have_one_spelling(typed):
    assert normalise(typed) == "松政办发〔2017〕139号"


def test_a_document_number_is_indexed_whole_and_by_its_end():
    assert doc_no_forms("松政办发〔2017〕139号") == [
        "松政办发〔2017〕139号",
        "〔2017〕139号",
        "139号",
    ]
    assert doc_no_forms("国发[2016]13号") == ["国发〔2016〕13号", "〔2016〕13号", "13号"]
    assert doc_no_forms("KSYD01-2017-0024") == ["ksyd01-2017-0024"]  # not a 发文字号: as is
    assert doc_no_forms("  ") == []


def test_an_index_number_is_indexed_whole_and_by_its_serial():
    assert index_no_forms("1133252877070942X5/2017-06672") == [
        "1133252877070942x5/2017-06672",
        "2017-06672",
    ]
    assert index_no_forms("") == []


def test_a_query_holds_the_numbers_to_try_most_specific_first():
    assert query_forms("139号") == [["139号"]]
    assert query_forms("〔2017〕139号") == [["〔2017〕139号"]]
    forms = query_forms("关于松政办发[2017]139号 通知")
    assert ["松政办发〔2017〕139号"] not in forms  # the issuer's code is kept with it …
    [number] = [f for f in forms if "松政办发〔2017〕139号" in f]
    assert number[0] == "关于松政办发〔2017〕139号"  # … and what precedes it dropped in turn
    assert "〔2017〕139号" not in number  # never another issuer's document of that number
    assert ["通知"] in forms and ["关于松政办发〔2017〕139号"] in forms


def test_a_document_takes_only_known_metadata_and_drops_empty_values():
    document = Document(
        source="s",
        local_id="1",
        kind="policy",
        version="1",
        url="/",
        title="t",
        metadata={"doc_no": " 松政办发〔2017〕139号\n", "issuer": ""},
    )
    assert document.metadata == {"doc_no": "松政办发〔2017〕139号"}
    with pytest.raises(ValueError, match="unknown document metadata"):
        Document(
            source="s", local_id="1", kind="k", version="1", url="/", title="t", metadata={"x": 1}
        )
