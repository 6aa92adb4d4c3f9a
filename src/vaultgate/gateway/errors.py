"""Refusals on ``/v1/*``, in OpenAI's error shape so the official SDKs raise the right class.

GatewayError                 one refusal: status, OpenAI ``type`` and ``code``, a safe message
Messages never contain a token, a provider key, a prompt or a completion.
"""

from __future__ import annotations

import orjson

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "upstream_error",
}


class GatewayError(Exception):
    """A request the gateway answers itself, with an OpenAI-shaped error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        error_type: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.error_type = error_type or _TYPES.get(status, "invalid_request_error")
        self.headers = headers or []

    def body(self) -> bytes:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return orjson.dumps(
            {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}
        )


INVALID_API_KEY_MESSAGE = (
    "Incorrect API key provided. Use a vaultgate member key (vgk_...) issued to you; "
    "ask your vaultgate admin if it stopped working."
)


def invalid_api_key() -> GatewayError:
    """The one answer for an unknown, malformed, revoked or expired key: no oracle."""
    return GatewayError(401, "invalid_api_key", INVALID_API_KEY_MESSAGE)


def missing_api_key() -> GatewayError:
    """No credential at all was sent."""
    return GatewayError(
        401,
        "invalid_api_key",
        "You didn't provide an API key. Send your vaultgate key as 'Authorization: Bearer vgk_...'.",
    )
