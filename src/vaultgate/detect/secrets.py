"""Find secrets in text: the rules table compiled once, gated by a few fast scans.

Pure (no I/O), shared by the scanner (which feeds file bytes to :meth:`SecretDetector.find_bytes`)
and the gateway's secret-in-prompt check (:func:`find_secrets` on a ``str``).

How it stays fast. The rules' anchors are expanded into their literal strings, and all of
them are found by a handful of regex scans of the lowercased text, one per *key*: a rare
character (``k``, ``h``, ``w``...) that several literals share. CPython's regex engine runs
to a pattern's leading literal character in a tight loop; the rest of each literal and a
lookbehind for its start tell which literal is there without a Python call, and an anchored
rule's guard follows as a lookahead, so the many ``key`` and ``token`` words of ordinary code
cost nothing more. A literal of a case-sensitive rule is then confirmed on the original text.
A rule's full expression runs only at its anchors' offsets (anchored rules), or over the
text when one of its anchors is present (the rest). One combined alternation of all the
anchors would be slower: the regex engine then tests every character against a set.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import AnyStr, Generic

from vaultgate.detect.interface import Candidate, SecretMatch, SecretRule, expand_anchor
from vaultgate.detect.placeholders import is_placeholder
from vaultgate.detect.secret_rules import RULES

_IDENT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_IDENT_BYTES = frozenset(c.encode("ascii")[0] for c in _IDENT)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Characters by rarity in source trees (byte frequencies of a site-packages, lowercased).
# The first ones, each under 1.3 %, may key a scan that several literals share; a literal
# without any gets a scan of its own, keyed on its rarest character.
_RARITY = "jzq-kxwvbygh.umf_dpclioranste"
_KEYS = _RARITY[:13]


@dataclass(frozen=True, slots=True)
class _Literal:
    """One string an anchor matches, lowercased, with the guard that must follow it."""

    text: str
    guard: str


@dataclass(frozen=True, slots=True)
class _Alternative(Generic[AnyStr]):
    """A literal inside a scan: where its key sits, who wants its offsets, what else to try.

    ``targets`` pairs a slot (a rule's anchor) with the original-case literal to confirm
    (None for lowercase rules). ``also`` lists the later alternatives of the same scan that
    can occur at the same key position, which a regex alternation would not report.
    """

    offset: int
    probe: re.Pattern[AnyStr]
    targets: tuple[tuple[int, AnyStr | None], ...]
    also: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Scan(Generic[AnyStr]):
    """One regex pass over the lowercased text (or over the text itself, for one literal
    that only case-sensitive rules want: it is rarer there)."""

    regex: re.Pattern[AnyStr]
    alternatives: tuple[_Alternative[AnyStr], ...]
    original: bool


@dataclass(frozen=True, slots=True)
class _CompiledRule(Generic[AnyStr]):
    rule: SecretRule
    patterns: tuple[re.Pattern[AnyStr], ...]
    slots: tuple[int, ...]
    has_secret_group: bool
    has_body_group: bool


def _plan(literals: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Group literals by a shared rare key character (greedy cover); the rest scan alone."""
    plan: list[tuple[str, list[int]]] = []
    left = list(range(len(literals)))
    while left:
        # Most literals covered; then most literals that do not end with the key (see
        # _alternative_source); then the rarest.
        key = max(
            _KEYS,
            key=lambda c: (
                sum(c in literals[i] for i in left),
                sum(c in literals[i] and literals[i][-1] != c for i in left),
                -_KEYS.index(c),
            ),
        )
        members = [i for i in left if key in literals[i]]
        if not members:
            break
        plan.append((key, members))
        left = [i for i in left if i not in members]
    plan.extend((_rarest(literals[i]), [i]) for i in left)
    return plan


def _rarest(literal: str) -> str:
    """The literal's rarest character (those not ranked count as the most common)."""
    return min(literal, key=lambda c: _RARITY.index(c) if c in _RARITY else len(_RARITY))


def _alternative_source(literal: _Literal, key: str) -> tuple[str, int]:
    """The regex for ``literal`` that starts with ``key`` (one character), and its offset.

    The key is the last occurrence of that character, so the tail after it holds no key
    position and can be consumed; its first character then comes right after the key, and
    the regex engine dismisses most key positions with one comparison before any lookbehind.
    """
    text = literal.text
    offset = text.rindex(key)
    behind = f"(?<={re.escape(text)})" if offset else ""
    guard = f"(?=(?:{literal.guard}))" if literal.guard else ""
    return f"{re.escape(text[offset:])}{behind}{guard}", offset


def _compatible(a: str, offset_a: int, b: str, offset_b: int) -> bool:
    """Whether ``a`` and ``b`` can both occur with their keys at the same position."""
    shift = offset_a - offset_b  # b starts at a's index ``shift``
    return all(a[i] == b[i - shift] for i in range(max(0, shift), min(len(a), shift + len(b))))


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
        wanted: dict[_Literal, list[tuple[int, str | None]]] = {}
        compiled: list[_CompiledRule[AnyStr]] = []
        slot = 0
        for rule in rules:
            guard = rule.guard if rule.anchored and rule.lowercase else ""
            if guard and re.compile(guard).groups:
                raise ValueError(f"the guard of {rule.id} has groups")
            slots = []
            for source in rule.anchors:
                for string in expand_anchor(source):
                    literal = _Literal(string.translate(_ASCII_LOWER), guard)
                    wanted.setdefault(literal, []).append((slot, None if rule.lowercase else string))
                slots.append(slot)
                slot += rule.anchored
            slot += not rule.anchored
            if rule.anchored:
                # One expression per anchor, matched at that anchor's offsets only.
                patterns = tuple(re.compile(encode(f"(?:{source})(?:{rule.pattern})")) for source in rule.anchors)
            else:
                patterns = (re.compile(encode(rule.pattern)),)
            compiled.append(
                _CompiledRule(
                    rule=rule,
                    patterns=patterns,
                    slots=tuple(slots),
                    has_secret_group="secret" in patterns[0].groupindex,
                    has_body_group="body" in patterns[0].groupindex,
                )
            )
        literals = list(wanted)
        self._scans: tuple[_Scan[AnyStr], ...] = tuple(
            self._scan(key, [literals[i] for i in members], wanted, encode)
            for key, members in _plan([literal.text for literal in literals])
        )
        self._rules: tuple[_CompiledRule[AnyStr], ...] = tuple(compiled)

    @staticmethod
    def _scan(
        key: str,
        literals: list[_Literal],
        wanted: dict[_Literal, list[tuple[int, str | None]]],
        encode: Callable[[str], AnyStr],
    ) -> _Scan[AnyStr]:
        targets = [wanted[literal] for literal in literals]
        exact = {string for _, string in targets[0]}
        original = len(literals) == 1 and len(exact) == 1 and None not in exact
        if original:
            # One literal that only case-sensitive rules want: scan the text itself for it.
            string = str(exact.pop())
            key = string[literals[0].text.index(key)]
            literals = [_Literal(string, literals[0].guard)]
            targets = [[(slot, None) for slot, _ in targets[0]]]
        sources = [_alternative_source(literal, key) for literal in literals]
        alternatives = tuple(
            _Alternative(
                offset=offset,
                probe=re.compile(encode(source)),
                targets=tuple((slot, None if e is None else encode(e)) for slot, e in targets[i]),
                also=tuple(
                    j
                    for j in range(i + 1, len(literals))
                    if _compatible(literal.text, offset, literals[j].text, sources[j][1])
                ),
            )
            for i, (literal, (source, offset)) in enumerate(zip(literals, sources, strict=True))
        )
        # The empty group closing each alternative says which one matched (lastindex).
        regex = re.compile(encode("|".join(f"{source}()" for source, _ in sources)))
        return _Scan(regex, alternatives, original)

    def find(self, text: AnyStr, allow_placeholders: bool) -> list[SecretMatch]:
        """Every non-overlapping match in ``text``, earlier rules winning overlaps."""
        lowered = self._lower(text)
        offsets: dict[int, list[int]] = {}
        for scan in self._scans:
            alternatives = scan.alternatives
            haystack = text if scan.original else lowered
            for hit in scan.regex.finditer(haystack):
                position = hit.start()
                index = (hit.lastindex or 1) - 1
                alternative = alternatives[index]
                _record(alternative, position, text, offsets)
                for other in alternative.also:
                    if alternatives[other].probe.match(haystack, position):
                        _record(alternatives[other], position, text, offsets)
        if not offsets:
            return []
        found: list[SecretMatch] = []
        taken: list[tuple[int, int]] = []
        for compiled in self._rules:
            haystack = lowered if compiled.rule.lowercase else text
            for match in self._matches(compiled, haystack, offsets):
                result = self._accept(compiled, match, text, allow_placeholders)
                if result is not None and _claim(taken, result.start, result.end):
                    found.append(result)
        found.sort(key=lambda m: m.start)
        return found

    @staticmethod
    def _matches(
        compiled: _CompiledRule[AnyStr], haystack: AnyStr, offsets: dict[int, list[int]]
    ) -> Iterable[re.Match[AnyStr]]:
        """What ``finditer`` would yield, trying only the offsets where an anchor was found."""
        if not compiled.rule.anchored:
            if compiled.slots and compiled.slots[0] in offsets:
                yield from compiled.patterns[0].finditer(haystack)
            return
        for pattern, slot in zip(compiled.patterns, compiled.slots, strict=True):
            end = 0
            for start in sorted(set(offsets.get(slot, ()))):
                if start >= end and (match := pattern.match(haystack, start)) is not None:
                    end = match.end()
                    yield match

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
        body = secret if (body_start, body_end) == (start, end) else decode(text[body_start:body_end])
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


def _record(alternative: _Alternative[AnyStr], position: int, text: AnyStr, offsets: dict[int, list[int]]) -> None:
    """Note where ``alternative``'s literal starts, for each rule anchor that wants it."""
    start = position - alternative.offset
    for slot, exact in alternative.targets:
        if exact is None or text.startswith(exact, start):
            offsets.setdefault(slot, []).append(start)


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
    """A rules table compiled once, for ``str`` and for ``bytes`` input (each on first use)."""

    def __init__(self, rules: Sequence[SecretRule] = RULES) -> None:
        self.rules = tuple(rules)

    @cached_property
    def _str(self) -> _Engine[str]:
        return _Engine(
            self.rules,
            encode=lambda s: s,
            decode=lambda s: s,
            is_ident=lambda t, i: t[i] in _IDENT,
            lower=_lower_str,
        )

    @cached_property
    def _bytes(self) -> _Engine[bytes]:
        return _Engine(
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
