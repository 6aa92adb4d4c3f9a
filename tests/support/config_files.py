"""Helpers for the configuration tests: a file in place, and the one-line refusal of a configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vaultgate.config import ConfigError, load


def write_toml(path: Path, body: str | bytes) -> Path:
    """Write a configuration file (text, or bytes for files that are not UTF-8) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    return path


def file_error(path: Path, key: str) -> str:
    """The start of a refusal of ``key`` in the file at ``path``, as a regex."""
    return re.escape(f"{path.name} ({path.absolute()}): {key}: ")


def refusal(environ: dict[str, str] | None = None, **overrides: object) -> str:
    """The ConfigError message of ``load(environ, **overrides)``, which must be one line."""
    with pytest.raises(ConfigError) as info:
        load(environ or {}, **overrides)
    message = str(info.value)
    assert "\n" not in message
    return message
