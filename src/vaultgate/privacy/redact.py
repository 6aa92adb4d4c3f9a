"""Stage 5 on the request: find secrets and personal data in every string the upstream will see,
then block, redact (typed placeholder, restored later), mask (one-way) or allow, per policy.

All of a request's strings (values of every field, known or not, at any depth; unusual
object keys; long integers, which may be card numbers) are joined by NUL and searched in one
pass by the shared detectors of :mod:`vaultgate.detect`. Strings with common escapes are
searched decoded and edited in their original form.
"""

from __future__ import annotations

import bisect
from typing import Any

from vaultgate.detect.pii import NameRecogniser, PiiDetector
from vaultgate.detect.pii_rules import Entity
from vaultgate.detect.secrets import SecretDetector, default_detector
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.escapes import Decoded, decode
from vaultgate.privacy.modes import Mode, PrivacyPolicy, SecretMode
from vaultgate.privacy.placeholders import RedactionMap

TAG = {
    Entity.EMAIL: "EMAIL",
    Entity.PHONE: "PHONE",
    Entity.CARD: "CARD",
    Entity.IBAN: "IBAN",
    Entity.SSN: "SSN",
    Entity.ITIN: "ITIN",
    Entity.IP_ADDRESS: "IP_ADDRESS",
    Entity.PERSON: "PERSON",
}
# Top-level fields the gateway itself owns or routes on (hygiene has already replaced `user`
# and `safety_identifier` with the member's pseudonym).
_SKIPPED = frozenset({"model", "safety_identifier", "user"})
_VALUE, _KEY, _INT = 0, 1, 2


def mask(entity: Entity, value: str) -> str:
    """A one-way masked form that keeps the shape: ``j***@***.com``, ``**** **** **** 1111``."""
    if entity is Entity.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@***.{domain.rsplit('.', 1)[-1]}"
    if entity is Entity.PERSON:
        return "".join(part[:1] + "." for part in value.split())
    keep = 4 if entity in (Entity.CARD, Entity.IBAN, Entity.PHONE, Entity.SSN, Entity.ITIN) else 0
    chars = list(value)
    seen = 0
    for index in range(len(chars) - 1, -1, -1):
        if chars[index].isalnum():
            seen += 1
            if seen > keep:
                chars[index] = "*"
    return "".join(chars)


class _Slot:
    __slots__ = ("container", "key", "kind", "text")

    def __init__(self, container: Any, key: Any, text: str, kind: int) -> None:
        self.container, self.key, self.text, self.kind = container, key, text, kind

    def write(self, new: str) -> None:
        if self.kind == _KEY:
            self.container[new] = self.container.pop(self.key)
        else:
            self.container[self.key] = new


def _collect(payload: dict[str, Any]) -> list[_Slot]:
    """Every string (and long integer) in ``payload``, iteratively: nesting depth costs no stack."""
    slots: list[_Slot] = []
    stack: list[Any] = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            top = node is payload
            for key, value in list(node.items()):
                if top and key in _SKIPPED:
                    continue
                if not (key.isidentifier() and len(key) < 24):
                    slots.append(_Slot(node, key, key, _KEY))
                _visit(node, key, value, slots, stack)
        else:
            for index, value in enumerate(node):
                _visit(node, index, value, slots, stack)
    return slots


def _visit(container: Any, key: Any, value: Any, slots: list[_Slot], stack: list[Any]) -> None:
    if isinstance(value, str):
        if value:
            slots.append(_Slot(container, key, value, _VALUE))
    elif isinstance(value, dict | list):
        stack.append(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**8:
        slots.append(_Slot(container, key, str(value), _INT))


class Redactor:
    """The request side of privacy: shared detectors, compiled once per entity selection."""

    def __init__(self, names: NameRecogniser | None = None, secrets: SecretDetector | None = None) -> None:
        self.names = names
        self._secrets = secrets or default_detector()
        self._detectors: dict[frozenset[Entity], PiiDetector] = {}

    def detector(self, entities: frozenset[Entity]) -> PiiDetector:
        """The PII detector for ``entities`` (cached: a policy's selection is compiled once)."""
        detector = self._detectors.get(entities)
        if detector is None:
            detector = PiiDetector(entities, names=self.names)
            self._detectors[entities] = detector
        return detector

    def redact_payload(self, payload: dict[str, Any], policy: PrivacyPolicy, rmap: RedactionMap) -> bool:
        """Rewrite ``payload`` in place; True when it changed. Raises PrivacyRefusal for block modes."""
        slots = _collect(payload)
        if not slots:
            return False
        texts: list[str] = []
        decoded: dict[int, Decoded] = {}
        for index, slot in enumerate(slots):
            found = decode(slot.text) if slot.kind != _INT else None
            if found is not None:
                decoded[index] = found
                texts.append(found.text)
            else:
                texts.append(slot.text)
        joined = "\x00".join(texts)
        edits = self._edits(joined, policy, rmap)
        if not edits:
            return False
        starts: list[int] = []
        position = 0
        for text in texts:
            starts.append(position)
            position += len(text) + 1
        per_slot: dict[int, list[tuple[int, int, str]]] = {}
        for start, end, replacement in edits:
            index = bisect.bisect_right(starts, start) - 1
            local_start, local_end = start - starts[index], end - starts[index]
            if local_end > len(texts[index]):
                continue  # crosses into the next string: no single value
            if index in decoded:
                local_start, local_end = decoded[index].original_span(local_start, local_end)
            per_slot.setdefault(index, []).append((local_start, local_end, replacement))
        # Backwards, so a value is written before the key that holds it is renamed.
        for index, slot_edits in sorted(per_slot.items(), reverse=True):
            slot = slots[index]
            if slot.kind == _INT:
                start, end, replacement = slot_edits[0]
                if (start, end) == (0, len(slot.text)):
                    slot.write(replacement)
                continue
            text = slot.text
            for start, end, replacement in reversed(slot_edits):
                text = text[:start] + replacement + text[end:]
            slot.write(text)
        return bool(per_slot)

    def redact_text(self, text: str, policy: PrivacyPolicy, rmap: RedactionMap) -> str:
        """One string redacted by the same rules (a query value, a path segment)."""
        found = decode(text)
        source = found.text if found is not None else text
        edits = self._edits(source, policy, rmap)
        for start, end, replacement in reversed(edits):
            if found is not None:
                start, end = found.original_span(start, end)
            text = text[:start] + replacement + text[end:]
        return text

    def _edits(self, text: str, policy: PrivacyPolicy, rmap: RedactionMap) -> list[tuple[int, int, str]]:
        rmap.reserve(text)
        edits: list[tuple[int, int, str]] = []
        for secret in self._secrets.find(text, allow_placeholders=False):
            if policy.secrets is SecretMode.BLOCK and not secret.placeholder:
                raise PrivacyRefusal(
                    "secret_detected",
                    f"The request contains a credential ({secret.rule_id}); vaultgate does not send secrets "
                    "upstream. Remove it, or ask your admin for a policy that redacts secrets.",
                )
            edits.append((secret.start, secret.end, rmap.token_for("SECRET", secret.secret)))
        entities = policy.scanned()
        if entities:
            self._pii_edits(text, policy, rmap, entities, edits)
        if edits:
            _every_occurrence(text, edits)
        edits.sort()
        return edits

    def _pii_edits(
        self,
        text: str,
        policy: PrivacyPolicy,
        rmap: RedactionMap,
        entities: frozenset[Entity],
        edits: list[tuple[int, int, str]],
    ) -> None:
        taken = [(s, e) for s, e, _ in edits]
        for match in self.detector(entities).find(text):
            if any(s < match.end and match.start < e for s, e in taken):
                continue
            mode = policy.mode(match.entity)
            if mode is Mode.BLOCK:
                raise PrivacyRefusal(
                    "pii_blocked",
                    f"The request contains personal data of type '{match.entity.value}', "
                    "which this key's privacy policy blocks.",
                )
            if mode is Mode.REDACT:
                edits.append((match.start, match.end, rmap.token_for(TAG[match.entity], match.value)))
            elif mode is Mode.MASK:
                edits.append((match.start, match.end, mask(match.entity, match.value)))


def _every_occurrence(text: str, edits: list[tuple[int, int, str]]) -> None:
    """Replace every other verbatim occurrence of a value already found (one the recognisers
    missed in a context such as ``a@b.org4111``): once a value is known, it never leaves raw."""
    replacements = {text[s:e]: r for s, e, r in edits}
    taken = sorted((s, e) for s, e, _ in edits)
    for value, replacement in replacements.items():
        position = text.find(value)
        while position != -1:
            end = position + len(value)
            index = bisect.bisect_left(taken, (position, end))
            clear = (index == 0 or taken[index - 1][1] <= position) and (index == len(taken) or taken[index][0] >= end)
            if clear:
                taken.insert(index, (position, end))
                edits.append((position, end, replacement))
            position = text.find(value, end)
