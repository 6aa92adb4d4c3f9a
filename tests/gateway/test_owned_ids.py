"""The body-id tables (gateway/owned_ids.py) against the endpoint catalogue, and how ids are found."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from vaultgate.gateway.endpoints import ENDPOINTS
from vaultgate.gateway.owned_ids import BODY_IDS, DERIVED_IDS, FORGETS, KEEPS, IdField, body_ids
from vaultgate.gateway.templates import OBJECT_KINDS

NAMES = {e.name: e for e in ENDPOINTS}


@pytest.mark.parametrize("table", [BODY_IDS, DERIVED_IDS], ids=["body", "derived"])
def test_every_table_names_catalogue_endpoints_and_kinds(table: Mapping[str, tuple[IdField, ...]]) -> None:
    for name, fields in table.items():
        assert name in NAMES, f"{name} is not an endpoint of the catalogue"
        assert all(f.kind in OBJECT_KINDS for f in fields)
    assert set(FORGETS) | KEEPS <= set(NAMES)


def test_every_delete_of_an_owned_object_says_whether_it_deletes_it() -> None:
    """A new DELETE endpoint must be sorted into FORGETS (its success deletes the object) or KEEPS."""
    deletes = {e.name for e in ENDPOINTS if "DELETE" in e.methods and e.owned_parameters}
    assert deletes == set(FORGETS) | (KEEPS & deletes)
    assert not set(FORGETS) & KEEPS
    for name, parameter in FORGETS.items():
        assert parameter in {p.name for p in NAMES[name].owned_parameters}


def test_ids_are_found_in_strings_lists_and_id_objects() -> None:
    payload = {
        "previous_response_id": "resp_1",
        "conversation": {"id": "conv_1"},
        "input": [
            "plain text",
            {"role": "user", "content": "text"},
            {"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}, {"type": "input_text"}]},
            {"type": "function_call_output", "output": [{"type": "input_image", "file_id": "file-2"}]},
            {"type": "computer_call_output", "output": {"type": "computer_screenshot", "file_id": "file-3"}},
        ],
        "tools": [
            {"type": "file_search", "vector_store_ids": ["vs_1", "vs_2"]},
            {"type": "code_interpreter", "container": "cntr_1"},
            {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-4"]}},
        ],
    }
    found = [(f.param, object_id) for f, object_id in body_ids("responses", payload)]
    assert found == [
        ("previous_response_id", "resp_1"),
        ("conversation", "conv_1"),
        ("input.content.file_id", "file-1"),
        ("input.output.file_id", "file-2"),
        ("input.output.file_id", "file-3"),
        ("tools.vector_store_ids", "vs_1"),
        ("tools.vector_store_ids", "vs_2"),
        ("tools.container", "cntr_1"),
        ("tools.container.file_ids", "file-4"),
    ]


def test_absent_and_null_fields_name_nothing() -> None:
    assert list(body_ids("fine_tuning.jobs.create", {"training_file": "file-1", "validation_file": None})) == [
        (IdField("training_file", "file"), "file-1")
    ]
    assert list(body_ids("responses", {"input": "hi", "conversation": None})) == []
    assert list(body_ids("embeddings", {"input": "file-1"})) == []
