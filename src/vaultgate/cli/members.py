"""``vaultgate member ...``"""

from __future__ import annotations

from typing import Annotated

import typer

from vaultgate.cli.context import control_plane
from vaultgate.cli.keys import (
    BudgetOption,
    BudgetPeriodOption,
    ConcurrencyOption,
    RpmOption,
    TpmOption,
    limit_options,
)
from vaultgate.cli.output import emit_json, emit_table, say
from vaultgate.services import members, subject_rights
from vaultgate.services.context import LOCAL_OPERATOR

app = typer.Typer(help="Members: the people and services that hold keys.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique member name")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    team: Annotated[str | None, typer.Option("--team", help="An existing team (see --create-team)")] = None,
    role: Annotated[str, typer.Option("--role", help="member|admin|auditor|owner")] = "member",
    create_team: Annotated[
        bool, typer.Option("--create-team", help="Create the --team if it does not exist yet")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Add a member."""
    info = members.add(
        control_plane(ctx), LOCAL_OPERATOR, name, email=email, team=team, role=role, create_team=create_team
    )
    if as_json:
        emit_json(info)
    else:
        say(f"Added member {info.name} ({info.role}{', team ' + info.team if info.team else ''}).")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """List members."""
    rows = members.list_members(control_plane(ctx), LOCAL_OPERATOR)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ("id", "name", "display_name", "email", "team", "role", "status"))


@app.command("update")
def update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member name or id")],
    team: Annotated[str | None, typer.Option("--team", help="Move to this existing team")] = None,
    role: Annotated[str | None, typer.Option("--role", help="member|admin|auditor|owner (owners only)")] = None,
    email: Annotated[str | None, typer.Option("--email", help="New email ('' clears it)")] = None,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="How the console shows them ('' clears it)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Change a member's team, role, email or display name."""
    info = members.update(
        control_plane(ctx), LOCAL_OPERATOR, name, team=team, role=role, email=email, display_name=display_name
    )
    if as_json:
        emit_json(info)
    else:
        say(f"Member {info.name}: {info.role}{', team ' + info.team if info.team else ', no team'}.")


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member name or id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Remove a member: keys and admin tokens revoked, short-lived tokens deleted; usage and audit kept."""
    if not yes:
        typer.confirm(f"Remove {name}? Their keys and admin tokens are revoked for good", abort=True, err=True)
    done = members.remove(control_plane(ctx), LOCAL_OPERATOR, name)
    say(
        f"Removed {done.member.name}: {done.keys_revoked} key(s) and {done.admin_tokens_revoked} admin token(s) "
        f"revoked, {done.short_lived_tokens_deleted} short-lived token(s) deleted."
    )


def _status_of(ctx: typer.Context, name: str) -> str | None:
    found = [m for m in members.list_members(control_plane(ctx), LOCAL_OPERATOR) if name in (m.name, m.id)]
    return found[0].status if found else None


@app.command("suspend")
def suspend(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Member name")]) -> None:
    """Kill switch: refuse every key of the member on every replica within a second (idempotent)."""
    before = _status_of(ctx, name)
    info = members.suspend(control_plane(ctx), LOCAL_OPERATOR, name)
    if before == "suspended":
        say(f"{info.name} is already suspended.")
        return
    say(f"Suspended {info.name}: their keys are refused with 403 until 'vaultgate member resume {info.name}'.")


@app.command("resume")
def resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Member name")]) -> None:
    """Lift a member's suspension (idempotent)."""
    before = _status_of(ctx, name)
    info = members.resume(control_plane(ctx), LOCAL_OPERATOR, name)
    say(f"{info.name} is already active." if before == "active" else f"Resumed {info.name}.")


@app.command("limits")
def limits(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member name")],
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    concurrency: ConcurrencyOption = None,
    budget: BudgetOption = None,
    budget_period: BudgetPeriodOption = "month",
) -> None:
    """Set the limits shared by all of a member's keys (no options: remove them)."""
    parsed = members.set_limits(
        control_plane(ctx), LOCAL_OPERATOR, name, limit_options(rpm, tpm, concurrency, budget, budget_period)
    )
    say(f"Limits of {name}: {parsed or 'none'}.")


@app.command("export")
def export(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Member name or id")]) -> None:
    """Everything stored about a member, as one JSON document (data subject access)."""
    emit_json(subject_rights.export(control_plane(ctx), LOCAL_OPERATOR, name))


@app.command("erase")
def erase(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Member name or id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a member: credentials revoked, name pseudonymised, email and key names removed; usage kept."""
    if not yes:
        typer.confirm(
            f"Erase {name}? Their keys and admin tokens are revoked and their name, email and key names "
            "removed for good",
            abort=True,
            err=True,
        )
    done = subject_rights.erase(control_plane(ctx), LOCAL_OPERATOR, name)
    say(
        f"Erased {name}: now {done.pseudonym} ({done.member_id}); {done.keys_revoked} key(s) and "
        f"{done.admin_tokens_revoked} admin token(s) revoked, "
        f"{done.short_lived_tokens_deleted} short-lived token(s) deleted."
    )
