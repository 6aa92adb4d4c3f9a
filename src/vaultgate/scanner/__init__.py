"""Secret scanning of files, stdin, git history and a member's home, with baselines, reports and leak-to-revoke.

The detectors themselves live in :mod:`vaultgate.detect`; this package walks, reads,
filters and reports. It never needs the gateway running (``--revoke`` is optional).
"""

from vaultgate.scanner.model import Finding, ScanResult, ScanStats
from vaultgate.scanner.runner import (
    ScanOptions,
    revoke,
    scan_bytes,
    scan_history,
    scan_paths,
    scan_staged,
    verify,
)

# Public: the names re-exported here and these modules (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "Finding",
    "ScanOptions",
    "ScanResult",
    "ScanStats",
    "baseline",
    "errors",
    "git",
    "home",
    "home_report",
    "model",
    "remote",
    "report",
    "revoke",
    "runner",
    "sarif",
    "scan_bytes",
    "scan_history",
    "scan_paths",
    "scan_staged",
    "verify",
]
