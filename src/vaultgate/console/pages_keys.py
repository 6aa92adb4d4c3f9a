"""The "My keys" page: the keys in the actor's scope, the create form, the secret shown once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vaultgate.console.html import EMPTY, Html, esc, field, join, notice, post_button, select, table
from vaultgate.policy.scopes import GROUPS
from vaultgate.services.context import Actor, Role
from vaultgate.services.keys import CreatedKey, KeyInfo

_LEVELS = [("", "default"), ("none", "none"), ("read", "read"), ("write", "write")]


def secret_once(created: CreatedKey, what: str) -> Html:
    """The new secret, shown this once, with a copy button (console.js)."""
    return Html(
        f'<section class="secret" aria-labelledby="secret-title"><h2 id="secret-title">{esc(what)}</h2>'
        "<p>Copy the secret now: it is shown this once and cannot be shown again.</p>"
        f'<p><label for="new-secret">Secret of key {esc(created.info.id)}</label>'
        f'<input id="new-secret" class="secret-value" readonly value="{esc(created.token)}">'
        '<button type="button" data-copy="new-secret">Copy</button></p></section>'
    )


def _row(key: KeyInfo, actor: Actor, csrf: str) -> list[object]:
    actions: list[Html] = [Html(f'<a href="/console/keys/{esc(key.id)}">Details</a>')]
    if actor.role is not Role.AUDITOR and key.status not in ("revoked",):
        actions.append(
            post_button(
                f"/console/keys/{key.id}/rotate",
                "Rotate",
                csrf,
                confirm="Rotate this key? The old secret keeps working for 24 hours.",
            )
        )
        actions.append(
            post_button(
                f"/console/keys/{key.id}/revoke",
                "Revoke",
                csrf,
                confirm="Revoke this key now? This cannot be undone.",
                danger=True,
            )
        )
    models = ", ".join(key.policy.get("models") or []) or "any"
    return [
        Html(esc(key.display) + (Html(' <span class="canary">canary</span>') if key.canary else "")),
        key.name or "",
        key.member,
        key.status,
        models,
        key.expires_at or "never",
        key.last_used_at or "never",
        Html(f'<span class="actions">{join(actions)}</span>'),
    ]


def create_form(actor: Actor, csrf: str, values: Mapping[str, str]) -> Html:
    """The form that mints a key (for oneself; managers may name another member)."""
    scopes = join(
        select(f"Scope: {group}", f"scope_{group}", _LEVELS, values.get(f"scope_{group}", "")) for group in GROUPS
    )
    member = (
        field("Member", "member", value=values.get("member", actor.name), hint="Whose key this is.")
        if actor.role in (Role.OWNER, Role.ADMIN)
        else Html("")
    )
    return Html(
        '<section aria-labelledby="create-title"><h2 id="create-title">Create a key</h2>'
        f'<form method="post" action="/console/keys" class="grid">{esc(Html(_csrf(csrf)))}{member}'
        + field("Name", "name", value=values.get("name", ""), hint="A label, such as the machine or script using it.")
        + field("Models", "models", value=values.get("models", ""), hint="Comma-separated; empty allows any model.")
        + field("Requests per minute", "rpm", kind="number", value=values.get("rpm", ""))
        + field("Tokens per minute", "tpm", kind="number", value=values.get("tpm", ""))
        + field("Budget (USD)", "budget_usd", value=values.get("budget_usd", ""))
        + select(
            "Budget period", "budget_period", [("month", "month"), ("day", "day")], values.get("budget_period", "month")
        )
        + field(
            "Expires in",
            "expires",
            value=values.get("expires", "90d"),
            hint="A duration such as 30d or 12h; empty: never.",
        )
        + f'<fieldset class="scopes"><legend>Scopes per endpoint group</legend>{scopes}</fieldset>'
        '<div class="field"><button type="submit" class="primary">Create key</button></div></form></section>'
    )


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def keys_page(
    actor: Actor, csrf: str, keys: Sequence[KeyInfo], *, top: Html = EMPTY, values: Mapping[str, str] | None = None
) -> Html:
    """The list of keys in scope, and (unless the actor only reads) the create form."""
    listing = table(
        "Keys",
        ["Key", "Name", "Member", "Status", "Models", "Expires", "Last used", "Actions"],
        [_row(key, actor, csrf) for key in keys],
        empty="No keys yet.",
    )
    form = create_form(actor, csrf, values or {}) if actor.role is not Role.AUDITOR else Html("")
    return Html(f"{top}{listing}{form}")


def key_detail(key: KeyInfo, actor: Actor, csrf: str) -> Html:
    """One key's metadata (never a secret) and its actions."""
    rows: list[tuple[str, Any]] = [
        ("Id", key.id),
        ("Key", key.display),
        ("Name", key.name),
        ("Member", key.member),
        ("Status", key.status),
        ("Created", key.created_at),
        ("Expires", key.expires_at or "never"),
        ("Rotated", key.rotated_at),
        ("Models", ", ".join(key.policy.get("models") or []) or "any"),
        ("Scopes", ", ".join(f"{g}={lvl}" for g, lvl in (key.policy.get("scopes") or {}).items()) or "default"),
        ("Limits", ", ".join(f"{k}={v}" for k, v in key.limits.items() if v is not None) or "none"),
        ("Canary", "yes: any use raises an alert" if key.canary else "no"),
        ("Last used", key.last_used_at or "never"),
    ]
    facts = join(Html(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>") for name, value in rows)
    actions = Html("")
    if actor.role is not Role.AUDITOR and key.status != "revoked":
        actions = join(
            [
                post_button(
                    f"/console/keys/{key.id}/rotate",
                    "Rotate",
                    csrf,
                    confirm="Rotate this key? The old secret keeps working for 24 hours.",
                ),
                post_button(
                    f"/console/keys/{key.id}/revoke",
                    "Revoke",
                    csrf,
                    confirm="Revoke this key now? This cannot be undone.",
                    danger=True,
                ),
            ]
        )
    return Html(
        f'<dl class="facts">{facts}</dl><p class="actions">{actions}</p><p><a href="/console/keys">All keys</a></p>'
    )


def parse_create(form: Mapping[str, str], actor: Actor) -> dict[str, Any]:
    """The service arguments of the create form (the services validate every value)."""
    policy: dict[str, Any] = {}
    models = [m.strip() for m in form.get("models", "").split(",") if m.strip()]
    if models:
        policy["models"] = models
    scopes = {g: form[f"scope_{g}"] for g in GROUPS if form.get(f"scope_{g}")}
    if scopes:
        policy["scopes"] = scopes
    limits: dict[str, Any] = {}
    for name in ("rpm", "tpm"):
        if form.get(name, "").strip():
            limits[name] = _number(form[name], name)
    if form.get("budget_usd", "").strip():
        limits["budget_usd"] = form["budget_usd"].strip()
        limits["budget_period"] = form.get("budget_period", "month")
    return {
        "member_name": form.get("member", "").strip() or actor.name,
        "policy": policy,
        "limits": limits or None,
        "name": form.get("name", "").strip() or None,
        "expires_in": form.get("expires", "").strip() or None,
    }


def _number(text: str, name: str) -> int | str:
    value = text.strip()
    return int(value) if value.isdigit() else value  # anything else: the service names it as invalid


def created_notice(created: CreatedKey, what: str) -> Html:
    """The page top after a create or rotate: a status line and the secret."""
    return Html(notice(f"{what}: {created.info.display}") + secret_once(created, what))
