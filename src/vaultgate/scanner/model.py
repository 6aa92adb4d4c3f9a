"""What a scan reports: findings (secrets masked, never in plaintext) and totals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from vaultgate.detect.interface import Severity


@dataclass(frozen=True, slots=True)
class Finding:
    """One secret at one place.

    ``masked`` is the only form of the secret that is ever shown. ``secret_sha256`` is the
    SHA-256 of the full secret (what ``--revoke`` sends for vaultgate tokens) and
    ``fingerprint`` identifies the finding in a baseline (rule, path and secret, so moving
    lines does not make it new). ``plaintext`` is kept only for rules that ``--verify``
    needs, is never rendered, and is left out of ``repr``. ``place`` and ``section`` are set
    by ``--home`` scans: the kind of place (``notebook``) and the part of the file
    (``cell 3 output``) that ``line`` counts in.
    """

    path: str
    line: int
    column: int
    rule_id: str
    severity: Severity
    description: str
    masked: str
    fingerprint: str
    secret_sha256: str
    commit: str | None = None
    author_date: str | None = None
    verified: str | None = None
    place: str | None = None
    section: str | None = None
    plaintext: str | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ScanStats:
    """Totals over one scan (mutable while the scan runs)."""

    files: int = 0
    bytes: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    allowed_inline: int = 0
    baselined: int = 0


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The findings that remain after allow comments and the baseline, and the totals."""

    findings: tuple[Finding, ...]
    stats: ScanStats


def fingerprint(rule_id: str, path: str, secret: str) -> str:
    """A stable id for a finding: SHA-256 over rule, path and secret (not the line)."""
    digest = hashlib.sha256(f"vaultgate-finding\0{rule_id}\0{path}\0{secret}".encode())
    return digest.hexdigest()
