"""Log lines: plain text for people or one JSON object per line for collectors, and the access log.

Nothing logged anywhere carries a token, a provider key, the master key, a prompt or a completion
(``tests/gateway/test_no_content_retention.py`` checks every line at DEBUG). The access log is
built from the usage record, which by design holds metadata only: the request id, endpoint,
model label, status and error code, provider, tokens, latency, and the key and member ids.

A request the gateway answers with a 5xx is logged at WARNING with its error code (the cause:
``upstream_unavailable``, ``upstream_timeout``, ``limits_unavailable``, ``snapshot_stale``...)
even when the access log is off. The JSON formatter is a few lines on top of the standard
library (no dependency for it): ``ts``, ``level``, ``logger``, ``message``, and for access
lines the record's fields.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from vaultgate.usage.events import UsageRecord

FORMATS = ("text", "json")
_ACCESS = logging.getLogger("vaultgate.access")


class JSONFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """The line for ``record`` (exception frames as ``exc``)."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str, fmt: str = "text") -> None:
    """vaultgate's (and, in JSON, uvicorn's) log lines on stderr in the chosen format."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("vaultgate")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    if fmt == "json":  # uvicorn's own lines after start-up too (its first lines were already written)
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).handlers[:] = [handler]


class AccessLog:
    """One line per finished request (INFO), and every 5xx at WARNING whether or not the log is on."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def observe(self, record: UsageRecord) -> None:
        """Log ``record`` (called for every usage record)."""
        server_error = record.status >= 500
        if not (server_error or self.enabled):
            return
        level = logging.WARNING if server_error else logging.INFO
        if not _ACCESS.isEnabledFor(level):
            return
        fields = {
            "request_id": record.request_id,
            "endpoint": record.endpoint,
            "model": record.model,
            "status": record.status,
            "error_code": record.error_code,
            "provider": record.provider,
            "stream": record.stream,
            "latency_ms": record.latency_ms,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "key_id": record.key_id,
            "member_id": record.member_id,
        }
        _ACCESS.log(
            level,
            "%s %s %d%s %.1fms",
            record.request_id,
            record.endpoint,
            record.status,
            f" {record.error_code}" if record.error_code else "",
            record.latency_ms,
            extra={"fields": fields},
        )
