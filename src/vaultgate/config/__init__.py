"""Settings from ``VAULTGATE_*`` environment variables or a ``vaultgate.toml``; the environment wins, flags win.

The file is looked up at ``$VAULTGATE_CONFIG`` (which must then exist), else ``./vaultgate.toml``,
else ``<data dir>/vaultgate.toml``. Keys in the file are the variable names without the
``VAULTGATE_`` prefix, in lower case (``database_url = "postgresql://..."``). One typed model
(``settings.Settings``, on pydantic-settings) checks every value's type, range and choices; a
refusal is a ``ConfigError`` of one line naming where the value was set (docs/CONFIGURATION.md).
"""

from vaultgate.config.errors import ConfigError
from vaultgate.config.loading import LoadedSettings, load, load_with_origins
from vaultgate.config.messages import shown
from vaultgate.config.settings import DEFAULT_MAX_BODY_BYTES, Settings

# Public: these names (other packages import them from here, docs/ARCHITECTURE.md "Public names").
__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ConfigError",
    "LoadedSettings",
    "Settings",
    "load",
    "load_with_origins",
    "shown",
]
