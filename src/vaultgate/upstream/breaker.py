"""A circuit breaker per deployment, so that a failing upstream stops getting traffic for a while.

closed ──N consecutive failures──▶ open ──cool-down over──▶ half-open ──probe succeeds──▶ closed
                                    ▲                          │
                                    └──────probe fails─────────┘

Half-open lets exactly one request through (the probe); every other request skips the
deployment until the probe's outcome is known. A probe that ends without an outcome (its
client hung up) frees the slot for the next request. State is per process: replicas and
workers each learn on their own (docs/PROVIDERS.md). Time comes from ``clock`` (monotonic
seconds), so tests never sleep. Opening and closing are logged once each, with the
deployment's key (``provider/model``) only.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("vaultgate.upstream.breaker")


class BreakerState(enum.Enum):
    """Where one deployment's breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None  # None: closed
    probing: bool = False


class CircuitBreakers:
    """The breakers of this process, by deployment key; created at start-up and passed in."""

    def __init__(
        self, *, threshold: int = 5, cool_down: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, key: str) -> BreakerState:
        """The state of ``key``'s breaker now."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - circuit.opened_at < self.cool_down:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def acquire(self, key: str) -> bool:
        """Whether a request may go to ``key`` now; in half-open, True for the one probe only."""
        state = self.state(key)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        circuit = self._circuits[key]
        if circuit.probing:
            return False
        circuit.probing = True
        return True

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` lets a probe through (0 when it would now)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return 0.0
        return max(0.0, circuit.opened_at + self.cool_down - self._clock())

    def succeeded(self, key: str) -> None:
        """The deployment answered: close its breaker."""
        circuit = self._circuits.pop(key, None)
        if circuit is not None and circuit.opened_at is not None:
            log.warning("circuit for deployment %s closed: it answered again", key)

    def failed(self, key: str) -> None:
        """The deployment failed once more: open after ``threshold`` in a row; a failed probe re-opens."""
        circuit = self._circuits.setdefault(key, _Circuit())
        if circuit.opened_at is not None and circuit.probing:  # the probe failed: another cool-down
            circuit.opened_at = self._clock()
            circuit.probing = False
            log.warning("circuit for deployment %s re-opened: its probe failed", key)
            return
        circuit.failures += 1
        if circuit.opened_at is None and circuit.failures >= self.threshold:
            circuit.opened_at = self._clock()
            log.warning(
                "circuit for deployment %s opened after %d consecutive failures; skipped for %.0f s",
                key,
                circuit.failures,
                self.cool_down,
            )

    def abandoned(self, key: str) -> None:
        """A probe ended with no outcome (cancelled): the next request may probe instead."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False

    def open_count(self) -> int:
        """How many deployments are open or half-open now (the ``vaultgate_circuit_breakers`` gauge)."""
        return sum(1 for key in self._circuits if self.state(key) is not BreakerState.CLOSED)
