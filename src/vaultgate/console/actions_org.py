"""The console's organisation actions: member update and remove, team rename and delete, lockdown.

Each POST passes the console's origin and CSRF checks (``Console.posted``) and then calls the service
the admin API calls, with the session's actor; a refusal is shown with the service's message and status.
Destructive actions take two POSTs: the first answers a confirmation form, the second (``confirm=yes``) acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vaultgate.console import pages_members, pages_org
from vaultgate.console.html import EMPTY, Html, notice
from vaultgate.console.visit import Refused, Visit
from vaultgate.services import access, identity_sync, members, org, teams
from vaultgate.services.members import MemberInfo

if TYPE_CHECKING:
    from vaultgate.console.app import Console


class OrgActions:
    """Handlers for ``/console/org...`` and ``/console/lockdown``, bound to the console."""

    def __init__(self, console: Console) -> None:
        self.c = console

    # ---- members and teams -----------------------------------------------------------------

    async def org_page(self, request: Request, visit: Visit, top: Html = EMPTY, status: int = 200) -> Response:
        found_members = await self.c.call(members.list_members, self.c.cp, visit.actor)
        found_teams = await self.c.call(teams.list_teams, self.c.cp, visit.actor)
        managed = await self.c.call(identity_sync.management, self.c.cp, visit.actor)
        body = pages_members.org_page(visit.actor, visit.csrf, found_members, found_teams, top=top, management=managed)
        return self.c.render("Members and teams", body, visit, "org", status=status)

    async def _member(self, visit: Visit, member_id: str) -> MemberInfo:
        # Only a member in the actor's scope (the services' query): anyone else is the same 404.
        found: list[MemberInfo] = await self.c.call(members.list_members, self.c.cp, visit.actor)
        for member in found:
            if member.id == member_id:
                return member
        raise Refused(404, f"No member with id {member_id[:40]!r}.")

    async def _member_view(self, visit: Visit, member: MemberInfo, top: Html = EMPTY, status: int = 200) -> Response:
        found_teams = await self.c.call(teams.list_teams, self.c.cp, visit.actor)
        body = pages_members.member_page(visit.actor, visit.csrf, member, found_teams, top=top)
        return self.c.render(f"Member {member.name}", body, visit, "org", status=status)

    async def member_page(self, request: Request, visit: Visit) -> Response:
        return await self._member_view(visit, await self._member(visit, request.path_params["member_id"]))

    async def member_update(self, request: Request, visit: Visit) -> Response:
        form = await self.c.posted(request, visit)
        member = await self._member(visit, request.path_params["member_id"])
        asked = pages_members.changes(form, member)
        if not asked:
            return await self._member_view(visit, member, notice("Nothing to change."))
        try:
            updated = await self.c.call(members.update, self.c.cp, visit.actor, member.id, **asked)
        except Refused as exc:
            return await self._member_view(visit, member, notice(exc.message, kind="error"), exc.status)
        done = notice(f"Member {updated.name} updated: {', '.join(sorted(asked))}.")
        return await self._member_view(visit, updated, done)

    async def member_remove(self, request: Request, visit: Visit) -> Response:
        form = await self.c.posted(request, visit)
        member = await self._member(visit, request.path_params["member_id"])
        if form.get("confirm") != "yes":  # the first step only asks
            ask = pages_members.confirm_form(
                f"/console/org/members/{member.id}/remove",
                visit.csrf,
                f"Remove {member.name}?",
                "Their keys and admin tokens are revoked at once, on every replica; "
                "their usage and audit records stay. This cannot be undone.",
                f"Yes, remove {member.name}",
            )
            return await self._member_view(visit, member, ask)
        removal = await self.c.call(members.remove, self.c.cp, visit.actor, member.id)
        done = notice(
            f"Member {removal.member.name} removed: {removal.keys_revoked} key(s) and "
            f"{removal.admin_tokens_revoked} admin token(s) revoked."
        )
        return await self.org_page(request, visit, done)

    async def team_rename(self, request: Request, visit: Visit) -> Response:
        form = await self.c.posted(request, visit)
        name = request.path_params["name"]
        new_name = form.get("new_name", "").strip()
        try:
            info = await self.c.call(teams.rename, self.c.cp, visit.actor, name, new_name)
        except Refused as exc:
            return await self.org_page(request, visit, notice(exc.message, kind="error"), exc.status)
        return await self.org_page(request, visit, notice(f"Team {name} is now {info.name}."))

    async def team_delete(self, request: Request, visit: Visit) -> Response:
        form = await self.c.posted(request, visit)
        name = request.path_params["name"]
        if form.get("confirm") != "yes":  # the first step only asks
            ask = pages_members.confirm_form(
                f"/console/org/teams/{name}/delete",
                visit.csrf,
                f"Delete team {name}?",
                "Its ceiling and limits go with it; its usage records keep its id. A team with members is refused.",
                f"Yes, delete team {name}",
            )
            return await self.org_page(request, visit, ask)
        try:
            await self.c.call(teams.delete, self.c.cp, visit.actor, name)
        except Refused as exc:
            return await self.org_page(request, visit, notice(exc.message, kind="error"), exc.status)
        return await self.org_page(request, visit, notice(f"Team {name} deleted."))

    # ---- lockdown ----------------------------------------------------------------------------------

    async def lockdown_page(
        self, request: Request, visit: Visit, top: Html = EMPTY, confirming: bool = False
    ) -> Response:
        status = await self.c.call(org.lockdown_status, self.c.cp, visit.actor)
        can_change = access.is_org_manager(visit.actor)
        body = pages_org.lockdown_page(status, visit.csrf, can_change=can_change, confirming=confirming)
        return self.c.render("Lockdown", Html(top + body), visit, "lockdown")

    async def lockdown_change(self, request: Request, visit: Visit) -> Response:
        form = await self.c.posted(request, visit)
        want = form.get("state")
        if want not in ("on", "off"):
            raise Refused(400, "Say 'on' or 'off'.")
        if form.get("confirm") != "yes":  # the first step only asks
            return await self.lockdown_page(request, visit, confirming=True)
        result = await self.c.call(org.set_lockdown, self.c.cp, visit.actor, want == "on")
        if not result.changed:  # idempotent: asking for the current state is not an error
            already = notice(f"Lockdown was already {want}: nothing changed.")
            return await self.lockdown_page(request, visit, already)
        return RedirectResponse("/console/lockdown", status_code=303)
