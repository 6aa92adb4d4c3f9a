"""Console sessions: a signed cookie (session id, expiry, the credential's keyed hash) and CSRF tokens.

Nothing is kept on the server: the cookie names the credential by the keyed hash the store already
holds (``TokenHasher.token_hash``), and every request looks that hash up again, so a revoked token
or key ends its sessions at once. The signing key is derived from the token hashing key (sealed in
the vault) through ``TokenHasher.pseudonym``; it never leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from vaultgate.keys.hashing import TokenHasher

COOKIE = "vg_console"
SIGNIN_COOKIE = "vg_console_signin"
LIFETIME = timedelta(hours=8)
SSO_STATE_COOKIE = "vg_console_sso"
SSO_STATE_LIFETIME = timedelta(minutes=10)
# an admin token (vga_), a member key (vgk_), or a single sign-on (the credential is the identity link's id)
KINDS = ("admin", "key", "sso")


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session cookie: who signed in with which credential (by its keyed hash), until when."""

    sid: str
    kind: str
    credential_hash: str
    expires_at: int


class SessionSigner:
    """Issues and checks session cookies and the CSRF tokens bound to them."""

    def __init__(self, hasher: TokenHasher) -> None:
        self._key = bytes.fromhex(hasher.pseudonym("console-session-key", "v1", 64))

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).hexdigest()

    def issue(self, kind: str, credential_hash: str, now: datetime) -> tuple[str, Session]:
        """A new cookie value for a credential that was just checked, and the session it carries."""
        if kind not in KINDS:
            raise ValueError(f"unknown credential kind {kind!r}")
        session = Session(secrets.token_hex(16), kind, credential_hash, int((now + LIFETIME).timestamp()))
        body = f"{session.sid}.{kind}.{credential_hash}.{session.expires_at}"
        return f"{body}.{self._mac('session', body)}", session

    def read(self, value: str | None, now: datetime) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged, malformed or expired."""
        if not value or len(value) > 400:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        parts = body.split(".")
        if len(parts) != 4 or parts[1] not in KINDS or not parts[3].isdigit():
            return None
        session = Session(parts[0], parts[1], parts[2], int(parts[3]))
        if session.expires_at <= now.timestamp():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The anti-forgery token of a session: put in every form, checked on every POST."""
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """Whether a posted token belongs to this session (constant-time)."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def sso_state_cookie(self, state: str, now: datetime) -> str:
        """The cookie binding a single sign-on under way to this browser: its state, until when, signed."""
        body = f"{state}.{int((now + SSO_STATE_LIFETIME).timestamp())}"
        return f"{body}.{self._mac('sso-state', body)}"

    def sso_state(self, value: str | None, now: datetime) -> str | None:
        """The state a single sign-on cookie carries, or None when it is missing, forged or expired."""
        if not value or len(value) > 200:
            return None
        body, _, mac = value.rpartition(".")
        state, _, expires = body.partition(".")
        if not hmac.compare_digest(mac, self._mac("sso-state", body)) or not expires.isdigit():
            return None
        return state if int(expires) > now.timestamp() else None

    @staticmethod
    def new_signin_nonce() -> str:
        """A random value for the sign-in form's own cookie (there is no session yet to bind a token to)."""
        return base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()

    def signin_token(self, nonce: str) -> str:
        """The sign-in form's token: bound to the nonce cookie the same browser got with the form."""
        return self._mac("signin", nonce)

    def signin_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether the sign-in form's token matches its cookie (constant-time)."""
        return bool(nonce) and bool(token) and hmac.compare_digest(str(token), self.signin_token(str(nonce)))
