"""Providers and routes (with their health as this process sees it), and the lockdown switch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vaultgate.console.html import Html, csrf_field, esc, field, join, notice, table
from vaultgate.services.org import LockdownStatus
from vaultgate.services.providers import ProviderInfo
from vaultgate.services.routes import RouteInfo
from vaultgate.upstream.breaker import BreakerState, CircuitBreakers

_WORST = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def provider_health(
    breakers: CircuitBreakers, providers: Sequence[ProviderInfo], routes: Sequence[RouteInfo]
) -> dict[str, str]:
    """Each provider's health as this process's circuit breakers know it: the worst of its deployments
    (``provider/*`` for requests sent with the client's model, ``provider/model`` for each route target)."""
    deployments: dict[str, set[str]] = {p.name: {f"{p.name}/*"} for p in providers}
    for route in routes:
        for target in route.targets:
            name = str(target.get("provider") or "")
            if name in deployments:
                deployments[name].add(f"{name}/{target.get('model') or '*'}")
    health: dict[str, str] = {}
    for name, keys in deployments.items():
        worst = max(sorted(keys), key=lambda key: _WORST[breakers.state(key)])
        state = breakers.state(worst)
        if state is BreakerState.OPEN:
            health[name] = f"failing: {worst} skipped for {breakers.retry_after(worst):.0f} s more"
        elif state is BreakerState.HALF_OPEN:
            health[name] = f"recovering: {worst} is being probed"
        else:
            health[name] = "ok"
    return health


def providers_page(
    providers: Sequence[ProviderInfo],
    routes: Sequence[RouteInfo],
    csrf: str,
    *,
    can_change: bool,
    health: Mapping[str, str] | None = None,
) -> Html:
    """Providers (never a credential: only whether one is stored) with their health when this process knows it,
    routes, and the write-only credential form."""
    rows = [
        [p.name, p.kind, p.base_url, "yes" if p.is_default else "", "stored" if p.has_key else "none", p.region or ""]
        + ([health.get(p.name, "ok")] if health else [])
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
        table(
            "Providers",
            ["Name", "Kind", "Base URL", "Default", "Credential", "Region"]
            + (["Health"] if health is not None else []),
            rows,
            empty="No providers.",
        )
        + table(
            "Routes",
            ["Model", "Strategy", "Targets"],
            route_rows,
            empty="No routes: models go to the default provider.",
        )
        + form
    )


def lockdown_status(status: LockdownStatus) -> Html:
    """Whether lockdown is on, and who last turned it on or off, when (the actor's id, from the audit trail)."""
    state = notice(
        "Lockdown is ON: every member key is refused."
        if status.on
        else "Lockdown is off: keys are served as their policies allow.",
        kind="error" if status.on else "info",
    )
    if status.set_by is None:
        return Html(state + '<p class="lockdown-by">Never switched since the gateway was set up.</p>')
    who = esc(status.set_by) + (Html(f" ({esc(status.set_by_name)})") if status.set_by_name else "")
    return Html(
        state + f'<p class="lockdown-by">Turned {"on" if status.on else "off"} by '
        f'<span class="actor">{who}</span> at <time>{esc(status.set_at)}</time>.</p>'
    )


def lockdown_page(status: LockdownStatus, csrf: str, *, can_change: bool, confirming: bool = False) -> Html:
    """The switch: a first POST asks for confirmation, the second (with ``confirm``) flips it."""
    active = status.on
    state = lockdown_status(status)
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
