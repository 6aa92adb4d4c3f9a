"""Members and teams, providers and routes, and the lockdown switch."""

from __future__ import annotations

from collections.abc import Sequence

from vaultgate.console.html import Html, csrf_field, esc, field, join, notice, table
from vaultgate.services.members import MemberInfo
from vaultgate.services.providers import ProviderInfo
from vaultgate.services.routes import RouteInfo
from vaultgate.services.teams import TeamInfo


def org_page(members: Sequence[MemberInfo], teams: Sequence[TeamInfo]) -> Html:
    """The members and teams in the actor's scope."""
    member_rows = [[m.name, m.email, m.team or "—", m.role, m.status, m.created_at] for m in members]
    # H6: member update (team, role, email, display name) and remove buttons go in each member row.
    team_rows = [
        [t.name, "suspended" if t.suspended else "active", t.max_key_age_days or "—", t.created_at] for t in teams
    ]
    # H6: team rename and delete buttons go in each team row.
    return Html(
        table("Members", ["Name", "Email", "Team", "Role", "Status", "Added"], member_rows, empty="No members visible.")
        + table("Teams", ["Name", "Status", "Max key age (days)", "Created"], team_rows, empty="No teams visible.")
    )


def providers_page(
    providers: Sequence[ProviderInfo], routes: Sequence[RouteInfo], csrf: str, *, can_change: bool
) -> Html:
    """Providers (never a credential: only whether one is stored), routes, and the write-only credential form."""
    rows = [
        [p.name, p.kind, p.base_url, "yes" if p.is_default else "", "stored" if p.has_key else "none", p.region or ""]
        for p in providers
    ]
    route_rows = [
        [r.name, r.strategy, ", ".join(f"{t.get('provider')}:{t.get('model') or '(as asked)'}" for t in r.targets)]
        for r in routes
    ]
    form = Html("")
    if can_change and providers:
        options = join(Html(f'<option value="{esc(p.name)}">{esc(p.name)}</option>') for p in providers)
        form = Html(
            '<section aria-labelledby="cred-title"><h2 id="cred-title">Add a credential</h2>'
            "<p>The key is sealed in the vault and never shown again, here or anywhere. "
            "New requests use it from the next refresh; drain and remove the old one with the CLI.</p>"
            f'<form method="post" action="/console/providers/credential" class="grid">{csrf_field(csrf)}'
            '<div class="field"><label for="f-provider">Provider</label>'
            f'<select id="f-provider" name="provider">{options}</select></div>'
            + field("API key", "api_key", kind="password", required=True, hint="Write-only.")
            + '<div class="field"><button type="submit" class="primary">Add credential</button></div></form></section>'
        )
    return Html(
        table("Providers", ["Name", "Kind", "Base URL", "Default", "Credential", "Region"], rows, empty="No providers.")
        + table(
            "Routes",
            ["Model", "Strategy", "Targets"],
            route_rows,
            empty="No routes: models go to the default provider.",
        )
        + form
    )


def lockdown_page(active: bool, csrf: str, *, can_change: bool, confirming: bool = False) -> Html:
    """The switch: a first POST asks for confirmation, the second (with ``confirm``) flips it."""
    state = notice(
        "Lockdown is ON: every member key is refused."
        if active
        else "Lockdown is off: keys are served as their policies allow.",
        kind="error" if active else "info",
    )
    if not can_change:
        return Html(state + "<p>Only an owner or an organisation admin may turn lockdown on or off.</p>")
    want = "off" if active else "on"
    if confirming:
        return Html(
            state + f'<form method="post" action="/console/lockdown" class="confirm">{csrf_field(csrf)}'
            f'<input type="hidden" name="state" value="{want}"><input type="hidden" name="confirm" value="yes">'
            f"<p><strong>Turn lockdown {want}?</strong> "
            + (
                "Every request with a member key will be refused at once, on every replica."
                if want == "on"
                else "Keys will be served again."
            )
            + f'</p><button type="submit" class="danger">Yes, turn lockdown {want}</button> '
            '<a href="/console/lockdown">Cancel</a></form>'
        )
    return Html(
        state + f'<form method="post" action="/console/lockdown">{csrf_field(csrf)}'
        f'<input type="hidden" name="state" value="{want}">'
        f'<button type="submit" class="{"danger" if want == "on" else "primary"}">Turn lockdown {want}…</button></form>'
    )
