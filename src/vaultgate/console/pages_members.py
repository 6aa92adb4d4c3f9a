"""Members and teams: the listing, one member's page (update, remove), team rename and delete.

Which controls a row offers is asked of ``services.access`` (its ``require_*`` checks, on the row as
listed); the service decides again when the form is sent, and its refusal is what the page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from vaultgate.console.html import EMPTY, Html, csrf_field, esc, field, join, select, table
from vaultgate.services import access
from vaultgate.services.context import Actor, Role
from vaultgate.services.errors import NotAuthorised
from vaultgate.services.identity_sync import Management
from vaultgate.services.members import FINAL_STATES, MemberInfo
from vaultgate.services.teams import TeamInfo
from vaultgate.store.models import Member

UPDATE_FIELDS = ("team", "role", "email", "display_name")
ROLES = [(role.value, role.value) for role in (Role.MEMBER, Role.ADMIN, Role.AUDITOR, Role.OWNER)]


@dataclass(frozen=True, slots=True)
class Offer:
    """The controls offered for one member: the fields the actor may change, and whether they may remove."""

    fields: frozenset[str]
    remove: bool


def _allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except NotAuthorised:
        return False
    return True


def offer(actor: Actor, member: MemberInfo, team_ids: Mapping[str, str]) -> Offer:
    """What ``services.access`` would allow the actor to do to ``member`` (``team_ids``: team name → id)."""
    if member.status in FINAL_STATES:
        return Offer(frozenset(), False)
    row = Member(id=member.id, name=member.name, role=member.role, team_id=team_ids.get(member.team or ""))
    fields = frozenset(f for f in UPDATE_FIELDS if _allowed(partial(access.require_update_member, actor, row, {f})))
    return Offer(fields, _allowed(lambda: access.require_remove_member(actor, row)))


def may_change_teams(actor: Actor) -> bool:
    """Whether team rename and delete are offered (the services check again)."""
    return _allowed(lambda: access.require_org_manager(actor, "rename or delete teams"))


def remove_button(member: MemberInfo, csrf: str) -> Html:
    """The first step of a removal: it only asks (the answer is a confirmation form)."""
    return Html(
        f'<form method="post" action="/console/org/members/{esc(member.id)}/remove" class="inline">'
        f'{csrf_field(csrf)}<button type="submit" class="danger">Remove {esc(member.name)}…</button></form>'
    )


def _member_row(
    actor: Actor, csrf: str, m: MemberInfo, team_ids: Mapping[str, str], managed: frozenset[str]
) -> list[object]:
    can = offer(actor, m, team_ids)
    actions: list[Html] = []
    if can.fields:
        actions.append(Html(f'<a href="/console/org/members/{esc(m.id)}">Change {esc(m.name)}</a>'))
    if can.remove:
        actions.append(remove_button(m, csrf))
    return [
        m.name,
        m.display_name or "",
        m.email or "",
        m.team or "—",
        m.role,
        m.status,
        Html('<span class="badge scim">SCIM</span>') if m.id in managed else Html('<span class="badge">local</span>'),
        m.created_at,
        Html(f'<span class="actions">{join(actions)}</span>'),
    ]


def _team_row(t: TeamInfo, csrf: str, *, can_change: bool) -> list[object]:
    actions = Html("")
    if can_change:
        ident = f"rename-{esc(t.id)}"
        actions = Html(
            f'<form method="post" action="/console/org/teams/{esc(t.name)}/rename" class="inline">{csrf_field(csrf)}'
            f'<label for="{ident}">New name for {esc(t.name)}</label> '
            f'<input id="{ident}" name="new_name" required value="{esc(t.name)}"> '
            '<button type="submit">Rename</button></form>'
            f'<form method="post" action="/console/org/teams/{esc(t.name)}/delete" class="inline">{csrf_field(csrf)}'
            f'<button type="submit" class="danger">Delete {esc(t.name)}…</button></form>'
        )
    return [
        t.name,
        "suspended" if t.suspended else "active",
        t.max_key_age_days or "—",
        t.created_at,
        Html(f'<span class="actions">{actions}</span>'),
    ]


def unmanaged_section(members: Sequence[MemberInfo], managed: frozenset[str]) -> Html:
    """The members SCIM does not manage (removed and erased ones left out): the identity provider's
    deprovisioning never reaches them, so an access review starts here."""
    rows = [
        [m.name, m.team or "—", m.role, m.status]
        for m in members
        if m.id not in managed and m.status not in FINAL_STATES
    ]
    return Html(
        '<section aria-labelledby="unmanaged-title"><h2 id="unmanaged-title">Not managed by SCIM</h2>'
        "<p>The identity provider does not manage these members: deactivating someone there does not reach "
        "them. A local owner is the break-glass path when the identity provider is down.</p>"
        + table("Not managed by SCIM", ["Name", "Team", "Role", "Status"], rows, empty="Every member is managed.")
        + "</section>"
    )


def org_page(
    actor: Actor,
    csrf: str,
    members: Sequence[MemberInfo],
    teams: Sequence[TeamInfo],
    *,
    top: Html = EMPTY,
    management: Management | None = None,
) -> Html:
    """The members and teams in the actor's scope, with the controls the actor's role is offered, whether SCIM
    manages each member, and (when SCIM is in use) the members it does not manage."""
    team_ids = {t.name: t.id for t in teams}
    managed = management.managed if management else frozenset()
    member_rows = [_member_row(actor, csrf, m, team_ids, managed) for m in members]
    can_teams = may_change_teams(actor)
    team_rows = [_team_row(t, csrf, can_change=can_teams) for t in teams]
    return Html(
        top
        + table(
            "Members",
            ["Name", "Display name", "Email", "Team", "Role", "Status", "Managed by", "Added", "Actions"],
            member_rows,
            empty="No members visible.",
        )
        + (unmanaged_section(members, managed) if management and management.scim_in_use else EMPTY)
        + table(
            "Teams",
            ["Name", "Status", "Max key age (days)", "Created", "Actions"],
            team_rows,
            empty="No teams visible.",
        )
    )


def confirm_form(action: str, csrf: str, question: str, consequence: str, button: str) -> Html:
    """The second step of a destructive action: the same POST again, with ``confirm=yes``."""
    return Html(
        f'<form method="post" action="{esc(action)}" class="confirm">{csrf_field(csrf)}'
        '<input type="hidden" name="confirm" value="yes">'
        f"<p><strong>{esc(question)}</strong> {esc(consequence)}</p>"
        f'<button type="submit" class="danger">{esc(button)}</button> <a href="/console/org">Cancel</a></form>'
    )


def member_page(actor: Actor, csrf: str, member: MemberInfo, teams: Sequence[TeamInfo], *, top: Html = EMPTY) -> Html:
    """One member's details and, as far as the actor is allowed, the update form and the remove button."""
    team_ids = {t.name: t.id for t in teams}
    can = offer(actor, member, team_ids)
    facts = join(
        Html(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>")
        for name, value in (
            ("Id", member.id),
            ("Name", member.name),
            ("Display name", member.display_name or ""),
            ("Email", member.email or ""),
            ("Team", member.team or "—"),
            ("Role", member.role),
            ("Status", member.status),
            ("Added", member.created_at),
        )
    )
    form = Html("")
    if can.fields:
        inputs: list[Html] = []
        if "team" in can.fields:
            options = [("", "— no team —")] if member.team is None else []
            inputs.append(select("Team", "team", options + [(t.name, t.name) for t in teams], member.team or ""))
        if "role" in can.fields:
            inputs.append(select("Role", "role", ROLES, member.role))
        if "email" in can.fields:
            inputs.append(field("Email", "email", kind="email", value=member.email or "", hint="Empty clears it."))
        if "display_name" in can.fields:
            inputs.append(
                field("Display name", "display_name", value=member.display_name or "", hint="Empty clears it.")
            )
        form = Html(
            '<section aria-labelledby="update-title"><h2 id="update-title">Change</h2>'
            f'<form method="post" action="/console/org/members/{esc(member.id)}" class="grid">{csrf_field(csrf)}'
            + join(inputs)
            + '<div class="field"><button type="submit" class="primary">Save changes</button></div></form></section>'
        )
    remove = Html(f'<p class="actions">{remove_button(member, csrf)}</p>') if can.remove else Html("")
    return Html(
        f'{top}<dl class="facts">{facts}</dl>{form}{remove}<p><a href="/console/org">All members and teams</a></p>'
    )


def changes(form: Mapping[str, str], member: MemberInfo) -> dict[str, str]:
    """The update arguments: only the fields sent that differ from the member's current values."""
    current = {
        "team": member.team or "",
        "role": member.role,
        "email": member.email or "",
        "display_name": member.display_name or "",
    }
    asked: dict[str, str] = {}
    for name in UPDATE_FIELDS:
        if name not in form:
            continue
        value = form[name].strip()
        if name == "team" and not value:
            continue  # "no team" is not a destination: the service moves members between teams only
        if value != current[name]:
            asked[name] = value
    return asked
