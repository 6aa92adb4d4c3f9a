"""A hostile OpenID Connect issuer on loopback: a real discovery document and JWKS, and a token endpoint that
returns whatever ID token the test crafted (wrong issuer, audience, nonce, unsigned, another key...).

The test reads the nonce from the authorization URL vaultgate sends the browser to, crafts the ID token with
:meth:`HostileIssuer.id_token`, and sets :attr:`HostileIssuer.answer`. Every token request is recorded
(its form and Basic credentials), so a test can assert how often vaultgate called and what it sent.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key, KeySet, OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import ThreadedServer, free_port

CLIENT_ID = "vaultgate-console"


def unsigned(claims: dict[str, Any]) -> str:
    """A JWT with ``alg: none`` and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class HostileIssuer:
    """The issuer's app and state: its signing key, what its token endpoint answers, what it was sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "good-key", "use": "sig"}, private=True)
        self.answer: Callable[[dict[str, str]], dict[str, Any]] | None = None
        self.token_requests: list[tuple[dict[str, str], str | None]] = []
        self.discovery_issuer: str | None = None  # None: its own issuer
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/token", self.token, methods=["POST"]),
            ]
        )
        self.server = ThreadedServer(app, port=self.port)

    def start(self) -> HostileIssuer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.discovery_issuer or self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def token(self, request: Request) -> JSONResponse:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.token_requests.append((form, request.headers.get("authorization")))
        if self.answer is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", **self.answer(form)})

    def claims(self, nonce: str, /, **overrides: Any) -> dict[str, Any]:
        """Good claims for ``nonce`` (alice, verified email at example.com), with ``overrides`` (None drops one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "sub-alice",
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "email": "alice@example.com",
            "email_verified": True,
            "name": "Alice Example",
            "preferred_username": "alice",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(self, claims: dict[str, Any], *, key: Key | None = None, alg: str = "RS256") -> str:
        """``claims`` signed with ``key`` (default: the published key) under ``alg``."""
        signer = key or self.key
        header = {"alg": alg, "kid": signer.kid or "good-key"}
        return jwt.encode(header, claims, signer, algorithms=[alg])

    def answers(self, token: str) -> None:
        """Make the token endpoint return ``token`` as the ID token."""
        self.answer = lambda form: {"id_token": token}


def other_key() -> RSAKey:
    """A signing key the issuer does not publish, with the same key id as the published one."""
    return RSAKey.generate_key(2048, parameters={"kid": "good-key"}, private=True)


def hmac_key(secret: str) -> OctKey:
    """An HMAC key from the client secret (what an HS256 forgery would use)."""
    return OctKey.import_key(secret.encode(), parameters={"kid": "good-key"})
