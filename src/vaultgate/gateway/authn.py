"""Stage 2, authn: parse the token, verify its checksum, look its keyed hash up in the snapshot."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vaultgate.gateway.errors import GatewayError, invalid_api_key, missing_api_key
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
_CREDENTIAL_HEADERS = (b"authorization", b"api-key")


def repeated_credentials() -> GatewayError:
    """The 400 for a request carrying more than one credential."""
    return GatewayError(400, "invalid_request", "Send exactly one Authorization header.", param="authorization")


def check_single_credential(ex: Exchange, raw_headers: Sequence[tuple[bytes, bytes]]) -> None:
    """400 for two ``Authorization`` headers (or two ``api-key``), or both kinds with different tokens.

    ``ex.headers`` keeps one value per name, so without this check the gateway would judge one
    copy while a proxy or the admin plane could read another: a request with two credentials
    has no single meaning, and is refused.
    """
    # A repeated name makes the raw list longer than the dict built from it (the common case costs
    # one comparison); only then are the raw headers walked.
    if len(raw_headers) != len(ex.headers):
        seen = [name.lower() for name, _ in raw_headers]
        if any(seen.count(name) > 1 for name in _CREDENTIAL_HEADERS):
            raise repeated_credentials()
    api_key = ex.headers.get(b"api-key")
    if (
        api_key is not None
        and b"authorization" in ex.headers
        and presented_token(ex) != api_key.strip().decode("latin-1")
    ):
        raise repeated_credentials()


def authenticate(
    ex: Exchange,
    raw_headers: Sequence[tuple[bytes, bytes]],
    snapshot: Snapshot,
    hasher: TokenHasher,
    on_canary: CanaryAlarm,
) -> KeyGrant:
    """The grant for the one presented member key or short-lived token; one 401 for every kind of bad key.

    ``raw_headers`` are the request's headers as received (``scope["headers"]``), for the check that
    there is exactly one credential. A canary key gets the same 401 as an unknown key, and
    ``on_canary(key_id, ex)`` raises the alarm.
    """
    check_single_credential(ex, raw_headers)
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


def stale_snapshot(max_staleness: float) -> GatewayError:
    """The 503 of a replica that has not reached its store for longer than ``max_staleness`` seconds:
    it cannot know which keys were revoked meanwhile, so it accepts none (fail closed)."""
    return GatewayError(
        503,
        "snapshot_stale",
        f"vaultgate cannot confirm keys right now: this replica has not reached its database for over "
        f"{max_staleness:g} s, so it accepts no key rather than one that may have been revoked. Retry shortly.",
        headers=[(b"retry-after", b"5")],
    )
