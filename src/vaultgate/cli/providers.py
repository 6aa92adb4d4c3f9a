"""``vaultgate provider ...``"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import credentials, providers
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

app = typer.Typer(help="Upstream providers; their keys are kept only encrypted.", no_args_is_help=True)

# Residency labels of add and update (docs/PROVIDERS.md, "Residency").
RegionOption = Annotated[str | None, typer.Option("--region", help="Cloud region, e.g. swedencentral")]
GeographyOption = Annotated[
    str | None, typer.Option("--geography", help="Where it processes requests: eu, us... (residency)")
]
DeploymentTypeOption = Annotated[
    str | None, typer.Option("--deployment-type", help="global|datazone|regional (global satisfies no residency)")
]


def read_api_key(env_var: str | None, from_stdin: bool) -> str | None:
    """The provider key from an environment variable or stdin; never from the command line."""
    if env_var and from_stdin:
        raise InvalidInput("use either --api-key-env or --api-key-stdin, not both")
    if env_var:
        value = os.environ.get(env_var, "").strip()
        if not value:
            raise InvalidInput(f"environment variable {env_var} is not set or empty")
        return value
    if from_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise InvalidInput("no API key on standard input")
        return value
    return None


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique provider name")],
    kind: Annotated[str, typer.Option("--kind", help="openai|azure|compatible|echo")],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="https:// base URL (…/v1 for OpenAI-style)")
    ] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Read the key from this variable")] = None,
    api_key_stdin: Annotated[bool, typer.Option("--api-key-stdin", help="Read the key from stdin")] = False,
    api_version: Annotated[str | None, typer.Option("--api-version", help="Azure api-version")] = None,
    deployment: Annotated[
        list[str] | None, typer.Option("--deployment", help="MODEL=DEPLOYMENT (Azure, repeatable)")
    ] = None,
    allow_insecure_http: Annotated[
        bool, typer.Option("--allow-insecure-http", help="Permit http:// to a loopback address only")
    ] = False,
    default: Annotated[
        bool | None, typer.Option("--default/--no-default", help="Serve models with no other route")
    ] = None,
    region: RegionOption = None,
    geography: GeographyOption = None,
    deployment_type: DeploymentTypeOption = None,
    azure_surface: Annotated[
        str | None, typer.Option("--azure-surface", help="Azure: deployments (default) or v1")
    ] = None,
    auth: Annotated[str | None, typer.Option("--auth", help="Azure: api-key (default) or entra")] = None,
    tenant_id: Annotated[str | None, typer.Option("--tenant-id", help="Entra ID tenant (GUID or domain)")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="Entra ID application (client) id")] = None,
    client_secret_env: Annotated[
        str | None, typer.Option("--client-secret-env", help="Read the Entra ID client secret from this variable")
    ] = None,
    token_url: Annotated[
        str | None, typer.Option("--token-url", help="Entra ID token endpoint (default: login.microsoftonline.com)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Register an upstream provider."""
    if client_secret_env and (api_key_env or api_key_stdin):
        raise InvalidInput("use either --client-secret-env or --api-key-env/--api-key-stdin, not both")
    api_key = read_api_key(client_secret_env or api_key_env, api_key_stdin)
    info = providers.add(
        control_plane(ctx),
        LOCAL_OPERATOR,
        name,
        kind=kind,
        base_url=base_url,
        api_key=api_key,
        api_version=api_version,
        deployments=providers.parse_deployments(deployment or []),
        allow_insecure_http=allow_insecure_http,
        make_default=default,
        region=region,
        geography=geography,
        deployment_type=deployment_type,
        azure_surface=azure_surface,
        auth=auth,
        tenant_id=tenant_id,
        client_id=client_id,
        token_url=token_url,
    )
    if as_json:
        emit_json(info)
    else:
        say(f"Added provider {info.name} ({info.kind}, {info.base_url}){' as the default' if info.is_default else ''}.")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """List providers (never their keys)."""
    rows = providers.list_providers(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("name", "kind", "base_url", "is_default", "has_key", "geography", "deployment_type"))


@app.command("update")
def update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    base_url: Annotated[str | None, typer.Option("--base-url", help="New https:// base URL (checked again)")] = None,
    api_version: Annotated[str | None, typer.Option("--api-version", help="Azure api-version")] = None,
    deployment: Annotated[
        list[str] | None, typer.Option("--deployment", help="MODEL=DEPLOYMENT (replaces the whole map; repeatable)")
    ] = None,
    region: RegionOption = None,
    geography: GeographyOption = None,
    deployment_type: DeploymentTypeOption = None,
    allow_insecure_http: Annotated[
        bool | None,
        typer.Option("--allow-insecure-http/--no-allow-insecure-http", help="Permit http:// to loopback only"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Change a provider's address, api-version, deployments or residency labels ("" clears a label)."""
    info = providers.update_provider(
        control_plane(ctx),
        LOCAL_OPERATOR,
        name,
        base_url=base_url,
        api_version=api_version,
        deployments=providers.parse_deployments(deployment) if deployment else None,
        region=region,
        geography=geography,
        deployment_type=deployment_type,
        allow_insecure_http=allow_insecure_http,
    )
    if as_json:
        emit_json(info)
    else:
        say(f"Updated provider {info.name} ({info.kind}, {info.base_url}).")


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove the default even though others exist (no default remains)")
    ] = False,
) -> None:
    """Delete a provider and its keys (refused while a route uses it)."""
    info = providers.remove(control_plane(ctx), LOCAL_OPERATOR, name, force=force)
    say(f"Removed provider {info.name}{' (it was the default: none is now)' if info.is_default else ''}.")


@app.command("set-default")
def set_default(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Provider name")]) -> None:
    """Serve every model that no route and no Azure deployment names from this provider."""
    info = providers.set_default(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Provider {info.name} is now the default.")


key_app = typer.Typer(help="A provider's credentials: add the new key, drain the old, remove it.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("add")
def key_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Read the key from this variable")] = None,
    api_key_stdin: Annotated[bool, typer.Option("--api-key-stdin", help="Read the key from stdin")] = False,
) -> None:
    """Add a new credential; new requests use it from the next refresh on."""
    api_key = read_api_key(api_key_env, api_key_stdin)
    if api_key is None:
        raise InvalidInput("give the new key with --api-key-env VAR or --api-key-stdin")
    info = credentials.add(control_plane(ctx), LOCAL_OPERATOR, name, api_key)
    say(f"Added credential {info.id} to {info.provider}; drain the old one when ready.")


@key_app.command("drain")
def key_drain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    cred_id: Annotated[str, typer.Argument(help="Credential id (from 'provider key list')")],
) -> None:
    """Stop using a credential for new requests (requests in flight finish)."""
    info = credentials.drain(control_plane(ctx), LOCAL_OPERATOR, name, cred_id)
    say(f"Credential {info.id} of {info.provider} is draining; remove it when in-flight requests are done.")


@key_app.command("remove")
def key_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    cred_id: Annotated[str, typer.Argument(help="Credential id")],
) -> None:
    """Delete a drained credential for good."""
    info = credentials.remove(control_plane(ctx), LOCAL_OPERATOR, name, cred_id)
    say(f"Removed credential {info.id} of {info.provider}.")


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Provider name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """A provider's credentials, newest first (never the keys)."""
    rows = credentials.list_credentials(control_plane(ctx), LOCAL_OPERATOR, name)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("id", "state", "created_at"))
