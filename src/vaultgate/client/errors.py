"""What can go wrong on a member's machine, each with a message that says what to do.

ClientError                     one line, safe to print (never a key or a token); exit_code for the CLI
├── UsageProblem                a bad argument (exit 2): no gateway known, a bad URL, not a member key
├── KeyringUnavailable          no usable keyring backend (and no --insecure-file)
├── KeyringLocked               the keyring exists but is locked
├── NotLoggedIn                 no key stored for this gateway
├── GatewayUnreachable          no answer (connection refused, DNS, TLS, timeout)
└── GatewayRefused              the gateway answered with an error (status, code)
    ├── KeyRefused              401: the key is expired, revoked or unknown
    └── ExchangeLimited         429: too many token exchanges (retry_after seconds)
"""

from __future__ import annotations


class ClientError(Exception):
    """A refusal or failure of the client side; ``str()`` is one line for the user."""

    exit_code = 1


class UsageProblem(ClientError):
    """The command was given something it cannot use (a usage error: exit 2)."""

    exit_code = 2


class KeyringUnavailable(ClientError):
    """No keyring backend can keep the key."""


class KeyringLocked(ClientError):
    """The keyring backend is there but locked (or refused to unlock)."""


class NotLoggedIn(ClientError):
    """No key is stored for the gateway."""


class GatewayUnreachable(ClientError):
    """The gateway (or the exec credential endpoint) did not answer."""


class GatewayRefused(ClientError):
    """The gateway answered with an error."""

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


STORED_KEY_REFUSED = "the stored key is expired, revoked or unknown: run `vaultgate login` again"


class KeyRefused(GatewayRefused):
    """401: the member key is expired, revoked or unknown (the gateway says no more, by design)."""

    def __init__(self, message: str = STORED_KEY_REFUSED) -> None:
        super().__init__(message, 401, "invalid_api_key")


class ExchangeLimited(GatewayRefused):
    """429: the key's token exchange limit; ``retry_after`` seconds until the next may succeed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, 429, "rate_limit_exceeded")
        self.retry_after = retry_after
