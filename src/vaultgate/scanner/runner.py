"""The scanner's operations: scan paths, stdin, git history or the index; verify; revoke.

No printing and no exit codes here (the CLI does that); progress is reported through an
optional :class:`Progress` sink.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pathspec

from vaultgate.detect.secrets import SecretDetector, default_detector
from vaultgate.scanner import git, remote
from vaultgate.scanner.blob import BINARY_SNIFF, BlobOrigin, is_binary, scan_blob
from vaultgate.scanner.model import Finding, ScanResult, ScanStats
from vaultgate.scanner.walk import iter_files

OPENAI_RULE = "openai-api-key"
VAULTGATE_RULE = "vaultgate-token"
DEFAULT_MAX_FILE_SIZE = 16 * 1024 * 1024
WHOLE_READ = 256 * 1024  # files up to this size are read in one go, then sniffed for binary


class Progress(Protocol):
    """Where a long scan reports how far it got."""

    def start(self, total: int | None) -> None:
        """The scan begins; ``total`` bytes are expected (None when unknown)."""

    def advance(self, done: int) -> None:
        """``done`` more bytes were scanned."""


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What to scan and what to leave out."""

    use_gitignore: bool = True
    excludes: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    allow_placeholders: bool = True
    baseline: frozenset[str] = frozenset()
    keep_plaintext: frozenset[str] = frozenset()


class ScanCollector:
    """State shared by the blobs of one scan: findings (minus the baseline's) and totals."""

    def __init__(self, options: ScanOptions, detector: SecretDetector | None) -> None:
        self.options = options
        self.detector = detector or default_detector()
        self.descriptions = {rule.id: rule.description for rule in self.detector.rules}
        self.stats = ScanStats()
        self.findings: list[Finding] = []

    def count_file(self, size: int) -> None:
        """One more file of ``size`` bytes was read (whatever number of blobs it gives)."""
        self.stats.files += 1
        self.stats.bytes += size

    def blob(self, data: bytes, origin: BlobOrigin, *, new_file: bool = True) -> None:
        """Scan one blob; ``new_file=False`` for parts of a file already counted."""
        if new_file:
            self.count_file(len(data))
        found = scan_blob(
            self.detector,
            data,
            origin,
            self.stats,
            descriptions=self.descriptions,
            keep_plaintext=self.options.keep_plaintext,
            allow_placeholders=self.options.allow_placeholders,
        )
        for finding in found:
            if finding.fingerprint in self.options.baseline:
                self.stats.baselined += 1
            else:
                self.findings.append(finding)

    def result(self) -> ScanResult:
        """The findings so far and the totals."""
        return ScanResult(findings=tuple(self.findings), stats=self.stats)


def scan_paths(
    paths: Iterable[str],
    options: ScanOptions = ScanOptions(),
    *,
    detector: SecretDetector | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan files and directories (``.gitignore`` respected unless the options say not)."""
    scan = ScanCollector(options, detector)
    entries = list(iter_files(list(paths), use_gitignore=options.use_gitignore, excludes=options.excludes))
    if progress is not None:
        progress.start(sum(e.size for e in entries))
    for entry in entries:
        if entry.size > options.max_file_size:
            scan.stats.skipped_large += 1
        else:
            data = _read_text(entry.path, entry.size, scan.stats)
            if data is not None:
                scan.blob(data, BlobOrigin(entry.display))
        if progress is not None:
            progress.advance(entry.size)
    return scan.result()


def _read_text(path: str, size: int, stats: ScanStats) -> bytes | None:
    """The file's bytes, or None for binary content or an unreadable file.

    One ``read`` system call for a usual file (its size is known from the walk); a large one
    is sniffed first, so that big binary files are not read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            if size > WHOLE_READ and is_binary(os.pread(fd, BINARY_SNIFF, 0)):
                stats.skipped_binary += 1
                return None
            data = os.read(fd, size + 1)
            if len(data) != size:  # changed since the walk, or a short read: read to the end
                parts = [data]
                while part := os.read(fd, 1 << 20):
                    parts.append(part)
                data = b"".join(parts)
        finally:
            os.close(fd)
    except OSError:
        return None
    if size <= WHOLE_READ and is_binary(data):
        stats.skipped_binary += 1
        return None
    return data


def scan_bytes(
    data: bytes,
    name: str = "<stdin>",
    options: ScanOptions = ScanOptions(),
    *,
    detector: SecretDetector | None = None,
) -> ScanResult:
    """Scan one blob held in memory (``vaultgate scan -`` reads stdin into it)."""
    scan = ScanCollector(options, detector)
    scan.blob(data, BlobOrigin(name))
    return scan.result()


def _scan_patches(
    patches: Iterator[git.PatchFile],
    options: ScanOptions,
    detector: SecretDetector | None,
    progress: Progress | None,
) -> ScanResult:
    scan = ScanCollector(options, detector)
    exclude = pathspec.GitIgnoreSpec.from_lines(options.excludes) if options.excludes else None
    if progress is not None:
        progress.start(None)
    for patch in patches:
        if exclude is not None and exclude.match_file(patch.path):
            continue
        data = patch.data
        if len(data) > options.max_file_size:
            scan.stats.skipped_large += 1
            continue
        if is_binary(data):
            scan.stats.skipped_binary += 1
            continue
        scan.blob(data, BlobOrigin(patch.path, patch.commit, patch.author_date, patch.line_numbers))
        if progress is not None:
            progress.advance(len(data))
    return scan.result()


def scan_history(
    repo: str,
    since: str | None = None,
    options: ScanOptions = ScanOptions(),
    *,
    detector: SecretDetector | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan every line added by every commit reachable from any ref (after ``since``)."""
    return _scan_patches(git.history(repo, since), options, detector, progress)


def scan_staged(
    repo: str,
    options: ScanOptions = ScanOptions(),
    *,
    detector: SecretDetector | None = None,
) -> ScanResult:
    """Scan the lines staged for the next commit (the pre-commit hook's scan)."""
    return _scan_patches(git.staged(repo), options, detector, None)


def verify(result: ScanResult, base_url: str = remote.DEFAULT_OPENAI_BASE_URL) -> ScanResult:
    """The result with each OpenAI key marked live, dead or unknown (one call per key)."""
    remote.check_url(base_url, "verify base URL")
    verdicts: dict[str, str] = {}
    findings = []
    for finding in result.findings:
        if finding.rule_id == OPENAI_RULE and finding.plaintext is not None:
            if finding.secret_sha256 not in verdicts:
                verdicts[finding.secret_sha256] = remote.verify_openai_key(finding.plaintext, base_url)
            finding = dataclasses.replace(finding, verified=verdicts[finding.secret_sha256])
        findings.append(finding)
    return ScanResult(findings=tuple(findings), stats=result.stats)


def leaked_token_fingerprints(result: ScanResult) -> list[str]:
    """SHA-256 fingerprints of the vaultgate tokens found (what ``--revoke`` sends)."""
    return sorted({f.secret_sha256 for f in result.findings if f.rule_id == VAULTGATE_RULE})


def revoke(result: ScanResult, admin_url: str, admin_token: str) -> remote.RevokeOutcome:
    """Report the vaultgate tokens found to the admin API, which revokes them."""
    fingerprints = leaked_token_fingerprints(result)
    if not fingerprints:
        return remote.RevokeOutcome(revoked=(), unknown=0)
    return remote.report_leaked(admin_url, admin_token, fingerprints)
