"""Baseline files: accepted findings, by fingerprint, so that only new ones fail a scan.

The file is JSON and holds no secret: each entry is a fingerprint (a SHA-256 over rule,
path and secret), with rule, path and line for the reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from vaultgate.scanner.errors import ScanUsageError
from vaultgate.scanner.model import Finding

FORMAT_VERSION = 1


def render_baseline(findings: Iterable[Finding]) -> str:
    """The baseline document for ``findings`` (sorted, so diffs of it stay small)."""
    entries = sorted({(f.path, f.line, f.rule_id, f.fingerprint): None for f in findings})
    document = {
        "tool": "vaultgate",
        "version": FORMAT_VERSION,
        "findings": [{"fingerprint": fp, "rule": rule, "path": path, "line": line} for path, line, rule, fp in entries],
    }
    return json.dumps(document, indent=2) + "\n"


def write_baseline(path: str, findings: Iterable[Finding]) -> None:
    """Write the baseline for ``findings`` to ``path``."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render_baseline(findings))
    except OSError as exc:
        raise ScanUsageError(f"cannot write baseline {path}: {exc.strerror}") from exc


def load_baseline(path: str) -> frozenset[str]:
    """The fingerprints accepted by the baseline at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ScanUsageError(f"cannot read baseline {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ScanUsageError(f"baseline {path} is not valid JSON (line {exc.lineno})") from exc
    entries = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ScanUsageError(f"baseline {path} has no findings list")
    fingerprints = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise ScanUsageError(f"baseline {path} has an entry without a fingerprint")
        fingerprints.add(entry["fingerprint"])
    return frozenset(fingerprints)
