"""Endpoint groups of served paths and the level each method needs."""

from __future__ import annotations

import pytest
from tests.policy.request_facts import group_of

from vaultgate.policy.scopes import GROUPS, Level, parse_level, required_level

SERVED = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "chat",
    "/v1/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/moderations": "moderations",
    "/v1/models": "models",
    "/v1/models/gpt-4o-mini": "models",
    "/v1/models/ft:gpt-4o:org:custom:abc123": "models",
    "/v1/images/generations": "images",
    "/v1/audio/transcriptions": "audio",
    "/v1/files": "files",
    "/v1/files/file-abc/content": "files",
    "/v1/uploads/upload_abc/parts": "files",
    "/v1/batches": "batches",
    "/v1/vector_stores/vs_abc/file_batches/vsfb_1/files": "vector_stores",
    "/v1/fine_tuning/jobs/ftjob-abc/events": "fine_tuning",
    "/v1/containers/cntr_abc/files/cfile_1/content": "containers",
    "/v1/conversations/conv_abc/items": "chat",
    "/v1/responses/resp_abc/input_items": "chat",
    "/v1/realtime/client_secrets": "realtime",
}


@pytest.mark.parametrize(("path", "group"), list(SERVED.items()))
def test_group_of_served_paths(path: str, group: str) -> None:
    assert group_of(path) == group
    assert group in GROUPS


@pytest.mark.parametrize(
    "path",
    [
        "/v1",
        "/v1/",
        "/v1/unknown",
        "/v1/admin/keys",
        "/admin/keys",
        "/v2/chat/completions",
        "/models",
        "/chat/completions",
        "",
        "/",
        "/v1/Chat/completions",
        # Not served (the Assistants beta): no template, no group (and 404).
        "/v1/threads/abc/runs",
        "/v1/assistants",
        # Anything but a template match: traversal, separators, extra or empty segments.
        "/v1/models/gpt-4o/../../files",
        "/v1/models/../files",
        "/v1/models/",
        "/v1/models/a/b",
        "/v1/chat/completions/",
        "/v1//chat/completions",
        "/v1/vaultgate/tokens",
    ],
)
def test_group_of_unserved_paths_is_none(path: str) -> None:
    assert group_of(path) is None


@pytest.mark.parametrize(("method", "level"), [("GET", Level.READ), ("HEAD", Level.READ)])
def test_reads_need_read(method: str, level: Level) -> None:
    assert required_level(method) is level


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"])
def test_everything_else_needs_write(method: str) -> None:
    assert required_level(method) is Level.WRITE


def test_levels_are_ordered() -> None:
    assert Level.NONE < Level.READ < Level.WRITE


@pytest.mark.parametrize(
    ("text", "level"),
    [("none", Level.NONE), ("read", Level.READ), ("write", Level.WRITE), (" WRITE ", Level.WRITE)],
)
def test_parse_level(text: str, level: Level) -> None:
    assert parse_level(text) is level


@pytest.mark.parametrize("text", ["admin", "", "rw", "1", "readwrite"])
def test_parse_level_rejects_unknown_levels_naming_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="use none, read or write") as info:
        parse_level(text)
    assert repr(text) in str(info.value)
