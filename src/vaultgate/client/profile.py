"""The client's small non-secret settings: the default gateway, and where each gateway's key is kept.

``$XDG_CONFIG_HOME/vaultgate/client.json`` (``~/.config/vaultgate/client.json`` without it); the
directory is made 0700. It never holds a key: keys live in the keyring, or with ``--insecure-file``
in ``credentials.json`` beside it (mode 0600, see :mod:`vaultgate.client.key_store`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from vaultgate.client.errors import ClientError

Storage = Literal["keyring", "file"]
PROFILE_FILE = "client.json"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/vaultgate``, else ``~/.config/vaultgate`` (read when called: tests and children set it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vaultgate"


def ensure_dir(directory: Path) -> Path:
    """The directory, created readable by its owner only when new."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """The default gateway (set by the last ``vaultgate login``) and each logged-in gateway's storage."""

    default_gateway: str | None = None
    storage: MappingProxyType[str, Storage] = field(default_factory=lambda: MappingProxyType({}))

    def with_login(self, gateway: str, storage: Storage) -> ClientProfile:
        """After a login: the gateway is the default, its key kept in ``storage``."""
        return ClientProfile(gateway, MappingProxyType({**self.storage, gateway: storage}))

    def without(self, gateway: str) -> ClientProfile:
        """After a logout of ``gateway``: it stays the default (a URL is no secret), its storage forgotten."""
        return ClientProfile(
            self.default_gateway, MappingProxyType({g: s for g, s in self.storage.items() if g != gateway})
        )


def load(directory: Path | None = None) -> ClientProfile:
    """The saved profile (an empty one when there is none); ClientError naming the file when unreadable."""
    path = (directory or config_dir()) / PROFILE_FILE
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ClientProfile()
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {type(exc).__name__}; fix or delete it") from None
    if not isinstance(data, dict):
        raise ClientError(f"cannot read {path}: not a JSON object; fix or delete it")
    default = data.get("default_gateway")
    raw = data.get("gateways") or {}
    storage: dict[str, Storage] = {
        str(g): ("file" if isinstance(v, dict) and v.get("storage") == "file" else "keyring")
        for g, v in (raw.items() if isinstance(raw, dict) else ())
    }
    return ClientProfile(default if isinstance(default, str) else None, MappingProxyType(storage))


def save(profile: ClientProfile, directory: Path | None = None) -> Path:
    """Write the profile (replacing the file whole); its path."""
    folder = ensure_dir(directory or config_dir())
    path = folder / PROFILE_FILE
    document = {
        "default_gateway": profile.default_gateway,
        "gateways": {g: {"storage": s} for g, s in sorted(profile.storage.items())},
    }
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
