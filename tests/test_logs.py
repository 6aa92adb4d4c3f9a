"""The access log and the JSON log format."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from vaultgate.logs import AccessLog, JSONFormatter
from vaultgate.usage.events import UsageRecord


def record(status: int, code: str | None = None) -> UsageRecord:
    return UsageRecord(
        datetime.now(UTC),
        "req_1",
        "mem_1",
        "key_1",
        "openai",
        "chat/completions",
        "gpt-4o",
        status,
        code,
        False,
        3,
        4,
        12.5,
        None,
    )


def test_a_5xx_is_logged_at_warning_with_its_cause_even_with_the_access_log_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vaultgate.access")
    quiet = AccessLog(enabled=False)
    quiet.observe(record(200))
    quiet.observe(record(502, "upstream_unavailable"))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "req_1 chat/completions 502 upstream_unavailable 12.5ms")
    ]
    caplog.clear()
    AccessLog(enabled=True).observe(record(200))
    assert [(r.levelno, r.fields["key_id"]) for r in caplog.records] == [(logging.INFO, "key_1")]  # type: ignore[attr-defined]


def test_json_lines_carry_the_access_fields() -> None:
    line = logging.LogRecord("vaultgate.access", logging.INFO, __file__, 1, "a %s", ("b",), None)
    line.fields = {"request_id": "req_1", "status": 200}  # type: ignore[attr-defined]
    parsed = json.loads(JSONFormatter().format(line))
    assert parsed["message"] == "a b" and parsed["level"] == "info" and parsed["status"] == 200
    assert parsed["ts"].endswith("+00:00")
