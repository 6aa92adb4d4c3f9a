"""The privacy stage as the data plane sees it: protect a request, then restore its answer.

Built once at start-up (the detectors compile once; the name model loads once) and passed
to the data plane. Per request it creates a :class:`RedactionMap` that lives only in memory.

Work is bounded (:meth:`PrivacyGuard.protect_bounded`): a body over the scanning budget is
refused before any scan; a small body is scanned inline (no thread hop on the hot path); a
larger one in the guard's own small thread pool, under a deadline that the scan itself checks
between phases, so neither the event loop nor the pool is held past it. Past the budget or
the deadline the request fails closed: nothing unscanned is forwarded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode

from vaultgate.detect.names import load_names
from vaultgate.detect.pii import NameRecogniser
from vaultgate.detect.pii_rules import Entity
from vaultgate.privacy.errors import ScanBudgetExceeded, ScanTimeout
from vaultgate.privacy.modes import PrivacyPolicy, ResponseMode
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.redact import Redactor
from vaultgate.privacy.response_scan import ResponseScanner
from vaultgate.privacy.restore import ResponseRestorer

DEFAULT_SCAN_TIMEOUT = 10.0
DEFAULT_SCAN_MAX_BYTES = 8 * 1024 * 1024
# Bodies up to this size are scanned inline: a thread hop would cost more than the scan.
INLINE_BYTES = 32 * 1024
Protected = tuple[RedactionMap, bool, dict[str, str], bytes]


class PrivacyGuard:
    """Shared, immutable after start-up: the detectors, the optional name model, the scan limits."""

    def __init__(
        self,
        names: NameRecogniser | None = None,
        *,
        scan_timeout: float = DEFAULT_SCAN_TIMEOUT,
        scan_max_bytes: int = DEFAULT_SCAN_MAX_BYTES,
    ) -> None:
        self.redactor = Redactor(names)
        self.scan_timeout = scan_timeout
        self.scan_max_bytes = scan_max_bytes
        # Two threads: one large scan never waits behind another for long, and no more than two
        # cores' worth of scanning competes with the event loop.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vaultgate-privacy")

    @classmethod
    def with_installed_recognisers(
        cls, *, scan_timeout: float = DEFAULT_SCAN_TIMEOUT, scan_max_bytes: int = DEFAULT_SCAN_MAX_BYTES
    ) -> PrivacyGuard:
        """A guard with the name model when the ``names`` extra is installed."""
        return cls(load_names(), scan_timeout=scan_timeout, scan_max_bytes=scan_max_bytes)

    async def protect_bounded(
        self,
        payload: dict[str, Any] | None,
        params: Mapping[str, str],
        query: bytes,
        policy: PrivacyPolicy,
        *,
        size: int,
        pseudonym: str | None = None,
    ) -> Protected:
        """:meth:`protect` within the scanning budget and deadline (``size``: the body's bytes).

        Raises ScanBudgetExceeded or ScanTimeout (both PrivacyRefusal) instead of forwarding unscanned.
        """
        if size > self.scan_max_bytes:
            raise ScanBudgetExceeded(size, self.scan_max_bytes)
        if size <= INLINE_BYTES:
            return self.protect(payload, params, query, policy, pseudonym=pseudonym)
        deadline = time.monotonic() + self.scan_timeout
        timeout = self.scan_timeout

        def check() -> None:
            if time.monotonic() > deadline:
                raise ScanTimeout(timeout)

        def run() -> Protected:
            check()  # it may have waited in the pool's queue past its deadline
            return self.protect(payload, params, query, policy, pseudonym=pseudonym, check=check)

        future = asyncio.get_running_loop().run_in_executor(self._pool, run)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ScanTimeout(timeout) from None

    def close(self) -> None:
        """Let the scanning threads end (a running scan stops at its deadline)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> str:
        """One line for the start-up log: which recognisers are active."""
        rules = ", ".join(self.redactor.detector(frozenset(Entity)).active)
        names = self.redactor.names
        person = f"on ({names.name})" if names is not None else "OFF (install vaultgate[names] to detect them)"
        return f"privacy recognisers: {rules}; secrets: shared detector; person names: {person}"

    def protect(
        self,
        payload: dict[str, Any] | None,
        params: Mapping[str, str],
        query: bytes,
        policy: PrivacyPolicy,
        *,
        pseudonym: str | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> Protected:
        """Redact ``payload`` in place, and the path parameters and query; (map, payload changed, params, query).

        Path parameters are plain identifiers (the gateway's templates refuse anything else), but
        one can still be personal data (digits of a phone or card number): each goes through the
        same redaction as body text, and a redacted value is sent as one encoded path segment.
        ``pseudonym`` is what hygiene wrote into ``safety_identifier``/``user`` (not scanned there).
        Raises :class:`~vaultgate.privacy.errors.PrivacyRefusal` when the policy blocks a value.
        """
        rmap = RedactionMap()
        changed = payload is not None and self.redactor.redact_payload(
            payload, policy, rmap, pseudonym=pseudonym, check=check
        )
        if query:
            query = self._query(query, policy, rmap)
        redacted = {name: self.redactor.redact_text(value, policy, rmap) for name, value in params.items()}
        return rmap, changed, redacted, query

    def _query(self, query: bytes, policy: PrivacyPolicy, rmap: RedactionMap) -> bytes:
        text = query.decode("latin-1")
        pairs = parse_qsl(text, keep_blank_values=True)
        redacted = [
            (self.redactor.redact_text(k, policy, rmap), self.redactor.redact_text(v, policy, rmap)) for k, v in pairs
        ]
        return query if redacted == pairs else urlencode(redacted).encode("ascii")

    def restorer(self, rmap: RedactionMap, policy: PrivacyPolicy) -> ResponseRestorer | None:
        """The restorer for this request's answer, or None when there is nothing to do."""
        scanner = None
        if policy.response_pii is ResponseMode.MASK:
            scanner = ResponseScanner(self.redactor.detector(policy.scanned()), rmap.values())
        if not rmap and scanner is None:
            return None
        return ResponseRestorer(rmap, scanner)
