"""Azure OpenAI's content-filter refusal, rewritten as an OpenAI-shaped error (docs/PROVIDERS.md, Azure OpenAI).

Azure refuses a prompt its filter flags with a 400 whose ``error`` has ``code: content_filter``,
``type: null`` and the verdicts under ``innererror.content_filter_result``. OpenAI's SDKs then
raise ``BadRequestError`` but the body fits no OpenAI shape. vaultgate answers instead::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "prompt",
               "code": "content_filter",
               "content_filter": {"categories": ["hate"], "results": {"hate": {"filtered": true, ...}}}}}

``categories`` lists the categories that were filtered; ``results`` keeps Azure's verdict per
category, reduced to flat values (``filtered``, ``detected``, ``severity``...) under plain
identifier names, so nothing else the upstream wrote reaches the client. Annotation frames of a
stream (``prompt_filter_results``, ``content_filter_results``) and ``finish_reason:
content_filter`` are OpenAI-compatible extras and pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from vaultgate.upstream.interface import UpstreamResponse

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_FLAT = (bool, int, float)
_MAX_CATEGORIES = 32


def _verdicts(inner: Any) -> dict[str, dict[str, Any]]:
    """Azure's per-category verdicts, flat values under identifier names only."""
    if not isinstance(inner, dict):
        return {}
    raw = inner.get("content_filter_result", inner.get("content_filter_results"))
    if not isinstance(raw, dict):
        return {}
    results: dict[str, dict[str, Any]] = {}
    for name, verdict in list(raw.items())[:_MAX_CATEGORIES]:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(verdict, dict):
            continue
        results[name] = {
            key: value
            for key, value in verdict.items()
            if isinstance(key, str)
            and _NAME.fullmatch(key)
            and (isinstance(value, _FLAT) or (isinstance(value, str) and _NAME.fullmatch(value)))
        }
    return results


def normalised(body: bytes) -> bytes | None:
    """The OpenAI-shaped error for Azure's content-filter 400, or None when ``body`` is not one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict) or error.get("code") != "content_filter":
        return None
    results = _verdicts(error.get("innererror"))
    categories = sorted(name for name, verdict in results.items() if verdict.get("filtered") is True)
    named = f" (filtered: {', '.join(categories)})" if categories else ""
    param = error.get("param") if error.get("param") in ("prompt", "messages", "input") else "prompt"
    return orjson.dumps(
        {
            "error": {
                "message": f"The prompt was refused by Azure OpenAI's content filter{named}.",
                "type": "invalid_request_error",
                "param": param,
                "code": "content_filter",
                "content_filter": {"categories": categories, "results": results},
            }
        }
    )


class ContentFilterErrors(UpstreamResponse):
    """An Azure error answer with a content-filter refusal rewritten (other bodies pass as they are)."""

    def __init__(self, inner: UpstreamResponse) -> None:
        self._inner = inner
        self.status = inner.status
        self.headers = inner.headers

    async def read(self) -> bytes:
        """The whole body, normalised when it is a content-filter refusal."""
        body = await self._inner.read()
        return normalised(body) or body

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in one piece (an error answer is read whole anyway)."""
        yield await self.read()

    async def close(self) -> None:
        """Release the upstream connection."""
        await self._inner.close()
