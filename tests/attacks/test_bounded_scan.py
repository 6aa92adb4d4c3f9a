"""Issue 9, class 7: one request cannot stall a worker.

A 1 MB prompt of card-like digits used to take 16 s of detection on the event loop, and
``/healthz`` waited as long. Now the request is answered (refused, or scanned and forwarded)
within its deadline, and health checks sent while it is being scanned are answered first.
Ordering, not durations: nothing here measures time.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import httpx
import orjson

from tests.attacks.conftest import RecordingUpstream, Served
from tests.privacy import pii_corpus as corpus

RNG = random.Random(907)


def _adversarial_prompt(size: int = 1024 * 1024) -> str:
    """About ``size`` characters of distinct, Luhn-valid card numbers, then an IP address."""
    cards = (corpus._luhn_complete(f"4{i:09d}", 16, RNG) for i in range(size // 17))
    return " ".join(cards) + " from 203.0.113.7"


def _body(prompt: str) -> bytes:
    return orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]})


class _Race:
    """The big request on one thread; health checks sent one after another while it runs."""

    def __init__(self, served: Served, key: str, body: bytes) -> None:
        self.served, self.key, self.body = served, key, body
        self.sent = threading.Event()
        self.done = threading.Event()
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.response: httpx.Response | None = None

    def _chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), 65536):
            yield self.body[start : start + 65536]
        self.sent.set()  # the whole body is on its way: the gateway scans it next

    def _big(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        try:
            self.response = httpx.post(
                self.served.base_url + "/chat/completions", content=self._chunks(), headers=headers, timeout=120
            )
        finally:
            with self.lock:
                self.order.append("big")
            self.done.set()

    def run(self) -> None:
        thread = threading.Thread(target=self._big)
        thread.start()
        assert self.sent.wait(60)
        with httpx.Client(timeout=120) as client:
            while not self.done.is_set():
                assert client.get(self.served.url + "/healthz").status_code == 200
                with self.lock:
                    self.order.append("healthz")
        thread.join(120)

    def health_checks_before_the_answer(self) -> int:
        return self.order.index("big")


def test_health_checks_are_answered_while_a_1mb_adversarial_prompt_is_scanned_and_refused(
    served: Served, upstream: RecordingUpstream
) -> None:
    key = served.key(served.member(), privacy={"pii": {"ip_address": "block"}})
    race = _Race(served, key, _body(_adversarial_prompt()))
    race.run()
    assert race.response is not None
    assert race.response.status_code == 400, race.response.text[:300]
    assert race.response.json()["error"]["code"] == "pii_blocked"
    assert not upstream.requests
    # Several health checks, one after another, were answered while the scan ran.
    assert race.health_checks_before_the_answer() >= 3, race.order[:10]
