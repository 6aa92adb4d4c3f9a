"""``vaultgate key ...``"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import keys, rotation_sweep
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

# The limit options of key create, member limits and team limits (validated by the service layer).
RpmOption = Annotated[int | None, typer.Option("--rpm", help="Requests per minute")]
TpmOption = Annotated[int | None, typer.Option("--tpm", help="Tokens per minute (prompt + completion)")]
ConcurrencyOption = Annotated[int | None, typer.Option("--concurrency", help="Requests in flight at once")]
BudgetOption = Annotated[float | None, typer.Option("--budget", help="Spend cap in USD per budget period")]
BudgetPeriodOption = Annotated[str, typer.Option("--budget-period", help="day|month (UTC)")]


app = typer.Typer(help="Member keys: create (shown once), list, revoke.", no_args_is_help=True)

KEY_COLUMNS = ("id", "member", "name", "display", "status", "age_days", "rotation_due", "expires_at")
# ``key list`` also marks canaries and shows each key's last use (from the usage records).
LIST_COLUMNS = (*KEY_COLUMNS[:5], "canary", "last_used_at", *KEY_COLUMNS[5:])


def parse_privacy(text: str) -> Any:
    """The ``--privacy`` JSON (validated later with the rest of the policy); InvalidInput if not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput("invalid --privacy: not JSON (see docs/PRIVACY.md for the policy format)") from None


def parse_scopes(pairs: list[str]) -> dict[str, str]:
    """``GROUP=LEVEL`` pairs → mapping; InvalidInput (exit 2) on a malformed pair."""
    scopes: dict[str, str] = {}
    for pair in pairs:
        group, sep, level = pair.partition("=")
        if not sep:
            raise InvalidInput(f"invalid --scope {pair!r}: use GROUP=none|read|write")
        scopes[group.strip()] = level.strip()
    return scopes


# Data residency (docs/PROVIDERS.md): the same option on key create, team policy and org policy.
ResidencyOption = Annotated[
    str | None, typer.Option("--residency", help="Comma-separated geographies requests may be processed in (eu,us)")
]


def policy_options(
    models: str | None,
    scope: list[str] | None,
    ip: list[str] | None,
    privacy: str | None,
    allow_store: bool,
    residency: str | None = None,
    zero_retention: bool = False,
) -> dict[str, Any]:
    """The policy JSON from ``--models/--scope/--ip/--privacy/--allow-store/--residency/--zero-retention``
    (keys, teams, org)."""
    policy: dict[str, Any] = {
        "models": [m for m in (models or "").split(",") if m.strip()],
        "scopes": parse_scopes(scope or []),
        "ip_allow": ip or [],
        "allow_store": allow_store,
    }
    if privacy is not None:
        policy["privacy"] = parse_privacy(privacy)
    if residency is not None:
        policy["residency"] = [g.strip() for g in residency.split(",") if g.strip()]
    if zero_retention:
        policy["zero_retention"] = True
    return policy


ZeroRetentionOption = Annotated[
    bool,
    typer.Option(
        "--zero-retention", help="Leave nothing stored at the provider: stored objects, store, background refused"
    ),
]


@app.command("create")
def create(
    ctx: typer.Context,
    member: Annotated[str, typer.Option("--member", help="Member name or id")],
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated allowlist, wildcards allowed")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="GROUP=none|read|write (repeatable)")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="Allowed IP or CIDR (repeatable)")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Lifetime such as 90d, 12h, or an ISO time")] = None,
    not_before: Annotated[str | None, typer.Option("--not-before", help="Valid from: a delay (1h) or ISO time")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for the key")] = None,
    canary: Annotated[bool, typer.Option("--canary", help="A decoy: any use is refused and alerts")] = False,
    allow_store: Annotated[
        bool, typer.Option("--allow-store", help="Let requests ask the provider to store them")
    ] = False,
    zero_retention: ZeroRetentionOption = False,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrency: ConcurrencyOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = "month",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
    privacy: Annotated[
        str | None,
        typer.Option("--privacy", help='Privacy policy as JSON: {"pii": {"email": "mask"}, "secrets": "redact"}'),
    ] = None,
    residency: ResidencyOption = None,
) -> None:
    """Create a key for a member and print it once."""
    policy = policy_options(models, scope, ip, privacy, allow_store, residency=residency, zero_retention=zero_retention)
    created = keys.create(
        control_plane(ctx),
        LOCAL_OPERATOR,
        member,
        policy=policy,
        expires_in=expires,
        not_before=not_before,
        name=name,
        canary=canary,
        limits=limit_options(rpm, tpm, concurrency, budget, budget_period),
    )
    _print_created(created, as_json, "Created canary key" if canary else "Created key")


def limit_options(
    rpm: int | None, tpm: int | None, concurrency: int | None, budget: float | None, period: str
) -> dict[str, object]:
    """The ``limits`` document from CLI options (validated by the service layer)."""
    values = {"rpm": rpm, "tpm": tpm, "concurrency": concurrency, "budget_usd": budget}
    return {**{k: v for k, v in values.items() if v is not None}, "budget_period": period}


def _print_created(created: keys.CreatedKey, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json({**asdict(created.info), "key": created.token})
        return
    say(f"{verb} {created.info.id} for {created.info.member}. It is shown once; store it now:")
    typer.echo(created.token)


@app.command("list")
def list_(
    ctx: typer.Context,
    member: Annotated[str | None, typer.Option("--member", help="Only this member's keys")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """List keys (metadata only; secrets are never shown again)."""
    rows = keys.list_keys(control_plane(ctx), LOCAL_OPERATOR, member)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, LIST_COLUMNS)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (from 'key list')")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Revoke a key; every gateway replica refuses it within a second."""
    info = keys.revoke(control_plane(ctx), LOCAL_OPERATOR, key_id)
    if as_json:
        emit_json(info)
    else:
        say(f"Revoked {info.id} ({info.display}) of {info.member}.")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (from 'key list')")],
    grace: Annotated[str, typer.Option("--grace", help="How long the old secret keeps working (0s allowed)")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Issue a new secret under the same key id; the old one stops after the grace period."""
    created = keys.rotate(control_plane(ctx), LOCAL_OPERATOR, key_id, grace=grace)
    _print_created(created, as_json, "Rotated key")


@app.command("check-rotation")
def check_rotation(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Warn (audit + webhook) about keys past their team's max age; list them."""
    due = rotation_sweep.sweep(control_plane(ctx))
    if as_json:
        emit_json(due)
    else:
        emit_table(due, KEY_COLUMNS)
