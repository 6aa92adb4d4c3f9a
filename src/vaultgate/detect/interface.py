"""The shape of a secret rule and of what it finds.

A :class:`SecretRule` is data: an id, a description, a severity, a regular expression,
literal anchors that gate the expression (it only runs when an anchor is present), an
optional structural validator, and examples expanded at test time. The engine in
:mod:`vaultgate.detect.secrets` turns a table of rules into :class:`SecretMatch` values;
``scanner/`` and ``privacy/`` consume those and never re-implement a detector.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field


class Severity(enum.Enum):
    """How bad a leak of this kind is; ordered from worst to mildest."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A regex hit handed to a rule's validator, with a little surrounding text.

    ``matched`` is the whole regex match (``secret`` is part of it), ``before`` the text
    just before the match and ``after`` the text just after it, in the input's case.
    """

    secret: str
    body: str
    matched: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Example:
    """A test example: a template (see :mod:`vaultgate.detect.examples`) and its verdict.

    Templates, not literals, so that the repository never holds a secret-shaped string.
    """

    template: str
    matches: bool
    placeholder: bool = False


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One detector, as data.

    ``pattern`` is an ASCII regular expression; its named group ``secret`` (or the whole
    match) is the secret and its group ``body`` (or the secret) the part checked for
    placeholder values. ``anchors`` are regular expressions that start with a literal, one
    of which must occur before ``pattern`` runs. With ``lowercase`` both run on the
    ASCII-lowercased text (the pattern is then written in lowercase), and the secret is
    read back from the original text at the same offsets. With ``anchored`` the pattern is
    tried only where an anchor occurs (``match`` at that offset), which keeps rules keyed on
    common words (``key``, ``token``) fast. Anchors use literals, escapes, ``[...]`` sets,
    ``(?:...)`` groups, ``?`` and ``|`` only (the engine expands them into their strings).
    ``guard`` (anchored lowercase rules) is a regular expression without groups that matches
    right after an anchor wherever ``pattern`` can, typically a prefix of ``pattern``: the
    engine tests it inside the scan that finds the anchors, so the thousands of ``key`` and
    ``token`` words in ordinary code are dismissed without a Python call. ``boundary``
    requires that no identifier character precede the match.
    """

    id: str
    description: str
    severity: Severity
    pattern: str
    anchors: tuple[str, ...]
    examples: tuple[Example, ...]
    lowercase: bool = False
    boundary: bool = True
    anchored: bool = False
    guard: str = ""
    check_placeholders: bool = True
    validate: Callable[[Candidate], bool] | None = None
    mask: Callable[[str], str] | None = None
    context: int = 160


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """A secret found in a text: which rule, where (offsets in the input's units), what.

    ``secret`` is the plaintext; callers mask it (:attr:`masked`) before showing or
    logging anything. ``placeholder`` is true when the value looks like a documentation
    example (only reported with ``allow_placeholders=False``).
    """

    rule_id: str
    severity: Severity
    start: int
    end: int
    secret: str = field(repr=False)
    masked: str
    placeholder: bool = False

    @property
    def sha256(self) -> str:
        """SHA-256 hex digest of the full secret (the fingerprint a leak report sends)."""
        return hashlib.sha256(self.secret.encode("utf-8")).hexdigest()


def expand_anchor(source: str) -> tuple[str, ...]:
    """Every string the anchor ``source`` matches (literals, ``\\.`` escapes, sets, ``(?:|)``, ``?``)."""
    strings, end = _alternation(source, 0)
    if end != len(source):
        raise ValueError(f"unsupported anchor syntax: {source!r}")
    return tuple(dict.fromkeys(strings))


def _alternation(source: str, i: int) -> tuple[list[str], int]:
    options: list[str] = []
    while True:
        strings, i = _sequence(source, i)
        options.extend(strings)
        if i < len(source) and source[i] == "|":
            i += 1
            continue
        return options, i


def _sequence(source: str, i: int) -> tuple[list[str], int]:
    strings = [""]
    while i < len(source) and source[i] not in "|)":
        char = source[i]
        if source.startswith("(?:", i):
            atom, i = _alternation(source, i + 3)
            if i >= len(source):
                raise ValueError(f"unbalanced anchor: {source!r}")
            i += 1
        elif char == "[":
            close = source.index("]", i)
            atom = list(source[i + 1 : close])
            if not atom or atom[0] == "^" or "-" in atom[1:-1] or "\\" in atom:
                raise ValueError(f"unsupported set in anchor: {source!r}")
            i = close + 1
        elif char == "\\" and i + 1 < len(source) and not source[i + 1].isalnum():
            atom, i = [source[i + 1]], i + 2
        elif char in "\\.^$*+{}()?":
            raise ValueError(f"unsupported anchor syntax: {source!r}")
        else:
            atom, i = [char], i + 1
        if i < len(source) and source[i] == "?":
            atom, i = [*atom, ""], i + 1
        strings = [head + tail for head in strings for tail in atom]
    return strings, i
