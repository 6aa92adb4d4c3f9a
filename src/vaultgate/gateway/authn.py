"""Stage 2, authn: parse the token, verify its checksum, look its keyed hash up in the snapshot."""

from __future__ import annotations

from collections.abc import Callable

from vaultgate.gateway.errors import invalid_api_key, missing_api_key
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.keys import tokens
from vaultgate.keys.hashing import TokenHasher
from vaultgate.policy.grants import KeyGrant


def presented_token(ex: Exchange) -> str | None:
    """The credential from ``Authorization: Bearer`` (OpenAI SDKs) or ``api-key`` (Azure SDKs)."""
    auth = ex.headers.get(b"authorization")
    if auth is not None:
        scheme, _, value = auth.partition(b" ")
        if scheme.lower() != b"bearer":
            return ""
        return value.strip().decode("latin-1")
    api_key = ex.headers.get(b"api-key")
    return api_key.strip().decode("latin-1") if api_key is not None else None


CanaryAlarm = Callable[[str, Exchange], None]


def authenticate(ex: Exchange, snapshot: Snapshot, hasher: TokenHasher, on_canary: CanaryAlarm) -> KeyGrant:
    """The grant for the presented member key or short-lived token; one 401 for every kind of bad key.

    A canary key gets the same 401 as an unknown key, and ``on_canary(key_id, ex)`` raises the alarm.
    """
    token = presented_token(ex)
    if token is None:
        raise missing_api_key()
    parsed = tokens.parse(token)
    # The checksum rejects typos and random strings before any hashing.
    if parsed is None or parsed.kind is tokens.TokenKind.ADMIN_TOKEN:
        raise invalid_api_key()
    digest = hasher.token_hash(token)
    grant = snapshot.grant(digest)
    if grant is None:
        canary = snapshot.canaries.get(digest)
        if canary is not None:
            on_canary(canary, ex)
        raise invalid_api_key()
    if grant.short_lived != (parsed.kind is tokens.TokenKind.SHORT_LIVED):
        raise invalid_api_key()
    ex.credential_hash = digest
    return grant
