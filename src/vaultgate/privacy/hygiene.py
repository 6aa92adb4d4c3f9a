"""Request hygiene: what the upstream must not learn about the member or keep of the request.

- ``store`` is forced to ``false`` on chat completions and responses unless the key allows storing;
- a pseudonymous ``safety_identifier`` (keyed hash of the member id) replaces any ``user``;
- only an allowlist of client headers is ever forwarded (no org/project ids, cookies, X-Forwarded-For);
  a multipart form's own ``Content-Type`` (its boundary) goes with the form.
"""

from __future__ import annotations

from typing import Any

# Endpoints where OpenAI may retain the request when asked to (store=true).
STORE_ENDPOINTS = frozenset({"chat/completions", "responses"})
# Endpoints that accept safety_identifier; the others accept only the legacy `user`.
SAFETY_ID_ENDPOINTS = frozenset({"chat/completions", "responses"})

FORWARDED_HEADERS = frozenset({b"accept", b"openai-beta"})


def apply(payload: dict[str, Any], endpoint: str, pseudonym: str, allow_store: bool) -> bool:
    """Rewrite ``payload`` in place; True when anything changed (so the body is re-serialised)."""
    changed = False
    # Chat completions default to store=false upstream, the Responses API to true.
    store = payload.get("store")
    if (
        endpoint in STORE_ENDPOINTS
        and not allow_store
        and (store is True or (endpoint == "responses" and store is not False))
    ):
        payload["store"] = False
        changed = True
    if endpoint in SAFETY_ID_ENDPOINTS:
        if "user" in payload:
            del payload["user"]
            changed = True
        if payload.get("safety_identifier") != pseudonym:
            payload["safety_identifier"] = pseudonym
            changed = True
    elif "user" in payload and payload["user"] != pseudonym:
        payload["user"] = pseudonym
        changed = True
    return changed


def forwarded_headers(client_headers: dict[bytes, bytes], *, multipart: bool = False) -> list[tuple[bytes, bytes]]:
    """The client headers that may reach the upstream (an allowlist, not a denylist).

    A multipart body is forwarded byte for byte, so its ``Content-Type`` (which carries the
    boundary) goes with it; every other body is JSON the adapter labels itself.
    """
    forwarded = [(name, value) for name, value in client_headers.items() if name in FORWARDED_HEADERS]
    if multipart and b"content-type" in client_headers:
        forwarded.append((b"content-type", client_headers[b"content-type"]))
    return forwarded
