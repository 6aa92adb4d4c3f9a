"""Bounded privacy work: the scanning budget and deadline fail closed; large bodies are scanned whole off the loop."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import orjson
import pytest
from tests.privacy import pii_corpus as corpus

from vaultgate.privacy.errors import ScanBudgetExceeded, ScanTimeout
from vaultgate.privacy.guard import INLINE_BYTES, PrivacyGuard
from vaultgate.privacy.modes import DEFAULT_POLICY

RNG = random.Random(77)


def _cards(size: int) -> str:
    return " ".join(corpus._luhn_complete(f"4{i:09d}", 16, RNG) for i in range(size // 17))


def _payload(prompt: str) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]}


def _run(guard: PrivacyGuard, payload: dict[str, Any]) -> Any:
    size = len(orjson.dumps(payload))
    return asyncio.run(guard.protect_bounded(payload, {}, b"", DEFAULT_POLICY, size=size))


def test_a_body_over_the_scanning_budget_is_refused_before_any_scan() -> None:
    guard = PrivacyGuard(scan_max_bytes=1000)
    with pytest.raises(ScanBudgetExceeded) as refused:
        _run(guard, _payload("x" * 2000))
    assert refused.value.status == 413 and refused.value.code == "request_too_large"
    assert "VAULTGATE_PRIVACY_SCAN_MAX_BYTES" in refused.value.message


def test_a_scan_past_its_deadline_fails_closed() -> None:
    guard = PrivacyGuard(scan_timeout=0.0)
    with pytest.raises(ScanTimeout) as refused:
        _run(guard, _payload(_cards(INLINE_BYTES * 2)))
    assert refused.value.status == 503 and refused.value.code == "privacy_scan_timeout"


@pytest.mark.parametrize("size", [INLINE_BYTES // 2, INLINE_BYTES * 2, 256 * 1024])
def test_inline_and_offloaded_scans_redact_every_card(size: int) -> None:
    payload = _payload(_cards(size))
    rmap, changed, _, _ = _run(PrivacyGuard(), payload)
    assert changed and len(rmap) == size // 17
    assert re.search(r"\d{16}", payload["messages"][0]["content"]) is None
