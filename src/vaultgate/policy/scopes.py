"""Endpoint groups and access levels, modelled on OpenAI's restricted keys."""

from __future__ import annotations

import enum

from vaultgate.gateway.endpoints import endpoint_of


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


def group_of(path: str) -> str | None:
    """The endpoint group of a ``/v1/...`` path, or None when vaultgate does not serve it.

    It comes from the endpoint templates (``gateway/endpoints.py``), the one table of what
    is served: a path no template matches has no group.
    """
    endpoint = endpoint_of(path)
    return endpoint.group if endpoint is not None else None


def required_level(method: str) -> Level:
    """The level a request needs: GET/HEAD read, everything else write."""
    return Level.READ if method in ("GET", "HEAD") else Level.WRITE


def parse_level(text: str) -> Level:
    """``none|read|write`` → Level; ValueError naming the accepted values otherwise."""
    try:
        return Level[text.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown access level {text!r}: use none, read or write") from None
