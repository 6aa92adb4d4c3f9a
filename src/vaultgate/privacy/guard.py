"""The privacy stage as the data plane sees it: protect a request, then restore its answer.

Built once at start-up (the detectors compile once; the name model loads once) and passed
to the data plane. Per request it creates a :class:`RedactionMap` that lives only in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from vaultgate.detect.names import load_names
from vaultgate.detect.pii import NameRecogniser
from vaultgate.detect.pii_rules import Entity
from vaultgate.privacy.modes import PrivacyPolicy, ResponseMode
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.redact import Redactor
from vaultgate.privacy.response_scan import ResponseScanner
from vaultgate.privacy.restore import ResponseRestorer


class PrivacyGuard:
    """Shared, immutable after start-up: the detectors and the optional name model."""

    def __init__(self, names: NameRecogniser | None = None) -> None:
        self.redactor = Redactor(names)

    @classmethod
    def with_installed_recognisers(cls) -> PrivacyGuard:
        """A guard with the name model when the ``names`` extra is installed."""
        return cls(load_names())

    def describe(self) -> str:
        """One line for the start-up log: which recognisers are active."""
        rules = ", ".join(self.redactor.detector(frozenset(Entity)).active)
        names = self.redactor.names
        person = f"on ({names.name})" if names is not None else "OFF (install vaultgate[names] to detect them)"
        return f"privacy recognisers: {rules}; secrets: shared detector; person names: {person}"

    def protect(
        self, payload: dict[str, Any] | None, params: Mapping[str, str], query: bytes, policy: PrivacyPolicy
    ) -> tuple[RedactionMap, bool, dict[str, str], bytes]:
        """Redact ``payload`` in place, and the path parameters and query; (map, payload changed, params, query).

        Path parameters are plain identifiers (the gateway's templates refuse anything else), but
        one can still be personal data (digits of a phone or card number): each goes through the
        same redaction as body text, and a redacted value is sent as one encoded path segment.
        Raises :class:`~vaultgate.privacy.errors.PrivacyRefusal` when the policy blocks a value.
        """
        rmap = RedactionMap()
        changed = payload is not None and self.redactor.redact_payload(payload, policy, rmap)
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
