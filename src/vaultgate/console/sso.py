"""Single sign-on to the console: ``GET /console/sso/start`` and ``GET /console/sso/callback``.

``start`` stores a pending sign-in (``services.identity_signin``), gives the browser a signed, HttpOnly,
``SameSite=Lax`` cookie with its state (it must come back with the issuer's cross-site redirect, which
``Strict`` would drop) and sends it to the issuer. ``callback`` checks that the query's state is the
cookie's, claims the pending sign-in once (a replay is refused before anything is sent to the issuer),
exchanges the code, verifies the ID token (``identity.oidc``), and signs the member in with an ``sso``
session. Every refusal is the console's error page: 400 for a protocol error, 403 for an identity that
may not sign in, 502 when the issuer cannot be reached; each is counted with the sign-in failures, and
no page or log ever shows the code, the verifier, the ID token or the client secret.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vaultgate.console.html import Html, esc, notice
from vaultgate.console.session import SSO_STATE_COOKIE, SSO_STATE_LIFETIME
from vaultgate.console.visit import Refused
from vaultgate.identity.oidc import OidcClient, RelyingParty
from vaultgate.identity.oidc_tokens import OidcError
from vaultgate.services import identity_signin
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised

if TYPE_CHECKING:
    from vaultgate.console.app import Console

log = logging.getLogger("vaultgate.console.sso")
SSO_FAILED = "sso_refused"  # the reason single sign-on failures are counted under
_PARAM_MAX = 2048


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name, "")
    if not value or len(value) > _PARAM_MAX or not value.isascii() or not value.isprintable():
        raise Refused(400, f"The sign-in answer has no valid '{name}': start again.")
    return value


class SingleSignOn:
    """The console's single sign-on routes, bound to the console (its control plane, settings, signer)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        settings = console.settings
        self.client: OidcClient | None = None
        if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_redirect_url:
            party = RelyingParty(
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                redirect_url=settings.oidc_redirect_url,
                scopes=settings.oidc_scopes,
                groups_claim=settings.oidc_groups_claim,
                allow_link_local=settings.allow_link_local_upstreams,
            )
            self.client = OidcClient(party, clock=console.cp.clock)
        self.allowed_domains = tuple(d.strip() for d in settings.oidc_allowed_domains.split(",") if d.strip())

    @property
    def enabled(self) -> bool:
        """Whether single sign-on is configured (the sign-in page offers it)."""
        return self.client is not None

    def _refused(self, request: Request, exc: Refused) -> Response:
        self.console.count_signin_failure(request, "sso", SSO_FAILED)
        log.info("single sign-on refused (%s): %s", exc.status, exc.message)
        response = self.console.error_page(exc, None)
        response.delete_cookie(SSO_STATE_COOKIE, path="/console/sso")
        return response

    async def start(self, request: Request) -> Response:
        """Send the browser to the issuer, with a pending sign-in stored and its state in a cookie."""
        if self.client is None:
            return self.console.error_page(Refused(404, "Single sign-on is not configured."), None)
        try:
            pending = await run_in_threadpool(identity_signin.start, self.console.cp)
        except Conflict as exc:
            return self._refused(request, Refused(503, f"Single sign-on: {exc}."))
        try:
            url = await self.client.authorization_url(pending.state, pending.nonce, pending.code_verifier)
        except OidcError as exc:
            return self._refused(request, Refused(502 if exc.unreachable else 400, f"Single sign-on: {exc.message}."))
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            SSO_STATE_COOKIE,
            self.console.signer.sso_state_cookie(pending.state, self.console.cp.clock()),
            max_age=int(SSO_STATE_LIFETIME.total_seconds()),
            path="/console/sso",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        """Finish a sign-in the issuer sent back: every check, then an ``sso`` session (or an error page)."""
        if self.client is None:
            return self.console.error_page(Refused(404, "Single sign-on is not configured."), None)
        try:
            signed = await self._finish(request, self.client)
        except Refused as exc:
            return self._refused(request, exc)
        log.info("single sign-on: member %s signed in%s", signed.member_id, " (created)" if signed.created else "")
        # The issuer's redirect made this a cross-site navigation, so the browser would not send the
        # (SameSite=Strict) session cookie on a redirect from here: a page of ours moves on instead.
        body = Html(
            notice("You are signed in.")
            + '<p><a href="/console/keys" id="continue">Continue to the console</a></p>'
            + '<meta http-equiv="refresh" content="0; url=/console/keys">'
        )
        response = self.console.render("Signed in", body, None)
        self.console.start_session(request, response, "sso", signed.identity_id)
        response.delete_cookie(SSO_STATE_COOKIE, path="/console/sso")
        return response

    async def _finish(self, request: Request, client: OidcClient) -> identity_signin.SignedIn:
        cp = self.console.cp
        error = request.query_params.get("error")
        if error is not None:
            shown = error if error.isascii() and error.replace("_", "").isalnum() and len(error) <= 40 else "error"
            status = 403 if shown == "access_denied" else 400
            raise Refused(status, f"The identity provider refused the sign-in ({shown}).")
        state = _param(request, "state")
        cookie = self.console.signer.sso_state(request.cookies.get(SSO_STATE_COOKIE), cp.clock())
        if cookie is None:
            raise Refused(400, "The sign-in cookie is missing or expired (state mismatch): start again.")
        if not hmac.compare_digest(cookie.encode(), state.encode()):
            raise Refused(400, "The sign-in answer is not for this browser (state mismatch): start again.")
        code = _param(request, "code")
        try:
            pending = await run_in_threadpool(identity_signin.claim, cp, state)
            secret = await run_in_threadpool(identity_signin.client_secret, cp)
            person = await client.sign_in(code, pending.nonce, pending.code_verifier, secret)
            return await run_in_threadpool(identity_signin.sign_in, cp, person, self.allowed_domains)
        except OidcError as exc:
            raise Refused(502 if exc.unreachable else 400, f"Single sign-on: {exc.message}.") from None
        except InvalidInput as exc:
            raise Refused(400, _sentence(str(exc))) from None
        except NotAuthorised as exc:
            raise Refused(403, _sentence(str(exc))) from None

    def signin_link(self) -> Html:
        """The sign-in page's link to single sign-on (empty when it is not configured)."""
        if not self.enabled:
            return Html("")
        return Html(
            f'<p class="sso"><a class="button" href="{esc("/console/sso/start")}">Sign in with single sign-on</a></p>'
        )


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
