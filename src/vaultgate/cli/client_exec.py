"""``vaultgate exec`` and ``vaultgate env``: commands get a short-lived ``vgt_`` token, never the stored key.

``exec`` runs COMMAND with exactly ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` added (and, with
``--refresh``, ``VAULTGATE_TOKEN_URL``, a loopback endpoint the parent serves fresh tokens on);
``env`` prints them as shell ``export`` lines. See docs/CLIENT.md.
"""

from __future__ import annotations

import os
import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from vaultgate.cli.client_login import GatewayOption, InsecureHttpOption, WithTokenOption, read_key
from vaultgate.cli.keys import parse_scopes
from vaultgate.cli.output import say
from vaultgate.client.errors import UsageProblem
from vaultgate.client.gateway_url import api_base
from vaultgate.services.keys import parse_duration

if TYPE_CHECKING:  # the commands import vaultgate.client's HTTP modules when they run (see client_login)
    from vaultgate.client.gateway_api import ShortLivedToken

MAX_TTL = 3600
TtlOption = Annotated[str, typer.Option("--ttl", help="The token's lifetime: 1s to 1h (default 15m)")]
ModelOption = Annotated[list[str] | None, typer.Option("--model", help="Narrow the token to this model (repeatable)")]
ScopeOption = Annotated[
    list[str] | None, typer.Option("--scope", help="Narrow the token: GROUP=none|read|write (repeatable)")
]


def _ttl_seconds(text: str) -> int:
    seconds = int(parse_duration(text).total_seconds())
    if not 1 <= seconds <= MAX_TTL:
        raise UsageProblem(f"--ttl must be between 1s and 1h (a short-lived token lives an hour at most), not {text}")
    return seconds


class _Exchange:
    """The stored (or piped) key, ready to be exchanged; the key stays in this process."""

    def __init__(self, url: str, with_token: bool, ttl: str, models: list[str] | None, scopes: list[str] | None):
        from vaultgate.client.gateway_api import GatewayClient
        from vaultgate.client.sdk import stored_key

        self.url = url
        self._seconds = _ttl_seconds(ttl)
        self._scopes = parse_scopes(scopes or [])
        self._models = models or []
        self._key = read_key(True) if with_token else stored_key(url)
        self._client = GatewayClient(url)

    def __call__(self) -> ShortLivedToken:
        return self._client.exchange(self._key, self._seconds, self._models, self._scopes)


def exec_command(
    command: Annotated[list[str], typer.Argument(metavar="-- COMMAND [ARGS]...", help="The command to run")],
    ttl: TtlOption = "15m",
    model: ModelOption = None,
    scope: ScopeOption = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Serve fresh tokens to the command on VAULTGATE_TOKEN_URL (long runs)")
    ] = False,
    gateway: GatewayOption = None,
    with_token: WithTokenOption = False,
    allow_insecure_http: InsecureHttpOption = False,
) -> None:
    """Run COMMAND with OPENAI_BASE_URL and a short-lived OPENAI_API_KEY; exits with its exit code."""
    from vaultgate.client import exec_child
    from vaultgate.client.credential_endpoint import CredentialEndpoint
    from vaultgate.client.sdk import resolve_gateway
    from vaultgate.client.token_source import TokenSource

    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    environment = dict(os.environ)
    exec_child.locate(command[0], environment)  # 127 before any token is bought
    exchange = _Exchange(url, with_token, ttl, model, scope)
    if not refresh:
        child = exec_child.child_environment(environment, api_base(url), exchange().token)
        raise typer.Exit(exec_child.run(command, child))
    source = TokenSource(exchange)
    first = source.current()
    endpoint = CredentialEndpoint(source).start()
    try:
        child = exec_child.child_environment(environment, api_base(url), first.token, endpoint.url)
        code = exec_child.run(command, child)
    finally:
        endpoint.close()
    raise typer.Exit(code)


def env_command(
    ttl: TtlOption = "15m",
    model: ModelOption = None,
    scope: ScopeOption = None,
    shell: Annotated[str, typer.Option("--shell", help="sh (bash, zsh...) or fish")] = "sh",
    gateway: GatewayOption = None,
    with_token: WithTokenOption = False,
    allow_insecure_http: InsecureHttpOption = False,
) -> None:
    """Print shell lines setting OPENAI_BASE_URL and a short-lived OPENAI_API_KEY (never the stored key)."""
    from vaultgate.client import exec_child
    from vaultgate.client.sdk import resolve_gateway

    if shell not in ("sh", "fish"):
        raise UsageProblem(f"--shell must be sh or fish, not {shell[:20]!r}")
    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    token = _Exchange(url, with_token, ttl, model, scope)()
    for name, value in ((exec_child.BASE_URL_VARIABLE, api_base(url)), (exec_child.API_KEY_VARIABLE, token.token)):
        quoted = shlex.quote(value)
        typer.echo(f"set -gx {name} {quoted};" if shell == "fish" else f"export {name}={quoted}")
    ends = datetime.fromtimestamp(token.expires_at, UTC).strftime("%H:%M:%S UTC")
    say(f"The token ends at {ends}; run `vaultgate env` again for a new one.")


def register(app: typer.Typer) -> None:
    """Add exec and env to the root command."""
    # Everything after COMMAND is the command's own (``vaultgate exec python -c ...`` works without ``--`` too).
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_command)
    app.command("env")(env_command)
