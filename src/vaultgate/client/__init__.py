"""vaultgate on a member's machine: the key in the OS keyring, short-lived tokens, the official SDK unchanged.

One line in a notebook or a service::

    from vaultgate.client import openai_client
    client = openai_client()  # an openai.OpenAI whose every request carries a fresh vgt_ token

The long-lived member key comes from the argument ``key=``, else from ``vaultgate exec --refresh``'s
credential endpoint (``VAULTGATE_TOKEN_URL``), else from the keyring where ``vaultgate login`` put it.
This package imports nothing of the server (an import-linter contract checks it): see docs/CLIENT.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vaultgate.client.auth import TokenAuth
    from vaultgate.client.errors import ClientError
    from vaultgate.client.sdk import Connection, async_openai_client, connect, openai_client
    from vaultgate.client.token_source import TokenSource

# Loaded on first use (PEP 562): the `vaultgate` CLI imports vaultgate.client.errors at every start,
# and must not pay for keyring and httpx then.
_NAMES = {
    "ClientError": "vaultgate.client.errors",
    "Connection": "vaultgate.client.sdk",
    "TokenAuth": "vaultgate.client.auth",
    "TokenSource": "vaultgate.client.token_source",
    "async_openai_client": "vaultgate.client.sdk",
    "connect": "vaultgate.client.sdk",
    "openai_client": "vaultgate.client.sdk",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'vaultgate.client' has no attribute {name!r}")


# Public: the modules the CLI uses, and the names a notebook or service imports.
__all__ = [
    "ClientError",
    "Connection",
    "TokenAuth",
    "TokenSource",
    "async_openai_client",
    "auth",
    "connect",
    "credential_endpoint",
    "errors",
    "exec_child",
    "gateway_api",
    "gateway_url",
    "key_store",
    "openai_client",
    "profile",
    "sdk",
    "token_source",
]
