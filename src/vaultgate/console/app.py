"""The console's ASGI app: routes, sign-in and sessions, CSRF and origin checks, security headers.

Every page is rendered on the server from the same services the admin API calls, with the actor
of the session's credential (looked up again on every request), so roles and ownership are the
services' (``services.access``), never decided here. Blocking service calls run in worker threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultgate.config import Settings
from vaultgate.console import html, pages_keys, pages_org, pages_reports
from vaultgate.console.actions_org import OrgActions
from vaultgate.console.html import EMPTY, Html, esc, notice
from vaultgate.console.session import COOKIE, LIFETIME, SIGNIN_COOKIE, SessionSigner
from vaultgate.console.signin import actor_for, credential_kind
from vaultgate.console.sso import SingleSignOn
from vaultgate.console.visit import Refused, Visit
from vaultgate.gateway import security_events
from vaultgate.gateway.read import Networks, source_text
from vaultgate.gateway.security_events import SecurityEvents
from vaultgate.keys import tokens
from vaultgate.services import access, audit_trail, credentials, keys, providers, routes, usage
from vaultgate.services.break_glass import BreakGlass
from vaultgate.services.context import ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound, ServiceError
from vaultgate.services.posture import runner as posture
from vaultgate.upstream.breaker import CircuitBreakers

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
AUDIT_SHOWN = 200
_STATUS = {InvalidInput: 400, NotAuthorised: 403, NotFound: 404, Conflict: 409}
_STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


class SecurityHeaders:
    """Adds the console's security headers to every response it sends (pages, assets, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def same_origin(request: Request) -> bool:
    """A browser's own POST: ``Sec-Fetch-Site`` same-origin (or none), and an ``Origin`` naming this host if sent."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return site is not None  # a browser that sends neither header is not one we serve
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


class Console:
    """The console's request handlers, bound to a control plane and the settings (for the posture report)."""

    def __init__(
        self,
        cp: ControlPlane,
        settings: Settings,
        *,
        security: SecurityEvents | None = None,
        breakers: CircuitBreakers | None = None,
        proxies: Networks = (),
    ) -> None:
        self.cp = cp
        self.settings = settings
        self.security = security
        self.breakers = breakers
        self.proxies = proxies
        self.signer = SessionSigner(cp.hasher)
        # A console sign-in with an owner's admin token is break-glass once identity is managed elsewhere.
        self.break_glass = BreakGlass(cp, sso_configured=bool(settings.oidc_issuer))
        folder = resources.files("vaultgate.console") / "static"
        self.static = {name: (folder / name).read_bytes() for name in _STATIC}
        self.sso = SingleSignOn(self)

    # ---- plumbing ------------------------------------------------------------------------

    async def visit(self, request: Request) -> Visit | None:
        """The signed-in visit, or None (no cookie, a forged or expired one, or a credential no longer valid)."""
        session = self.signer.read(request.cookies.get(COOKIE), self.cp.clock())
        if session is None:
            return None
        actor = await run_in_threadpool(actor_for, self.cp, session.kind, session.credential_hash)
        if actor is None:
            return None
        return Visit(session, actor, self.signer.csrf_token(session))

    async def posted(self, request: Request, visit: Visit) -> dict[str, str]:
        """The form of a POST, after the origin and CSRF checks (403 otherwise)."""
        if not same_origin(request):
            raise Refused(403, "This form was not sent from the console's own page.")
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not self.signer.csrf_ok(visit.session, values.get("csrf")):
            raise Refused(403, "The form's security token is missing or stale: reload the page and try again.")
        return values

    def render(self, title: str, body: Html, visit: Visit | None, current: str = "", status: int = 200) -> Response:
        """A whole page as an HTML response."""
        actor = visit.actor if visit else None
        document = html.page(title, body, actor=actor, csrf=visit.csrf if visit else "", current=current)
        return Response(document, status_code=status, media_type="text/html; charset=utf-8")

    def error_page(self, exc: Refused, visit: Visit | None) -> Response:
        """An error answered as a page (the status tells scripts and tests the same)."""
        titles = {400: "Not accepted", 403: "Not allowed", 404: "Not found", 409: "Not possible now"}
        return self.render(titles.get(exc.status, "Error"), notice(exc.message, kind="error"), visit, status=exc.status)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A service call in a worker thread; its refusal becomes an error page."""
        try:
            return await run_in_threadpool(fn, *args, **kwargs)
        except ServiceError as exc:
            status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
            raise Refused(status, str(exc)) from None

    def guarded(
        self, handler: Callable[[Request, Visit], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """A route that needs a session: sign-in page otherwise; Refused answered as a page."""

        async def endpoint(request: Request) -> Response:
            visit = await self.visit(request)
            if visit is None:
                if request.method == "POST":
                    return self.error_page(Refused(403, "Your session has ended: sign in again."), None)
                return RedirectResponse("/console/signin", status_code=303)
            try:
                return await handler(request, visit)
            except Refused as exc:
                return self.error_page(exc, visit)

        return endpoint

    # ---- sign-in ---------------------------------------------------------------------------

    def signin_form(self, nonce: str, message: Html = EMPTY, status: int = 200) -> Response:
        body = Html(
            message + '<form method="post" action="/console/signin" class="signin">'
            f'<input type="hidden" name="csrf" value="{esc(self.signer.signin_token(nonce))}">'
            + html.field(
                "Admin token or member key",
                "credential",
                kind="password",
                required=True,
                hint="vga_… signs in with your admin role; vgk_… shows your own keys and usage.",
            )
            + '<div class="field"><button type="submit" class="primary">Sign in</button></div></form>'
            + self.sso.signin_link()
        )
        response = self.render("Sign in", body, None, status=status)
        response.set_cookie(SIGNIN_COOKIE, nonce, httponly=True, samesite="strict", path="/console/signin")
        return response

    async def signin_page(self, request: Request) -> Response:
        return self.signin_form(self.signer.new_signin_nonce())

    async def signin(self, request: Request) -> Response:
        nonce = self.signer.new_signin_nonce()
        if not same_origin(request):
            return self.signin_form(
                nonce, notice("This form was not sent from the console's own page.", kind="error"), 403
            )
        form = await request.form()
        token = str(form.get("credential") or "").strip()
        if not self.signer.signin_ok(request.cookies.get(SIGNIN_COOKIE), str(form.get("csrf") or "")):
            return self.signin_form(nonce, notice("The sign-in form expired: try again.", kind="error"), 403)
        kind = credential_kind(token)
        credential_hash = self.cp.hasher.token_hash(token) if kind else ""
        actor = await run_in_threadpool(actor_for, self.cp, kind, credential_hash) if kind else None
        if kind is None or actor is None:  # one answer for malformed, unknown, revoked, expired
            self._signin_refused(request, token)
            return self.signin_form(nonce, notice("That credential is not valid.", kind="error"), 401)
        if kind == "admin":  # recorded (every time) before the session exists; fails closed with it
            await run_in_threadpool(self.break_glass.console_sign_in, credential_hash)
        response = RedirectResponse("/console/keys", status_code=303)
        self.start_session(request, response, kind, credential_hash)
        response.delete_cookie(SIGNIN_COOKIE, path="/console/signin")
        return response

    def start_session(self, request: Request, response: Response, kind: str, credential_hash: str) -> None:
        """Give ``response`` a new session cookie for a credential just checked (HttpOnly, SameSite=Strict,
        Secure under TLS, path /console, for the session's lifetime)."""
        value, _ = self.signer.issue(kind, credential_hash, self.cp.clock())
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(LIFETIME.total_seconds()),
            path="/console",
            httponly=True,
            secure=_secure(request),
            samesite="strict",
        )

    def _signin_refused(self, request: Request, token: str) -> None:
        """Count a refused sign-in with the gateway's authentication failures (on the event loop, no I/O):
        the credential's display form (never the token) or ``none``/``malformed``, the client address, why."""
        if self.security is None:
            return
        parsed = tokens.parse(token)
        if not token:
            credential, reason = "none", security_events.MISSING
        elif parsed is None:
            credential, reason = security_events.MALFORMED, security_events.MALFORMED
        else:  # well-formed: unknown, revoked, expired, a canary, an inactive member, or not a sign-in credential
            credential, reason = parsed.display, security_events.UNKNOWN
        self.count_signin_failure(request, credential, reason)

    def count_signin_failure(self, request: Request, credential: str, reason: str) -> None:
        """Count a refused sign-in (``credential``: a display form or a kind, never a secret) from the client."""
        if self.security is None:
            return
        host = request.client.host if request.client else None
        source = source_text(host, request.headers.get("x-forwarded-for"), self.proxies)
        self.security.auth_failure(credential, source, reason)

    async def signout(self, request: Request, visit: Visit) -> Response:
        await self.posted(request, visit)
        response = RedirectResponse("/console/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/console", httponly=True, secure=_secure(request), samesite="strict")
        return response

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/console/keys", status_code=303)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(self.static[name], media_type=_STATIC[name])

    # ---- keys ----------------------------------------------------------------------------------

    async def keys_page(self, request: Request, visit: Visit) -> Response:
        found = await self.call(keys.list_keys, self.cp, visit.actor)
        return self.render("My keys", pages_keys.keys_page(visit.actor, visit.csrf, found), visit, "keys")

    async def key_create(self, request: Request, visit: Visit) -> Response:
        form = await self.posted(request, visit)
        args = pages_keys.parse_create(form, visit.actor)
        try:
            created = await self.call(keys.create, self.cp, visit.actor, args.pop("member_name"), **args)
        except Refused as exc:
            found = await self.call(keys.list_keys, self.cp, visit.actor)
            body = pages_keys.keys_page(
                visit.actor, visit.csrf, found, top=notice(exc.message, kind="error"), values=form
            )
            return self.render("My keys", body, visit, "keys", status=exc.status)
        found = await self.call(keys.list_keys, self.cp, visit.actor)
        top = pages_keys.created_notice(created, "Key created")
        return self.render("My keys", pages_keys.keys_page(visit.actor, visit.csrf, found, top=top), visit, "keys", 201)

    async def _key(self, visit: Visit, key_id: str) -> keys.KeyInfo:
        # The key must be in the actor's scope (the services' query): anything else is the same 404.
        found: list[keys.KeyInfo] = await self.call(keys.list_keys, self.cp, visit.actor)
        for key in found:
            if key.id == key_id:
                return key
        raise Refused(404, f"No key with id {key_id[:40]!r}.")

    async def key_detail(self, request: Request, visit: Visit) -> Response:
        key = await self._key(visit, request.path_params["key_id"])
        return self.render(f"Key {key.display}", pages_keys.key_detail(key, visit.actor, visit.csrf), visit, "keys")

    async def key_rotate(self, request: Request, visit: Visit) -> Response:
        await self.posted(request, visit)
        created = await self.call(keys.rotate, self.cp, visit.actor, request.path_params["key_id"])
        top = pages_keys.created_notice(created, "Key rotated")
        body = Html(top + pages_keys.key_detail(created.info, visit.actor, visit.csrf))
        return self.render(f"Key {created.info.display}", body, visit, "keys")

    async def key_revoke(self, request: Request, visit: Visit) -> Response:
        await self.posted(request, visit)
        info = await self.call(keys.revoke, self.cp, visit.actor, request.path_params["key_id"])
        body = Html(notice(f"Key {info.display} is revoked.") + pages_keys.key_detail(info, visit.actor, visit.csrf))
        return self.render(f"Key {info.display}", body, visit, "keys")

    # ---- organisation --------------------------------------------------------------------------

    async def providers_page(self, request: Request, visit: Visit, top: Html = EMPTY) -> Response:
        found = await self.call(providers.list_providers, self.cp, visit.actor)
        found_routes = await self.call(routes.list_routes, self.cp, visit.actor)
        # The breakers live in this process's memory: reading them is no network call (docs/CONSOLE.md).
        health = pages_org.provider_health(self.breakers, found, found_routes) if self.breakers else None
        body = pages_org.providers_page(
            found, found_routes, visit.csrf, can_change=access.is_org_manager(visit.actor), health=health
        )
        return self.render("Providers and routes", Html(top + body), visit, "providers")

    async def provider_credential(self, request: Request, visit: Visit) -> Response:
        form = await self.posted(request, visit)
        info = await self.call(credentials.add, self.cp, visit.actor, form.get("provider", ""), form.get("api_key", ""))
        return await self.providers_page(request, visit, notice(f"Credential {info.id} added to {info.provider}."))

    # ---- reports ----------------------------------------------------------------------------------

    def _values(self, request: Request, names: tuple[str, ...]) -> dict[str, str]:
        return {name: request.query_params.get(name, "")[:200] for name in names}

    async def usage_page(self, request: Request, visit: Visit) -> Response:
        values = self._values(request, ("since", "until"))
        try:
            since, until = usage.parse_range(values["since"] or None, values["until"] or None, self.cp.clock())
        except InvalidInput as exc:
            raise Refused(400, str(exc)) from None
        lines = {
            name: await self.call(usage.report, self.cp, visit.actor, since=since, until=until, by=(name,))
            for name, _ in pages_reports.CHARTS
        }
        return self.render("Usage", pages_reports.usage_page(values, lines), visit, "usage")

    async def audit_page(self, request: Request, visit: Visit) -> Response:
        values = self._values(request, ("since", "until", "actor", "action"))
        now = self.cp.clock()
        try:
            since = usage.parse_instant(values["since"], now, name="since") if values["since"] else None
            until = usage.parse_instant(values["until"], now, name="until") if values["until"] else None
            where = audit_trail.record_filter(
                since=since,
                until=until,
                actor=values["actor"] or None,
                actions=[values["action"]] if values["action"] else [],
            )
        except InvalidInput as exc:
            raise Refused(400, str(exc)) from None
        verification = await self.call(audit_trail.check, self.cp, visit.actor)
        records = await self.call(
            lambda: list(deque(audit_trail.export(self.cp, visit.actor, where), maxlen=AUDIT_SHOWN))
        )
        body = pages_reports.audit_page(values, verification, list(reversed(records)), AUDIT_SHOWN)
        return self.render("Audit", body, visit, "audit")

    async def posture_page(self, request: Request, visit: Visit) -> Response:
        await self.call(access.require_policy_reader, visit.actor)
        report = await self.call(posture.inspect, self.settings, self.cp, visit.actor)
        return self.render("Posture", pages_reports.posture_page(report.findings), visit, "posture")


def build_console_app(
    cp: ControlPlane,
    settings: Settings,
    *,
    security: SecurityEvents | None = None,
    breakers: CircuitBreakers | None = None,
    proxies: Networks = (),
) -> ASGIApp:
    """The ``/console`` app (paths include the prefix: the gateway routes ``/console...`` here as they are).

    ``security``: where refused sign-ins are counted (the data plane's aggregator); ``breakers``: the data
    plane's circuit breakers (the providers' health); ``proxies``: trusted proxies, as for the data plane."""
    c = Console(cp, settings, security=security, breakers=breakers, proxies=proxies)
    o = OrgActions(c)
    g = c.guarded
    table: list[tuple[str, Callable[..., Any], list[str]]] = [
        ("/console", c.home, ["GET"]),
        ("/console/signin", c.signin_page, ["GET"]),
        ("/console/sso/start", c.sso.start, ["GET"]),
        ("/console/sso/callback", c.sso.callback, ["GET"]),
        ("/console/static/{name}", c.asset, ["GET"]),
    ]
    app = Starlette(
        routes=[
            *(Route(path, fn, methods=methods) for path, fn, methods in table),
            Route("/console/signin", c.signin, methods=["POST"]),
            Route("/console/signout", g(c.signout), methods=["POST"]),
            Route("/console/keys", g(c.keys_page), methods=["GET"]),
            Route("/console/keys", g(c.key_create), methods=["POST"]),
            Route("/console/keys/{key_id}", g(c.key_detail), methods=["GET"]),
            Route("/console/keys/{key_id}/rotate", g(c.key_rotate), methods=["POST"]),
            Route("/console/keys/{key_id}/revoke", g(c.key_revoke), methods=["POST"]),
            Route("/console/org", g(o.org_page), methods=["GET"]),
            Route("/console/org/members/{member_id}", g(o.member_page), methods=["GET"]),
            Route("/console/org/members/{member_id}", g(o.member_update), methods=["POST"]),
            Route("/console/org/members/{member_id}/remove", g(o.member_remove), methods=["POST"]),
            Route("/console/org/teams/{name}/rename", g(o.team_rename), methods=["POST"]),
            Route("/console/org/teams/{name}/delete", g(o.team_delete), methods=["POST"]),
            Route("/console/providers", g(c.providers_page), methods=["GET"]),
            Route("/console/providers/credential", g(c.provider_credential), methods=["POST"]),
            Route("/console/usage", g(c.usage_page), methods=["GET"]),
            Route("/console/audit", g(c.audit_page), methods=["GET"]),
            Route("/console/posture", g(c.posture_page), methods=["GET"]),
            Route("/console/lockdown", g(o.lockdown_page), methods=["GET"]),
            Route("/console/lockdown", g(o.lockdown_change), methods=["POST"]),
        ],
    )
    return SecurityHeaders(app)
