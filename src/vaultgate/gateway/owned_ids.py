"""Object ids that reach the gateway inside request bodies and answers: the declarative tables.

Path parameters name their object kind in the endpoint catalogue (``{file_id:file}``); ids in
bodies are declared here, per endpoint name, as paths into the JSON document:
``input[].content[].file_id`` walks the list ``input``, each item's list ``content``, and takes
each ``file_id``. The value found may be a string (one id), a list of strings (many) or an
object with a string ``id`` (``conversation: {"id": ...}``). docs/ACCESS.md, "Object ownership",
shows the same tables; ``tests/gateway/test_owned_ids.py`` checks every name is a catalogue endpoint.

- :data:`BODY_IDS`: ids a request names (each must be visible to the caller, else 404);
- :data:`DERIVED_IDS`: ids an answer reveals that belong to the owner of the object the request
  named, else to the caller (a batch's output file, a fine-tuning job's result files, a
  container's files, the container code interpreter made for a response);
- :data:`FORGETS`: DELETE endpoints whose success deletes the object named by that parameter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class IdField:
    """Where ids of one object kind sit in a JSON document."""

    path: str
    kind: str

    @property
    def param(self) -> str:
        """The field's name as the client wrote it (the ``param`` of a refusal): the path without ``[]``."""
        return self.path.replace("[]", "")

    def ids(self, document: Any) -> Iterator[str]:
        """Every id at this path in ``document`` (absent or null fields give none)."""
        yield from _walk(document, self.path.split("."))


def _walk(value: Any, steps: list[str]) -> Iterator[str]:
    if not steps:
        yield from _ids_of(value)
        return
    step, rest = steps[0], steps[1:]
    name, each = (step[:-2], True) if step.endswith("[]") else (step, False)
    if not isinstance(value, dict):
        return
    child = value.get(name)
    if each:
        if isinstance(child, list):
            for item in child:
                yield from _walk(item, rest)
    elif child is not None:
        yield from _walk(child, rest)


def _ids_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))
    elif isinstance(value, dict) and isinstance(value.get("id"), str):
        yield value["id"]


_FILE_IN_ITEMS = (IdField("items[].content[].file_id", "file"),)
BODY_IDS: Mapping[str, tuple[IdField, ...]] = MappingProxyType(
    {
        "responses": (
            IdField("previous_response_id", "response"),
            IdField("prompt_cache_options.comparison_response_id", "response"),
            IdField("conversation", "conversation"),
            IdField("input[].content[].file_id", "file"),  # input_file, input_image
            IdField("input[].output[].file_id", "file"),  # function_call_output with file content
            IdField("input[].output.file_id", "file"),  # computer_call_output screenshot
            IdField("tools[].vector_store_ids", "vector_store"),  # file_search
            IdField("tools[].container", "container"),  # code_interpreter: a container id ...
            IdField("tools[].container.file_ids", "file"),  # ... or {"type": "auto", "file_ids": [...]}
        ),
        "chat.completions": (IdField("messages[].content[].file.file_id", "file"),),
        "batches.create": (IdField("input_file_id", "file"),),
        "fine_tuning.jobs.create": (IdField("training_file", "file"), IdField("validation_file", "file")),
        "vector_stores.create": (IdField("file_ids", "file"),),
        "vector_stores.files.create": (IdField("file_id", "file"),),
        "vector_stores.file_batches.create": (IdField("file_ids", "file"), IdField("files[].file_id", "file")),
        "containers.create": (IdField("file_ids", "file"),),
        "containers.files.create": (IdField("file_id", "file"),),
        "conversations.create": _FILE_IN_ITEMS,
        "conversations.items.create": _FILE_IN_ITEMS,
    }
)

# A container code interpreter made for a response (``container: {"type": "auto"}``).
_RESPONSE_CONTAINERS = (IdField("output[].container_id", "container"),)
DERIVED_IDS: Mapping[str, tuple[IdField, ...]] = MappingProxyType(
    {
        "responses": _RESPONSE_CONTAINERS,
        "responses.retrieve": _RESPONSE_CONTAINERS,
        "uploads.complete": (IdField("file", "file"),),
        "batches.retrieve": (IdField("output_file_id", "file"), IdField("error_file_id", "file")),
        "batches.cancel": (IdField("output_file_id", "file"), IdField("error_file_id", "file")),
        "fine_tuning.jobs.retrieve": (IdField("result_files", "file"),),
        "containers.files.list": (IdField("data[]", "container_file"),),
    }
)

# DELETE endpoint → the parameter whose object the deletion removes. ``vector_stores.files.delete``
# is absent on purpose: it takes a file out of a vector store, the file itself stays.
FORGETS: Mapping[str, str] = MappingProxyType(
    {
        "chat.completions.delete": "completion_id",
        "responses.delete": "response_id",
        "conversations.delete": "conversation_id",
        "files.delete": "file_id",
        "vector_stores.delete": "vector_store_id",
        "containers.delete": "container_id",
        "containers.files.delete": "file_id",
    }
)
# DELETE endpoints that delete nothing the directory holds (checked complete by the tests).
KEEPS: frozenset[str] = frozenset({"vector_stores.files.delete", "conversations.items.delete"})


def body_ids(endpoint: str, payload: Any) -> Iterator[tuple[IdField, str]]:
    """Every (field, id) a request body of ``endpoint`` names."""
    for id_field in BODY_IDS.get(endpoint, ()):
        for object_id in id_field.ids(payload):
            yield id_field, object_id
