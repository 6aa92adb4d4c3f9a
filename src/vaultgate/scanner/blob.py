"""Turn the secrets in one blob of bytes into findings with lines, columns and allow comments."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from vaultgate.detect.interface import SecretMatch
from vaultgate.detect.secrets import SecretDetector
from vaultgate.scanner.model import Finding, ScanStats, fingerprint

ALLOW_MARKER = b"vaultgate:allow"
BINARY_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class BlobOrigin:
    """Where a blob came from: its path, and for history scans the commit and its date.

    ``line_numbers`` maps the blob's 0-based line index to the line number to report (a
    diff's added lines are not contiguous in the file); without it lines count from 1.
    ``place`` is the kind of place (``--home``: ``dotenv``, ``shell-history``...) and
    ``section`` the part of the file the blob is (``cell 3 output``), its lines counted from 1.
    """

    path: str
    commit: str | None = None
    author_date: str | None = None
    line_numbers: Sequence[int] | None = None
    place: str | None = None
    section: str | None = None


def is_binary(head: bytes) -> bool:
    """True for content that is not text (a NUL byte in its first few kilobytes)."""
    return b"\0" in head[:BINARY_SNIFF]


def scan_blob(
    detector: SecretDetector,
    data: bytes,
    origin: BlobOrigin,
    stats: ScanStats,
    *,
    descriptions: dict[str, str],
    keep_plaintext: frozenset[str] = frozenset(),
    allow_placeholders: bool = True,
) -> list[Finding]:
    """Findings for the secrets in ``data``, minus those on a ``vaultgate:allow`` line."""
    matches = detector.find_bytes(data, allow_placeholders=allow_placeholders)
    if not matches:
        return []
    findings = []
    line_index = 0
    line_start = 0
    position = 0
    for match in matches:
        # Matches come in order, so lines are counted once over the blob.
        line_index += data.count(b"\n", position, match.start)
        position = match.start
        line_start = data.rfind(b"\n", 0, match.start) + 1
        line_end = data.find(b"\n", match.start)
        line = data[line_start : line_end if line_end != -1 else len(data)]
        if ALLOW_MARKER in line:
            stats.allowed_inline += 1
            continue
        findings.append(
            _finding(
                match,
                origin,
                line_index,
                match.start - line_start + 1,
                descriptions,
                keep_plaintext,
            )
        )
    return findings


def _finding(
    match: SecretMatch,
    origin: BlobOrigin,
    line_index: int,
    column: int,
    descriptions: dict[str, str],
    keep_plaintext: frozenset[str],
) -> Finding:
    if origin.line_numbers is not None and line_index < len(origin.line_numbers):
        line = origin.line_numbers[line_index]
    else:
        line = line_index + 1
    return Finding(
        path=origin.path,
        line=line,
        column=column,
        rule_id=match.rule_id,
        severity=match.severity,
        description=descriptions.get(match.rule_id, match.rule_id),
        masked=match.masked,
        fingerprint=fingerprint(match.rule_id, origin.path, match.secret),
        secret_sha256=hashlib.sha256(match.secret.encode("utf-8")).hexdigest(),
        commit=origin.commit,
        author_date=origin.author_date,
        place=origin.place,
        section=origin.section,
        plaintext=match.secret if match.rule_id in keep_plaintext else None,
    )
