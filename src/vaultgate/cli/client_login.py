"""``vaultgate login``, ``logout`` and ``whoami``: a member's key kept in the OS keyring, checked by the gateway.

The key is read hidden from the terminal (or from stdin with ``--with-token``), checked with
``GET /v1/vaultgate/whoami`` and only then stored; nothing here prints it (docs/CLIENT.md).
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from vaultgate.cli.output import emit_json, say
from vaultgate.client import profile
from vaultgate.client.errors import KeyRefused, UsageProblem

# vaultgate.client's keyring and HTTP modules are imported by the commands that use them, not by every
# `vaultgate` invocation (keyring and httpx cost about 60 ms of start-up).

GatewayOption = Annotated[
    str | None,
    typer.Option("--gateway", help="The gateway's URL (default: VAULTGATE_GATEWAY_URL, else the last login's)"),
]
InsecureHttpOption = Annotated[
    bool, typer.Option("--allow-insecure-http", help="Permit a plain http:// gateway on a loopback address only")
]
WithTokenOption = Annotated[bool, typer.Option("--with-token", help="Read the member key from stdin")]


def read_key(with_token: bool) -> str:
    """The member key from stdin (``--with-token``) or a hidden prompt; UsageProblem when it is not one."""
    from vaultgate.client.key_store import member_key

    if with_token:
        return member_key(sys.stdin.read())
    if not sys.stdin.isatty():
        raise UsageProblem("no terminal to ask for the key on: pipe it in with --with-token")
    return member_key(getpass.getpass("Member key (vgk_..., hidden): ", stream=sys.stderr))


def login(
    gateway: GatewayOption = None,
    with_token: WithTokenOption = False,
    insecure_file: Annotated[
        bool,
        typer.Option("--insecure-file", help="No keyring: keep the key in a 0600 file (warns each time)"),
    ] = False,
    allow_insecure_http: InsecureHttpOption = False,
) -> None:
    """Check a member key with the gateway and keep it in the OS keyring (never in a plain file unless asked)."""
    from vaultgate.client.gateway_api import GatewayClient
    from vaultgate.client.key_store import KeyStore
    from vaultgate.client.sdk import resolve_gateway

    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    store = KeyStore()
    storage: profile.Storage = "file" if insecure_file else "keyring"
    if storage == "keyring":
        store.keyring_name()  # refused before the key is asked for
    key = read_key(with_token)
    try:
        identity = GatewayClient(url).whoami(key)
    except KeyRefused:
        raise KeyRefused(
            f"the gateway at {url} does not accept this key: it is expired, revoked or unknown "
            "(ask your vaultgate admin for a new one)"
        ) from None
    where = store.save(url, key, storage)
    profile.save(profile.load().with_login(url, storage))
    team = f" (team {identity.get('team')})" if identity.get("team") else ""
    say(f"Logged in to {url} as {identity.get('member')}{team} with key {identity.get('key')}; kept in {where}.")


def logout(gateway: GatewayOption = None, allow_insecure_http: InsecureHttpOption = False) -> None:
    """Remove the stored member key of the gateway."""
    from vaultgate.client.key_store import KeyStore
    from vaultgate.client.sdk import resolve_gateway

    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    current = profile.load()
    removed = KeyStore().delete(url, current.storage.get(url, "keyring"))
    profile.save(current.without(url))
    say(f"Logged out of {url}: its key was removed." if removed else f"No key was stored for {url}: nothing to remove.")


def whoami(
    gateway: GatewayOption = None,
    allow_insecure_http: InsecureHttpOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Who the stored key speaks for: member, team, key display form, scopes, models, expiry (never the key)."""
    from vaultgate.client.gateway_api import GatewayClient
    from vaultgate.client.sdk import resolve_gateway, stored_key

    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    identity = GatewayClient(url).whoami(stored_key(url))
    if as_json:
        emit_json({"gateway": url, **identity})
        return
    for label, value in _lines(url, identity):
        typer.echo(f"{label:<10}{value}")


def _lines(url: str, identity: dict[str, Any]) -> list[tuple[str, str]]:
    scopes = identity.get("scopes") or {}
    narrowed = ", ".join(f"{g}={lvl}" for g, lvl in scopes.items() if lvl != "write")
    models = ", ".join(identity.get("models") or []) or "any"
    for ceiling in identity.get("model_ceilings") or []:
        models += f" (and within: {', '.join(ceiling)})"
    expires = identity.get("expires_at")
    when = "never" if expires is None else datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        ("gateway", url),
        ("member", str(identity.get("member"))),
        ("team", str(identity.get("team") or "-")),
        ("key", f"{identity.get('key')} ({identity.get('key_id')})"),
        ("scopes", f"write on every group except: {narrowed}" if narrowed else "write on every group"),
        ("models", models),
        ("expires", when),
    ]


def register(app: typer.Typer) -> None:
    """Add login, logout and whoami to the root command."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
