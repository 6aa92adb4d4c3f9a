"""vaultgate on a member's machine: the key in the OS keyring, short-lived tokens, the official SDK unchanged.

One line in a notebook or a service::

    from vaultgate.client import openai_client
    client = openai_client()  # an openai.OpenAI whose every request carries a fresh vgt_ token

The long-lived member key comes from the argument ``key=``, else from ``vaultgate exec --refresh``'s
credential endpoint (``VAULTGATE_TOKEN_URL``), else from the keyring where ``vaultgate login`` put it.
This package imports nothing of the server (an import-linter contract checks it): see docs/CLIENT.md.
"""

from vaultgate.client.auth import TokenAuth
from vaultgate.client.errors import ClientError
from vaultgate.client.sdk import Connection, async_openai_client, connect, openai_client
from vaultgate.client.token_source import TokenSource

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
