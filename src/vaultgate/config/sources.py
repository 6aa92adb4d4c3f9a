"""Where settings come from: the ``vaultgate.toml`` file, ``VAULTGATE_*`` variables, explicit overrides.

Each source yields raw values (TOML-typed, strings, or Python values) and names a setting the way
its user wrote it: ``vaultgate.toml (/etc/vg/vaultgate.toml): port``, ``VAULTGATE_PORT``, ``--port``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from vaultgate.config.errors import ConfigError
from vaultgate.config.settings import Settings

CONFIG_VARIABLE = "VAULTGATE_CONFIG"
FILE_NAME = "vaultgate.toml"


@dataclass(frozen=True, slots=True)
class Source:
    """One layer of values and how its user names a setting in it."""

    kind: str  # "file", "environment" or "command line"
    values: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the file, for kind "file"

    def names(self, setting: str) -> str:
        """The setting as written in this source: the file key, the variable, or the flag."""
        if self.kind == "file" and self.path is not None:
            return f"{file_label(self.path)}: {setting}"
        if self.kind == "environment":
            return f"VAULTGATE_{setting.upper()}"
        if self.kind == "command line":
            return "--" + setting.replace("_", "-")
        return setting


class _EnvironmentValues(EnvSettingsSource):
    """pydantic-settings' reading of ``VAULTGATE_*`` variables, from a given mapping rather than ``os.environ``.

    Only variables named after a setting are read: others sharing the prefix (``VAULTGATE_CONFIG``,
    ``VAULTGATE_TEST_POSTGRES_URL``, ...) belong to other tools and are ignored, never refused.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ  # before super().__init__, which loads the variables
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The one hook pydantic-settings has for where variables come from (its .env source overrides it too).
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def environment(environ: Mapping[str, str]) -> Source:
    """The values of the ``VAULTGATE_*`` variables named after settings (empty ones are unset)."""
    return Source("environment", _EnvironmentValues(environ)())


def file_label(path: Path) -> str:
    """How errors name a configuration file: ``vaultgate.toml (/abs/path/vaultgate.toml)``."""
    return f"{path.name} ({path.absolute()})"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as exc:  # a directory on the way that may not be searched
        raise ConfigError(f"{file_label(path)}: cannot be read: {exc.strerror}") from None


def find_file(environ: Mapping[str, str], data_dir: Path | str | None) -> Path | None:
    """``$VAULTGATE_CONFIG`` (which must exist), else ``./vaultgate.toml``, else ``<data dir>/vaultgate.toml``."""
    explicit = environ.get(CONFIG_VARIABLE)
    if explicit:
        path = Path(explicit)
        if not _is_file(path):
            raise ConfigError(f"{CONFIG_VARIABLE}: no configuration file at {path.absolute()}")
        return path
    data_dir = data_dir or environ.get("VAULTGATE_DATA_DIR") or Settings.model_fields["data_dir"].default
    for path in (Path(FILE_NAME), Path(data_dir) / FILE_NAME):
        if _is_file(path):
            return path
    return None


def read_file(path: Path) -> Source:
    """The settings in a TOML file; ConfigError naming the file if it cannot be read, decoded or parsed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file_label(path)}: cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not an error
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file_label(path)}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); save it as UTF-8"
        ) from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file_label(path)}: not valid TOML: {exc}") from None
    return Source("file", values, path)
