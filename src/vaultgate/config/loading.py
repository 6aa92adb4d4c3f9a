"""``load``: the settings from the file, then the environment, then explicit overrides (CLI flags).

The layers are merged before validation, and each value remembers its layer, so a refusal names
the file key, the variable or the flag that set it, and ``vaultgate config check`` says where
every value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vaultgate.config import sources
from vaultgate.config.errors import ConfigError
from vaultgate.config.messages import render
from vaultgate.config.settings import Settings

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    """Settings, with where each value came from and which file (if any) was read."""

    settings: Settings
    # Setting name -> "default", "file", "environment" or "command line".
    origins: Mapping[str, str]
    file: Path | None


def load_with_origins(environ: Mapping[str, str] | None = None, **overrides: object) -> LoadedSettings:
    """Settings from the file, then ``environ`` (``os.environ`` by default), then overrides that are not None."""
    env = os.environ if environ is None else environ
    given = {name: value for name, value in overrides.items() if value is not None}
    data_dir = given.get("data_dir")
    path = sources.find_file(env, data_dir if isinstance(data_dir, str | Path) else None)
    layers = [
        *([sources.read_file(path)] if path else []),
        sources.environment(env),
        sources.Source("command line", given),
    ]
    values: dict[str, object] = {}
    origin: dict[str, sources.Source] = {}
    fields = Settings.model_fields
    for layer in layers:
        for name, value in layer.values.items():
            values[name] = value
            origin[name] = layer
    try:
        settings = Settings(**values)
    except ConfigError as exc:
        where = {name: layer.names(name) for name, layer in origin.items()}
        raise ConfigError(render(exc.problems, lambda name: where.get(name, name)), exc.problems) from None
    return LoadedSettings(settings, {name: origin[name].kind if name in origin else DEFAULT for name in fields}, path)


def load(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the file, then the environment, then explicit overrides (CLI flags)."""
    return load_with_origins(environ, **overrides).settings
