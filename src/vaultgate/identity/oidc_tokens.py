"""ID token verification: an OpenID Connect ID token is believed only after every check here passes.

The checks, in order (OpenID Connect Core 1.0, section 3.1.3.7):

- the token is a compact JWS no larger than :data:`MAX_ID_TOKEN_BYTES`, with an algorithm from
  :data:`ALGORITHMS` (asymmetric only: never ``none``, never an HMAC keyed with the client secret,
  which anyone holding that secret could forge);
- its signature verifies with a key of the issuer's JWKS (by ``kid``; without one, the keys of the
  algorithm's type are tried); a ``kid`` the JWKS lacks is :class:`UnknownKey`, so the caller fetches
  the JWKS again once (the issuer rotated its keys);
- ``iss`` is the configured issuer exactly; ``aud`` holds the client id (and ``azp`` is the client id
  when there are several audiences, or whenever ``azp`` is present); ``exp`` is in the future; ``iat``
  is not more than :data:`LEEWAY` in the future; ``nonce`` is the nonce of this sign-in.

Every failure is an :class:`OidcError` with a message that names the check and never the token.
"""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_ID_TOKEN_BYTES = 16 * 1024
LEEWAY = timedelta(seconds=60)
_SUBJECT_MAX = 255


class OidcError(Exception):
    """A sign-in the OpenID Connect protocol refuses; the message is precise and holds no secret.

    ``unreachable``: the issuer could not be reached or gave an unusable answer (502), rather than a
    protocol error in what the browser or the issuer sent (400).
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


class UnknownKey(OidcError):
    """The token names a key id the cached JWKS does not hold (the caller fetches the JWKS once more)."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What a verified ID token must say: whose it is, for whom, for which sign-in, at what time."""

    issuer: str
    client_id: str
    nonce: str
    now: datetime


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_ID_TOKEN_BYTES:
        raise OidcError("the ID token is larger than vaultgate accepts")
    try:
        header = dict(jws.extract_compact(token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError):
        raise OidcError("the ID token is not a signed JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise OidcError("the ID token is not signed (alg: none)")
    if alg not in ALGORITHMS:
        shown = alg if alg.isalnum() and len(alg) <= 10 else "(unknown)"
        raise OidcError(f"the ID token is signed with {shown}, an algorithm vaultgate does not accept")
    return header


def _candidates(keys: KeySet, header: Mapping[str, Any]) -> list[Key]:
    alg = str(header["alg"])
    kty = _KEY_TYPES[alg[:2]]
    kid = header.get("kid")
    if kid is not None:
        if not isinstance(kid, str):
            raise OidcError("the ID token's key id is not a string")
        found = [k for k in keys if k.kid == kid]
        if not found:
            raise UnknownKey("the ID token is signed by a key the issuer does not publish")
    else:
        found = list(keys)
    usable = [
        k
        for k in found
        if k.key_type == kty and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg and not k.is_private
    ]
    if not usable:
        raise OidcError("the ID token is signed by a key the issuer does not publish")
    return usable


def _verified_claims(token: str, keys: KeySet, header: Mapping[str, Any]) -> dict[str, Any]:
    alg = str(header["alg"])
    for key in _candidates(keys, header):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # joserfc flags EdDSA as superseded by Ed25519 (RFC 9864)
                return dict(jwt.decode(token, key, algorithms=[alg]).claims)
        except JoseError:
            continue
        except (ValueError, TypeError):  # a payload that is not JSON
            raise OidcError("the ID token's claims are not a JSON object") from None
    raise OidcError("the ID token's signature does not verify with the issuer's keys")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OidcError(f"the ID token has no valid '{name}' claim")
    return float(value)


def check_claims(claims: Mapping[str, Any], expected: Expected) -> None:
    """Raise OidcError unless the verified claims are for this issuer, client, sign-in and time."""
    if claims.get("iss") != expected.issuer:
        raise OidcError("the ID token was issued by another issuer than the configured one")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or expected.client_id not in audiences:
        raise OidcError("the ID token is not for this client (its audience lacks the client id)")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != expected.client_id:
        raise OidcError("the ID token was issued to another party (azp is not the client id)")
    now = expected.now.timestamp()
    if _number(claims, "exp") <= now:
        raise OidcError("the ID token has expired")
    if _number(claims, "iat") > now + LEEWAY.total_seconds():
        raise OidcError("the ID token was issued in the future (check the clocks)")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), expected.nonce.encode()):
        raise OidcError("the ID token's nonce is not this sign-in's")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > _SUBJECT_MAX:
        raise OidcError("the ID token has no valid 'sub' claim")


def verify(token: str, keys: KeySet, expected: Expected) -> dict[str, Any]:
    """The claims of ``token`` once its signature and claims pass every check; OidcError otherwise
    (UnknownKey for a key id the JWKS lacks)."""
    header = _header(token)
    claims = _verified_claims(token, keys, header)
    check_claims(claims, expected)
    return claims
