"""A usage row keeps a model name only when it is a model; anything else is stored as 'other'."""

from __future__ import annotations

import pytest

from vaultgate.usage.events import OTHER_MODEL, model_label

LISTED = frozenset({"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"})


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "text-embedding-3-small", "llama-3.1-8b-instruct", "o3"],
)
def test_model_names_are_kept(model: str) -> None:
    assert model_label(model, LISTED) == model


@pytest.mark.parametrize(
    "model",
    [
        "gpt-" + "x" * 400,
        "AKIA" + "Q3EXAMPLEQ3EXAMPLE"[::-1],
        "sk-proj-abc123def456ghi789",
        "gpt-4o jane@example.com",
        "a1b2c3d4e5f6a7b8c9d0",
        "Bearer something",
    ],
)
def test_anything_else_is_stored_as_other(model: str) -> None:
    assert model_label(model, LISTED) == OTHER_MODEL


def test_the_model_of_a_content_refusal_is_never_kept() -> None:
    assert model_label("gpt-4o", LISTED, refused_content=True) == OTHER_MODEL
    assert model_label(None, LISTED) is None
