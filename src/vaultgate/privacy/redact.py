"""Stage 5 on the request: find secrets and personal data in every string the upstream will see,
then block, redact (typed placeholder, restored later), mask (one-way) or allow, per policy.

Every string of the body is looked at: values of every field at any depth (``model`` too),
every object key that is not a field name of the API, and numbers that can hold a card or an
SSN (nine digits or more, negative or written as a float too). Only the fields hygiene itself
wrote (``safety_identifier``, the pseudonymised ``user``) are exempt. Each string is read
through its :mod:`~vaultgate.privacy.textview` (format characters removed, look-alikes
folded, escapes decoded) and edited in its original form; base64 runs that decode to text are
scanned decoded (:mod:`~vaultgate.privacy.encoded`), and a hit covers the whole run. All
strings are joined by NUL and searched in one pass; then the ends of adjacent strings are
searched joined, so a secret split across two messages or two content parts is caught.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from vaultgate.detect.pii import NameRecogniser, PiiDetector
from vaultgate.detect.pii_rules import Entity
from vaultgate.detect.secrets import SecretDetector, default_detector
from vaultgate.privacy.edits import Edit, apply_edits, every_occurrence, merge_edits
from vaultgate.privacy.encoded import blobs
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.modes import Mode, PrivacyPolicy, SecretMode
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.textview import TextView, view
from vaultgate.privacy.token_ids import TOKEN_FIELDS, TokenText

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
# Top-level fields hygiene writes: exempt only while they hold the member's pseudonym.
_HYGIENE_FIELDS = frozenset({"safety_identifier", "user"})
# Object keys that are field names of the OpenAI API hold no secret (and are nearly all keys):
# scanning them would only cost time. Every other key is scanned like a value.
_KNOWN_KEYS = frozenset(
    {
        "model", "messages", "role", "content", "type", "text", "name", "input", "prompt", "instructions", "tools",
        "tool_choice", "function", "functions", "arguments", "description", "parameters", "properties", "required",
        "items", "enum", "strict", "tool_calls", "tool_call_id", "id", "image_url", "url", "detail", "input_audio",
        "data", "format", "file", "file_id", "file_data", "filename", "refusal", "audio", "temperature", "top_p",
        "n", "stream", "stream_options", "include_usage", "stop", "max_tokens", "max_completion_tokens",
        "max_output_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "user", "seed", "response_format", "json_schema", "schema", "modalities", "reasoning", "effort", "summary",
        "metadata", "store", "safety_identifier", "service_tier", "parallel_tool_calls", "previous_response_id",
        "truncation", "include", "background", "conversation", "encoding_format", "dimensions", "suffix", "echo",
        "best_of", "prediction", "web_search_options", "additionalProperties", "anyOf", "allOf", "oneOf", "minimum",
        "maximum", "minLength", "maxLength", "pattern", "default", "title", "$ref", "$defs", "definitions", "output",
        "call_id", "status", "verbosity", "cache_control", "annotations",
    }
)  # fmt: skip
# Values of these fields name a structure (a role, a part type), not text: adjacency of text
# strings (for secrets split in two) looks past them.
_STRUCTURAL = frozenset({"role", "type", "model", "id", "tool_call_id", "call_id", "status", "detail", "format"})
_VALUE, _KEY, _NUMBER, _TOKENS = 0, 1, 2, 3
# How far each side of the boundary between two adjacent strings a split secret is looked for.
_JUNCTION = 256


def mask(entity: Entity, value: str) -> str:
    """A one-way masked form that keeps the shape: ``j***@***.com``, ``**** **** **** 1111``."""
    if entity is Entity.EMAIL and "@" in value:
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


def _number_text(value: Any) -> str | None:
    """The digits of a number that can hold a card, an SSN or a phone number (nine digits or more)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(abs(value)) if abs(value) >= 10**8 else None
    if isinstance(value, float) and value.is_integer() and 1e8 <= abs(value) < 1e20:
        return str(int(abs(value)))
    return None


def _token_slots(value: list[Any], tokens: TokenText) -> list[_Slot] | None:
    """A token-id prompt (an array of ids, or an array of such arrays) as text slots; None if it is not one."""
    if value and all(isinstance(item, list) for item in value):
        slots = []
        for index, item in enumerate(value):
            text = tokens.decode(item)
            if text is None:
                return None
            slots.append(_Slot(value, index, text, _TOKENS))
        return slots
    return None


def _collect(payload: dict[str, Any], pseudonym: str | None, tokens: TokenText) -> list[_Slot]:
    """Every string (and long number) in ``payload`` in document order; nesting costs no stack."""
    slots: list[_Slot] = []
    stack: list[tuple[Any, Iterator[tuple[Any, Any]]]] = [(payload, iter(payload.items()))]
    while stack:
        container, items = stack[-1]
        step = next(items, None)
        if step is None:
            stack.pop()
            continue
        key, value = step
        if isinstance(container, dict):
            if container is payload and key in _HYGIENE_FIELDS and pseudonym is not None and value == pseudonym:
                continue
            if key not in _KNOWN_KEYS:
                slots.append(_Slot(container, key, key, _KEY))
        if container is payload and key in TOKEN_FIELDS and isinstance(value, list):
            text = tokens.decode(value)
            found = [_Slot(payload, key, text, _TOKENS)] if text is not None else _token_slots(value, tokens)
            if found is not None:
                slots.extend(slot for slot in found if slot.text)
                continue
        if isinstance(value, str):
            if value:
                slots.append(_Slot(container, key, value, _VALUE))
        elif isinstance(value, dict):
            stack.append((value, iter(value.items())))
        elif isinstance(value, list):
            stack.append((value, enumerate(value)))
        else:
            digits = _number_text(value)
            if digits is not None:
                slots.append(_Slot(container, key, digits, _NUMBER))
    return slots


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


class Redactor:
    """The request side of privacy: shared detectors, compiled once per entity selection."""

    def __init__(self, names: NameRecogniser | None = None, secrets: SecretDetector | None = None) -> None:
        self.names = names
        self._secrets = secrets or default_detector()
        self._detectors: dict[frozenset[Entity], PiiDetector] = {}
        self._tokens = TokenText()

    def detector(self, entities: frozenset[Entity]) -> PiiDetector:
        """The PII detector for ``entities`` (cached: a policy's selection is compiled once)."""
        detector = self._detectors.get(entities)
        if detector is None:
            detector = PiiDetector(entities, names=self.names)
            self._detectors[entities] = detector
        return detector

    def redact_payload(
        self,
        payload: dict[str, Any],
        policy: PrivacyPolicy,
        rmap: RedactionMap,
        *,
        pseudonym: str | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> bool:
        """Rewrite ``payload`` in place; True when it changed. Raises PrivacyRefusal for block modes.

        ``pseudonym``: the value hygiene wrote into ``safety_identifier``/``user`` (exempt there).
        ``check`` is called between phases (it raises when the scan's deadline has passed).

        A replacement changes the context of what stands next to it (``x@y.org::1`` becomes
        ``[EMAIL_1]::1``, where ``::1`` now reads as an address): the text around each edit is
        searched again, and when it holds anything, the whole body gets one more pass.
        """
        changed, around = self._redact_once(payload, policy, rmap, pseudonym, check)
        if changed and self._finds_any("\x00".join(around), policy):
            check()
            self._redact_once(payload, policy, rmap, pseudonym, check)
        return changed

    def _finds_any(self, text: str, policy: PrivacyPolicy) -> bool:
        """Whether ``text`` (read through its view) holds a secret or personal data the policy scans for."""
        if not text:
            return False
        seen = view(text)
        readable = seen.text if seen is not None else text
        if self._secrets.find(readable, allow_placeholders=False):
            return True
        entities = policy.scanned()
        return bool(entities) and bool(self.detector(entities).find(readable))

    def _redact_once(
        self,
        payload: dict[str, Any],
        policy: PrivacyPolicy,
        rmap: RedactionMap,
        pseudonym: str | None,
        check: Callable[[], None],
    ) -> tuple[bool, list[str]]:
        """One pass: (changed, the edited text around each edit)."""
        slots = _collect(payload, pseudonym, self._tokens)
        if not slots:
            return False, []
        views: list[TextView | None] = [view(s.text) if s.kind != _NUMBER else None for s in slots]
        texts = [v.text if v is not None else s.text for s, v in zip(slots, views, strict=True)]
        starts: list[int] = []
        position = 0
        for text in texts:
            starts.append(position)
            position += len(text) + 1
        check()

        def original(start: int, end: int) -> str:
            index = bisect.bisect_right(starts, start) - 1
            local_start, local_end = start - starts[index], end - starts[index]
            seen = views[index]
            if local_end > len(texts[index]) or seen is None:
                return texts[index][local_start:local_end]
            first, last = seen.original_span(local_start, local_end)
            return slots[index].text[first:last]

        joined = "\x00".join(texts)
        per_slot: dict[int, list[tuple[int, int, str, int]]] = {}
        for start, end, replacement in self._edits(joined, policy, rmap, original):
            index = bisect.bisect_right(starts, start) - 1
            local_start, local_end = start - starts[index], end - starts[index]
            if local_end > len(texts[index]):
                continue  # crosses into the next string: no single value
            per_slot.setdefault(index, []).append((local_start, local_end, replacement, 0))
        check()
        for index, start, end, replacement in self._junction_edits(slots, texts, policy, rmap):
            per_slot.setdefault(index, []).append((start, end, replacement, 1))
        if not per_slot:
            return False, []
        check()
        around: list[str] = []
        # Backwards, so a value is written before the key that holds it is renamed.
        for index, slot_edits in sorted(per_slot.items(), reverse=True):
            slot = slots[index]
            merged = merge_edits(slot_edits)
            if slot.kind == _NUMBER:
                start, end, replacement = merged[0]
                if (start, end) == (0, len(slot.text)):
                    slot.write(replacement)
                continue
            seen = views[index]
            if seen is not None:
                merged = [(*seen.original_span(start, end), replacement) for start, end, replacement in merged]
            new = apply_edits(slot.text, merged, around)
            if slot.kind == _TOKENS:
                slot.container[slot.key] = self._tokens.encode(new)
            else:
                slot.write(new)
        return True, around

    def redact_text(self, text: str, policy: PrivacyPolicy, rmap: RedactionMap) -> str:
        """One string redacted by the same rules (a query value, a path segment)."""
        seen = view(text)
        source = seen.text if seen is not None else text

        def original(start: int, end: int) -> str:
            if seen is None:
                return text[start:end]
            first, last = seen.original_span(start, end)
            return text[first:last]

        edits = self._edits(source, policy, rmap, original)
        if seen is not None:
            edits = [(*seen.original_span(start, end), replacement) for start, end, replacement in edits]
        return apply_edits(text, edits)

    def _refuse_secret(self, rule_id: str) -> PrivacyRefusal:
        return PrivacyRefusal(
            "secret_detected",
            f"The request contains a credential ({rule_id}); vaultgate does not send secrets "
            "upstream. Remove it, or ask your admin for a policy that redacts secrets.",
            kind="secret",
        )

    def _edits(
        self, text: str, policy: PrivacyPolicy, rmap: RedactionMap, original: Callable[[int, int], str]
    ) -> list[Edit]:
        rmap.reserve(text)
        edits: list[Edit] = []
        taken: list[tuple[int, int]] = []
        for blob in blobs(text):
            replacement = self._blob_replacement(blob.decoded, policy, rmap, original(blob.start, blob.end))
            if replacement is not None:
                edits.append((blob.start, blob.end, replacement))
                taken.append((blob.start, blob.end))
        for secret in self._secrets.find(text, allow_placeholders=False):
            if taken and _overlaps(taken, secret.start, secret.end):
                continue
            if policy.secrets is SecretMode.BLOCK and not secret.placeholder:
                raise self._refuse_secret(secret.rule_id)
            edits.append((secret.start, secret.end, rmap.token_for("SECRET", secret.secret)))
        entities = policy.scanned()
        if entities:
            self._pii_edits(text, policy, rmap, entities, edits, original)
        if edits:
            every_occurrence(text, edits)
        edits.sort()
        return edits

    def _blob_replacement(self, decoded: str, policy: PrivacyPolicy, rmap: RedactionMap, written: str) -> str | None:
        """What replaces a base64 run whose text is ``decoded`` (None: nothing found in it)."""
        seen = view(decoded)
        text = seen.text if seen is not None else decoded
        found = self._secrets.find(text, allow_placeholders=False)
        if found:
            real = [s for s in found if not s.placeholder]
            if real and policy.secrets is SecretMode.BLOCK:
                raise self._refuse_secret(real[0].rule_id)
            return rmap.token_for("SECRET", written)
        entities = policy.scanned()
        if not entities:
            return None
        matches = self.detector(entities).find(text)
        modes = [(policy.mode(m.entity), m.entity) for m in matches]
        for mode, entity in modes:
            if mode is Mode.BLOCK:
                raise _refuse_pii(entity)
        for mode, entity in modes:
            if mode is Mode.REDACT:
                return rmap.token_for(TAG[entity], written)
        for mode, entity in modes:
            if mode is Mode.MASK:
                return mask(entity, written)
        return None

    def _pii_edits(
        self,
        text: str,
        policy: PrivacyPolicy,
        rmap: RedactionMap,
        entities: frozenset[Entity],
        edits: list[Edit],
        original: Callable[[int, int], str],
    ) -> None:
        taken = sorted((s, e) for s, e, _ in edits)
        for match in self.detector(entities).find(text):
            if taken:
                index = bisect.bisect_left(taken, (match.end, match.end))
                if index > 0 and taken[index - 1][1] > match.start:
                    continue
            mode = policy.mode(match.entity)
            if mode is Mode.BLOCK:
                raise _refuse_pii(match.entity)
            if mode is Mode.REDACT:
                edits.append((match.start, match.end, rmap.token_for(TAG[match.entity], match.value)))
            elif mode is Mode.MASK:
                edits.append((match.start, match.end, mask(match.entity, match.value)))

    def _junction_edits(
        self, slots: list[_Slot], texts: list[str], policy: PrivacyPolicy, rmap: RedactionMap
    ) -> list[tuple[int, int, int, str]]:
        """Secrets that run from the end of one string value into the start of the next.

        Both pieces go: the first becomes the placeholder, the second is removed.
        """
        values = [i for i, slot in enumerate(slots) if slot.kind == _VALUE and slot.key not in _STRUCTURAL]
        if len(values) < 2:
            return []
        windows: list[str] = []
        pairs: list[tuple[int, int, int]] = []
        for first, second in itertools.pairwise(values):
            tail, head = texts[first][-_JUNCTION:], texts[second][:_JUNCTION]
            windows.append(tail + head)
            pairs.append((first, second, len(tail)))
        starts: list[int] = []
        position = 0
        for window in windows:
            starts.append(position)
            position += len(window) + 1
        out: list[tuple[int, int, int, str]] = []
        for secret in self._secrets.find("\x00".join(windows), allow_placeholders=False):
            k = bisect.bisect_right(starts, secret.start) - 1
            first, second, tail_length = pairs[k]
            cut = starts[k] + tail_length
            if not secret.start < cut < secret.end or secret.end > starts[k] + len(windows[k]):
                continue
            if policy.secrets is SecretMode.BLOCK and not secret.placeholder:
                raise self._refuse_secret(secret.rule_id)
            token = rmap.token_for("SECRET", secret.secret)
            out.append((first, len(texts[first]) - (cut - secret.start), len(texts[first]), token))
            out.append((second, 0, secret.end - cut, ""))
        return out


def _refuse_pii(entity: Entity) -> PrivacyRefusal:
    return PrivacyRefusal(
        "pii_blocked",
        f"The request contains personal data of type '{entity.value}', which this key's privacy policy blocks.",
        kind=TAG[entity].lower(),
    )
