"""Find secrets in text: the rules table compiled once, run with cheap literal prefilters.

Pure (no I/O), shared by the scanner (which feeds file bytes to :meth:`SecretDetector.find_bytes`)
and the gateway's secret-in-prompt check (:func:`find_secrets` on a ``str``).

Speed comes from the anchors: each distinct anchor is searched once per text (a literal or
a regular expression with a literal prefix, which CPython scans at memory speed), and a
rule's full expression only runs when one of its anchors is present. Rules keyed on common
words (the generic rule) are tried only at the anchor offsets.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import AnyStr, Generic

from vaultgate.detect.interface import Candidate, SecretMatch, SecretRule
from vaultgate.detect.placeholders import is_placeholder
from vaultgate.detect.secret_rules import RULES

_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_IDENT_BYTES = frozenset(c.encode("ascii")[0] for c in _IDENT)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LITERAL = re.compile(r"(?:[A-Za-z0-9_ -]|\\\.)+")


@dataclass(frozen=True, slots=True)
class _Anchor(Generic[AnyStr]):
    literal: AnyStr | None
    regex: re.Pattern[AnyStr]
    lowercase: bool


@dataclass(frozen=True, slots=True)
class _CompiledRule(Generic[AnyStr]):
    rule: SecretRule
    patterns: tuple[re.Pattern[AnyStr], ...]
    anchors: tuple[int, ...]
    has_secret_group: bool
    has_body_group: bool


class _Engine(Generic[AnyStr]):
    """The rules compiled for one string type (``str`` or ``bytes``)."""

    def __init__(
        self,
        rules: Sequence[SecretRule],
        encode: Callable[[str], AnyStr],
        decode: Callable[[AnyStr], str],
        is_ident: Callable[[AnyStr, int], bool],
        lower: Callable[[AnyStr], AnyStr],
    ) -> None:
        self._decode: Callable[[AnyStr], str] = decode
        self._is_ident: Callable[[AnyStr, int], bool] = is_ident
        self._lower: Callable[[AnyStr], AnyStr] = lower
        keys: dict[tuple[str, bool], int] = {}
        anchors: list[_Anchor[AnyStr]] = []
        compiled: list[_CompiledRule[AnyStr]] = []
        for rule in rules:
            indices = []
            for source in rule.anchors:
                key = (source, rule.lowercase)
                if key not in keys:
                    keys[key] = len(anchors)
                    plain = source.replace("\\.", ".") if _LITERAL.fullmatch(source) else None
                    literal = encode(plain) if plain is not None else None
                    anchors.append(_Anchor(literal, re.compile(encode(source)), rule.lowercase))
                indices.append(keys[key])
            if rule.anchored:
                # One expression per anchor, each starting with its literal, so the regex
                # engine itself skips to the anchors (no Python call per occurrence).
                patterns = tuple(
                    re.compile(encode(f"(?:{source})(?:{rule.pattern})")) for source in rule.anchors
                )
            else:
                patterns = (re.compile(encode(rule.pattern)),)
            pattern = patterns[0]
            compiled.append(
                _CompiledRule(
                    rule=rule,
                    patterns=patterns,
                    anchors=tuple(indices),
                    has_secret_group="secret" in pattern.groupindex,
                    has_body_group="body" in pattern.groupindex,
                )
            )
        self._anchors: tuple[_Anchor[AnyStr], ...] = tuple(anchors)
        self._rules: tuple[_CompiledRule[AnyStr], ...] = tuple(compiled)

    def find(self, text: AnyStr, allow_placeholders: bool) -> list[SecretMatch]:
        """Every non-overlapping match in ``text``, earlier rules winning overlaps."""
        lowered: AnyStr | None = None
        present: dict[int, bool] = {}
        found: list[SecretMatch] = []
        taken: list[tuple[int, int]] = []
        for compiled in self._rules:
            rule = compiled.rule
            if rule.lowercase:
                if lowered is None:
                    lowered = self._lower(text)
                haystack = lowered
            else:
                haystack = text
            if rule.anchored:
                matches: Iterable[re.Match[AnyStr]] = _all_matches(compiled.patterns, haystack)
            elif self._any_present(compiled.anchors, haystack, present):
                matches = compiled.patterns[0].finditer(haystack)
            else:
                continue
            for match in matches:
                result = self._accept(compiled, match, text, allow_placeholders)
                if result is not None and _claim(taken, result.start, result.end):
                    found.append(result)
        found.sort(key=lambda m: m.start)
        return found

    def _any_present(
        self, indices: tuple[int, ...], text: AnyStr, present: dict[int, bool]
    ) -> bool:
        for index in indices:
            hit = present.get(index)
            if hit is None:
                anchor = self._anchors[index]
                literal = anchor.literal
                hit = literal in text if literal is not None else bool(anchor.regex.search(text))
                present[index] = hit
            if hit:
                return True
        return False

    def _accept(
        self,
        compiled: _CompiledRule[AnyStr],
        match: re.Match[AnyStr],
        text: AnyStr,
        allow_placeholders: bool,
    ) -> SecretMatch | None:
        rule = compiled.rule
        if rule.boundary and match.start() > 0 and self._is_ident(text, match.start() - 1):
            return None
        start, end = match.span("secret") if compiled.has_secret_group else match.span()
        body_start, body_end = match.span("body") if compiled.has_body_group else (start, end)
        decode = self._decode
        secret = decode(text[start:end])
        body = (
            secret if (body_start, body_end) == (start, end) else decode(text[body_start:body_end])
        )
        if rule.validate is not None:
            context = rule.context
            candidate = Candidate(
                secret=secret,
                body=body,
                matched=decode(text[match.start() : match.end()]),
                before=decode(text[max(0, match.start() - context) : match.start()]),
                after=decode(text[match.end() : match.end() + context]),
            )
            if not rule.validate(candidate):
                return None
        placeholder = rule.check_placeholders and is_placeholder(body)
        if placeholder and allow_placeholders:
            return None
        return SecretMatch(
            rule_id=rule.id,
            severity=rule.severity,
            start=start,
            end=end,
            secret=secret,
            masked=rule.mask(secret) if rule.mask is not None else "…",
            placeholder=placeholder,
        )


def _all_matches(
    patterns: tuple[re.Pattern[AnyStr], ...], text: AnyStr
) -> Iterable[re.Match[AnyStr]]:
    for pattern in patterns:
        yield from pattern.finditer(text)


def _claim(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    """Record ``[start, end)`` unless it overlaps a span already taken."""
    index = bisect.bisect_left(taken, (start, end))
    if index > 0 and taken[index - 1][1] > start:
        return False
    if index < len(taken) and taken[index][0] < end:
        return False
    taken.insert(index, (start, end))
    return True


def _lower_str(text: str) -> str:
    lowered = text.lower()
    # Some non-ASCII characters change length when lowercased; offsets must not move.
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


class SecretDetector:
    """A rules table compiled once, for ``str`` and for ``bytes`` input."""

    def __init__(self, rules: Sequence[SecretRule] = RULES) -> None:
        self.rules = tuple(rules)
        self._str: _Engine[str] = _Engine(
            self.rules,
            encode=lambda s: s,
            decode=lambda s: s,
            is_ident=lambda t, i: t[i] in _IDENT,
            lower=_lower_str,
        )
        self._bytes: _Engine[bytes] = _Engine(
            self.rules,
            encode=lambda s: s.encode("ascii"),
            decode=lambda b: b.decode("latin-1"),
            is_ident=lambda t, i: t[i] in _IDENT_BYTES,
            lower=bytes.lower,
        )

    def find(self, text: str, *, allow_placeholders: bool = True) -> list[SecretMatch]:
        """Secrets in ``text``, in order; offsets are character offsets into ``text``."""
        return self._str.find(text, allow_placeholders)

    def find_bytes(self, data: bytes, *, allow_placeholders: bool = True) -> list[SecretMatch]:
        """Secrets in ``data`` (read as Latin-1), in order; offsets are byte offsets."""
        return self._bytes.find(data, allow_placeholders)


@lru_cache(maxsize=1)
def default_detector() -> SecretDetector:
    """The detector for the built-in rules table (compiled on first use, then shared)."""
    return SecretDetector(RULES)


def find_secrets(text: str, *, allow_placeholders: bool = True) -> list[SecretMatch]:
    """Secrets in ``text`` by the built-in rules.

    With ``allow_placeholders`` (the default) obviously fake values such as documentation
    examples are left out; pass ``False`` to report them too (flagged ``placeholder``).
    """
    return default_detector().find(text, allow_placeholders=allow_placeholders)
