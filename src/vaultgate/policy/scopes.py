"""Endpoint groups and access levels, modelled on OpenAI's restricted keys."""

from __future__ import annotations

import enum


class Level(enum.IntEnum):
    """Access to an endpoint group: ``read`` allows GET, ``write`` allows everything."""

    NONE = 0
    READ = 1
    WRITE = 2


GROUPS: tuple[str, ...] = (
    "models",
    "chat",
    "embeddings",
    "moderations",
    "images",
    "audio",
    "files",
    "batches",
    "fine_tuning",
    "vector_stores",
    "assistants",
)

# First path segment after /v1/ → endpoint group.
_PATH_GROUPS = {
    "models": "models",
    "chat": "chat",
    "responses": "chat",
    "completions": "chat",
    "embeddings": "embeddings",
    "moderations": "moderations",
    "images": "images",
    "audio": "audio",
    "files": "files",
    "uploads": "files",
    "batches": "batches",
    "fine_tuning": "fine_tuning",
    "vector_stores": "vector_stores",
    "assistants": "assistants",
    "threads": "assistants",
}


def group_of(path: str) -> str | None:
    """The endpoint group of a ``/v1/...`` path, or None when vaultgate does not serve it."""
    if not path.startswith("/v1/"):
        return None
    head = path[4:].split("/", 1)[0]
    return _PATH_GROUPS.get(head)


def required_level(method: str) -> Level:
    """The level a request needs: GET/HEAD read, everything else write."""
    return Level.READ if method in ("GET", "HEAD") else Level.WRITE


def parse_level(text: str) -> Level:
    """``none|read|write`` → Level; ValueError naming the accepted values otherwise."""
    try:
        return Level[text.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown access level {text!r}: use none, read or write") from None
