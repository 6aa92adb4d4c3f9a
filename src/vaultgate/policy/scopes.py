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
    "containers",
    "realtime",
)


def required_level(method: str) -> Level:
    """The level a request needs: GET/HEAD read, everything else write."""
    return Level.READ if method in ("GET", "HEAD") else Level.WRITE


def parse_level(text: str) -> Level:
    """``none|read|write`` → Level; ValueError naming the accepted values otherwise."""
    try:
        return Level[text.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown access level {text!r}: use none, read or write") from None
