"""``vaultgate team ...``, ``vaultgate org policy``, ``vaultgate lockdown on|off``, ``vaultgate admin-token ...``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.keys import (
    BudgetOption,
    BudgetPeriodOption,
    ConcurrencyOption,
    ResidencyOption,
    RpmOption,
    TpmOption,
    ZeroRetentionOption,
    limit_options,
    policy_options,
)
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import admin_tokens, org, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

team_app = typer.Typer(help="Teams: the ceiling every member's keys are held under.", no_args_is_help=True)
org_app = typer.Typer(help="The organisation: the ceiling every team and key is held under.", no_args_is_help=True)
token_app = typer.Typer(help="Admin API tokens (vga_): per person, role-scoped, expiring.", no_args_is_help=True)
TEAM_COLUMNS = ("name", "suspended", "policy", "max_key_age_days", "expire_overdue_keys")


@team_app.command("create")
def team_create(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Team name")]) -> None:
    """Create a team."""
    info = teams.create(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Created team {info.name}.")


@team_app.command("rename")
def team_rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The team's current name")],
    new: Annotated[str, typer.Argument(help="Its new name")],
) -> None:
    """Rename a team (members, keys, ceiling and usage stay)."""
    info = teams.rename(control_plane(ctx), LOCAL_OPERATOR, old, new)
    say(f"Team {old} is now {info.name}.")


@team_app.command("delete")
def team_delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Team name")]) -> None:
    """Delete a team; refused while it has members."""
    teams.delete(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Deleted team {name}.")


@team_app.command("list")
def team_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False
) -> None:
    """List teams with their ceilings."""
    rows = teams.list_teams(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, TEAM_COLUMNS)


@team_app.command("policy")
def team_policy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Team name")],
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated model allowlist (ceiling)")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="GROUP=none|read|write (repeatable)")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="Allowed IP or CIDR (repeatable)")] = None,
    privacy: Annotated[str | None, typer.Option("--privacy", help="The team's default privacy policy as JSON")] = None,
    allow_store: Annotated[
        bool, typer.Option("--allow-store", help="Let the team's keys allow provider-side storing (default: forbidden)")
    ] = False,
    residency: ResidencyOption = None,
    zero_retention: ZeroRetentionOption = False,
    max_key_age: Annotated[int | None, typer.Option("--max-key-age", help="Days before a key is due")] = None,
    expire_overdue: Annotated[
        bool | None, typer.Option("--expire-overdue/--warn-overdue", help="Expire keys past the max age")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Set the team's ceiling (keys can only narrow it) and key-age rules."""
    policy: dict[str, Any] | None = None
    given = models is not None or scope or ip or privacy is not None or allow_store or residency is not None
    if given or zero_retention:
        policy = policy_options(
            models, scope, ip, privacy, allow_store, residency=residency, zero_retention=zero_retention
        )
    if policy is None and max_key_age is None and expire_overdue is None:
        raise InvalidInput(
            "nothing to set: give --models, --scope, --ip, --privacy, --allow-store, --residency, --zero-retention,"
            " --max-key-age or --expire-overdue"
        )
    info = teams.set_policy(
        control_plane(ctx),
        LOCAL_OPERATOR,
        name,
        policy=policy,
        max_key_age_days=max_key_age,
        expire_overdue_keys=expire_overdue,
    )
    if as_json:
        emit_json(info)
    else:
        say(f"Team {info.name}: ceiling {info.policy}, max key age {info.max_key_age_days} days.")


@team_app.command("limits")
def team_limits(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Team name")],
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrency: ConcurrencyOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = "month",
) -> None:
    """Set the limits shared by every key of the team (no options: remove them)."""
    parsed = teams.set_limits(
        control_plane(ctx), LOCAL_OPERATOR, name, limit_options(rpm, tpm, concurrency, budget, budget_period)
    )
    say(f"Limits of team {name}: {parsed or 'none'}.")


def _suspended(ctx: typer.Context, name: str) -> bool | None:
    found = [t for t in teams.list_teams(control_plane(ctx), LOCAL_OPERATOR) if t.name == name]
    return found[0].suspended if found else None


@team_app.command("suspend")
def team_suspend(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Team name")]) -> None:
    """Kill switch: refuse every key of every member of the team within a second (idempotent)."""
    before = _suspended(ctx, name)
    teams.suspend(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Team {name} is already suspended." if before else f"Suspended team {name}.")


@team_app.command("resume")
def team_resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Team name")]) -> None:
    """Lift a team's suspension (idempotent)."""
    before = _suspended(ctx, name)
    teams.resume(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"Team {name} is already active." if before is False else f"Resumed team {name}.")


@org_app.command("policy")
def org_policy(
    ctx: typer.Context,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated model allowlist (ceiling)")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="GROUP=none|read|write (repeatable)")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="Allowed IP or CIDR (repeatable)")] = None,
    privacy: Annotated[str | None, typer.Option("--privacy", help="The strictest privacy policy as JSON")] = None,
    allow_store: Annotated[
        bool, typer.Option("--allow-store", help="Let keys allow provider-side storing (default: forbidden)")
    ] = False,
    residency: ResidencyOption = None,
    zero_retention: ZeroRetentionOption = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the organisation policy")] = False,
    show: Annotated[bool, typer.Option("--show", help="Print the current policy, change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Set the organisation's ceiling: every team and key is held under it (strictest value wins)."""
    cp = control_plane(ctx)
    given = (
        models is not None
        or bool(scope)
        or bool(ip)
        or privacy is not None
        or allow_store
        or residency is not None
        or zero_retention
    )
    if show:
        if given or clear:
            raise InvalidInput("--show changes nothing: give it alone")
        result = org.org_policy_json(cp, LOCAL_OPERATOR)
    elif clear:
        if given:
            raise InvalidInput("--clear removes the policy: give it alone")
        result = org.set_org_policy(cp, LOCAL_OPERATOR, None)
    else:
        if not given:
            raise InvalidInput(
                "nothing to set: give --models, --scope, --ip, --privacy, --allow-store, --residency, --zero-retention,"
                " or --clear"
            )
        policy = policy_options(
            models, scope, ip, privacy, allow_store, residency=residency, zero_retention=zero_retention
        )
        result = org.set_org_policy(cp, LOCAL_OPERATOR, policy)
    if as_json:
        emit_json({"policy": result})
    else:
        say(f"Organisation policy: {result if result is not None else 'none (no restriction)'}.")


def lockdown(
    ctx: typer.Context,
    state: Annotated[str, typer.Argument(help="on, off, or status")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Stop (on) or restart (off) all API access for everyone, on every replica within a second; or show it."""
    if state not in ("on", "off", "status"):
        raise InvalidInput(f"lockdown takes on, off or status, not {state[:20]!r}")
    cp = control_plane(ctx)
    found = org.lockdown_status(cp, LOCAL_OPERATOR) if state == "status" else None
    if found is None:
        found = org.set_lockdown(cp, LOCAL_OPERATOR, state == "on")
    if as_json:
        from dataclasses import asdict

        emit_json({**asdict(found), "lockdown": found.on})
    elif state == "status":
        who = found.set_by_name or found.set_by
        since = f" (set by {who} at {found.set_at.isoformat()})" if found.set_at is not None else ""
        say(f"Lockdown is {'ON: every API request is refused with 403' if found.on else 'off'}{since}.")
    elif not found.changed:
        say(f"lockdown is already {state}")
    else:
        say("Lockdown ON: every API request is refused with 403." if found.on else "Lockdown off.")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    member: Annotated[str, typer.Option("--member", help="Whose token")],
    role: Annotated[str | None, typer.Option("--role", help="At most the member's role")] = None,
    expires: Annotated[str, typer.Option("--expires", help="Lifetime, at most 366d")] = "90d",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Issue an admin API token (shown once)."""
    info, token = admin_tokens.create(control_plane(ctx), LOCAL_OPERATOR, member, role=role, expires_in=expires)
    if as_json:
        from dataclasses import asdict

        emit_json({**asdict(info), "token": token})
        return
    say(f"Admin token {info.id} for {info.member} ({info.role}), expires {info.expires_at}. Shown once:")
    typer.echo(token)


@token_app.command("list")
def token_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False
) -> None:
    """List admin tokens (metadata only)."""
    rows = admin_tokens.list_tokens(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("id", "member", "role", "display", "expires_at", "revoked_at"))


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="Admin token id")]) -> None:
    """Revoke an admin token."""
    admin_tokens.revoke(control_plane(ctx), LOCAL_OPERATOR, token_id)
    say(f"Revoked admin token {token_id}.")


def register(app: typer.Typer) -> None:
    """Add the organisation commands to the root app."""
    app.add_typer(team_app, name="team")
    app.add_typer(org_app, name="org")
    app.add_typer(token_app, name="admin-token")
    app.command("lockdown")(lockdown)
