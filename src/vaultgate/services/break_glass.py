"""Break-glass: the local owner credential, and the audit trail of its use while identity is managed elsewhere.

An owner's admin token (``vga_``) never depends on the identity provider: it is checked against the
store alone, so it keeps working when single sign-on or SCIM is down. Once single sign-on or SCIM is
in use (``oidc_issuer`` set, or SCIM manages any member), people are expected to come in through the
identity provider, and each use of an owner's admin token is **break-glass**: audited as
``identity.break_glass`` (target and ``token_id``: the token's id, ``surface``: ``console`` or
``api``; never the token). A console sign-in is recorded every time; on the admin API the first
request of each token in each process per :data:`API_WINDOW_SECONDS` (an in-memory throttle, so a
script's calls do not flood the trail; a restart or another replica records again). The record is
written before the request goes on and fails closed with it. ``vaultgate doctor`` flags the records
(``identity.break_glass_used``) and an installation left without a local owner
(``identity.no_local_owner``): services/posture/break_glass.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select

from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.identity_sync import scim_in_use
from vaultgate.store.models import AdminToken, Member

ACTION = "identity.break_glass"
API_WINDOW_SECONDS = 600.0
CONSOLE = "console"
API = "api"


class BreakGlass:
    """Records break-glass uses of owners' admin tokens; one per process (the throttle is its memory)."""

    def __init__(
        self,
        cp: ControlPlane,
        *,
        sso_configured: bool,
        window: float = API_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cp = cp
        self.sso_configured = sso_configured
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._recorded: dict[str, float] = {}  # token id → when its last API use was recorded (monotonic)

    def identity_in_use(self) -> bool:
        """Whether single sign-on is configured or SCIM manages any member."""
        if self.sso_configured:
            return True
        with self.cp.store.session() as session:
            return scim_in_use(session)

    def api_use(self, token_id: str, member_id: str, member_role: str) -> bool:
        """An admin API request authenticated by this token: recorded if it is an owner's, identity is managed
        elsewhere, and the token was not recorded in this process within the window; whether it was."""
        if member_role != Role.OWNER.value:
            return False
        now = self._clock()
        with self._lock:  # check and claim at once: two first requests at the same moment record once
            last = self._recorded.get(token_id)
            if last is not None and now - last < self.window:
                return False
            self._recorded[token_id] = now
        try:
            if not self.identity_in_use():
                self._forget(token_id, now)  # recorded from the first use after SSO or SCIM arrives
                return False
            self._record(token_id, member_id, API)
        except BaseException:
            self._forget(token_id, now)
            raise
        return True

    def console_sign_in(self, token_hash: str) -> bool:
        """A console sign-in with the admin token of this keyed hash: recorded every time when it is an owner's
        and identity is managed elsewhere; whether it was."""
        with self.cp.store.session() as session:
            found = session.execute(
                select(AdminToken.id, Member.id, Member.role)
                .join(Member, AdminToken.member_id == Member.id)
                .where(AdminToken.token_hash == token_hash)
            ).first()
        if found is None or found[2] != Role.OWNER.value or not self.identity_in_use():
            return False
        self._record(found[0], found[1], CONSOLE)
        return True

    def _forget(self, token_id: str, claimed: float) -> None:
        with self._lock:
            if self._recorded.get(token_id) == claimed:
                del self._recorded[token_id]

    def _record(self, token_id: str, member_id: str, surface: str) -> None:
        actor = Actor(name=member_id, role=Role.OWNER, member_id=member_id)
        with self.cp.store.session() as session:
            self.cp.audit(session, actor, ACTION, token_id, token_id=token_id, surface=surface)
