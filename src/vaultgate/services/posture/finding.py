"""What the posture report says: findings (severity, evidence, the fix as a command) and plain facts."""

from __future__ import annotations

import enum
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    """How much a finding matters; ``high`` fails ``vaultgate doctor`` by default."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """3 for high down to 0 for info."""
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A severity from its name; ValueError naming the accepted values otherwise."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown severity {text!r}: use high, medium, low or info") from None


_RANK = {Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the report flags: ``id`` names the check (``key.max_age``), ``subject`` what it is about."""

    id: str
    severity: Severity
    title: str
    subject: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``doctor --format json``."""
        return {
            "id": self.id,
            "severity": self.severity.value,
            "title": self.title,
            "subject": self.subject,
            "evidence": self.evidence,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Fact:
    """A value a check learnt on its way (the database dialect, the audit records checked), not a finding."""

    name: str
    value: Any


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by check and subject: the same installation always reads the same."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.id, f.subject, repr(sorted(f.evidence.items()))))


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings of each severity, and in all."""
    counts = {s.value: 0 for s in Severity}
    for f in findings:
        counts[f.severity.value] += 1
    counts["total"] = sum(counts.values())
    return counts


def fails(findings: Iterable[Finding], threshold: Severity | None) -> bool:
    """Whether any finding is at or above ``threshold`` (None: never)."""
    return threshold is not None and any(f.severity.rank >= threshold.rank for f in findings)


def command(*words: str) -> str:
    """A ``vaultgate`` command line with every argument quoted for a POSIX shell (names may hold anything)."""
    return " ".join(["vaultgate", *(shlex.quote(w) for w in words)])
