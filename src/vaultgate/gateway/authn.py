"""Stage 2, authn: parse the token, verify its checksum, look its keyed hash up in the snapshot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from vaultgate.gateway import security_events
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


# Awaited before the canary's 401 is sent: the alarm is on record when the caller learns of the refusal.
CanaryAlarm = Callable[[str, Exchange], Awaitable[None]]
CANARY = "canary"  # the reason of a canary key's refusal (audited at once as canary.used, not summarised)


class CredentialRefused(GatewayError):
    """The one 401 for a bad credential, carrying for the audit trail what was refused and why.

    ``credential`` names it without its secret: the key id when known, else the token's display
    form, else ``malformed``/``none``; ``reason`` is one of the reasons in
    :mod:`vaultgate.gateway.security_events` or :data:`CANARY`. Neither is ever in the answer.
    """

    def __init__(self, answer: GatewayError, credential: str, reason: str) -> None:
        super().__init__(answer.status, answer.code, answer.message, param=answer.param, headers=answer.headers)
        self.credential = credential
        self.reason = reason


def refused(credential: str, reason: str) -> CredentialRefused:
    """The 401 ``invalid_api_key`` for a refused credential (the same answer whatever the reason)."""
    return CredentialRefused(invalid_api_key(), credential, reason)


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
) -> KeyGrant:
    """The grant for the one presented member key or short-lived token; one 401 for every kind of bad key.

    ``raw_headers`` are the request's headers as received (``scope["headers"]``), for the check that
    there is exactly one credential. Every bad credential raises :class:`CredentialRefused` (one
    answer; what it was and why ride along for the audit trail). A canary key gets the same 401 as
    an unknown key, with the reason :data:`CANARY`: the data plane raises the alarm before answering.
    """
    check_single_credential(ex, raw_headers)
    token = presented_token(ex)
    if token is None:
        raise CredentialRefused(missing_api_key(), "none", security_events.MISSING)
    parsed = tokens.parse(token)
    # The checksum rejects typos and random strings before any hashing. A malformed value may be
    # any secret (an OpenAI key sent here by mistake): it is never named, not even in part.
    if parsed is None:
        raise refused(security_events.MALFORMED, security_events.MALFORMED)
    if parsed.kind is tokens.TokenKind.ADMIN_TOKEN:
        raise refused(parsed.display, security_events.ADMIN_TOKEN)
    digest = hasher.token_hash(token)
    grant = snapshot.grant(digest)
    if grant is None:
        canary = snapshot.canaries.get(digest)
        if canary is not None:
            raise refused(canary, CANARY)
        raise refused(parsed.display, security_events.UNKNOWN)
    if grant.short_lived != (parsed.kind is tokens.TokenKind.SHORT_LIVED):
        raise refused(parsed.display, security_events.UNKNOWN)
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
