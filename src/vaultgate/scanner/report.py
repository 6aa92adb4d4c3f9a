"""Human text and JSON renderings of a scan. Only masked secrets ever appear in them."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from vaultgate.scanner.model import Finding, ScanResult


def finding_document(finding: Finding) -> dict[str, Any]:
    """One finding as a JSON object (``path``, 1-based ``line``, ``rule``, masked secret)."""
    document: dict[str, Any] = {
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "rule": finding.rule_id,
        "severity": finding.severity.value,
        "description": finding.description,
        "secret": finding.masked,
        "fingerprint": finding.fingerprint,
    }
    if finding.commit is not None:
        document["commit"] = finding.commit
        document["author_date"] = finding.author_date
    if finding.verified is not None:
        document["verified"] = finding.verified
    if finding.place is not None:
        document["place"] = finding.place
    if finding.section is not None:
        document["section"] = finding.section
    return document


def render_json(result: ScanResult, extra: dict[str, object] | None = None) -> str:
    """The whole scan as one JSON document."""
    stats = result.stats
    document: dict[str, Any] = {
        "tool": "vaultgate",
        "findings": [finding_document(f) for f in result.findings],
        "summary": {
            "findings": len(result.findings),
            "files": stats.files,
            "bytes": stats.bytes,
            "skipped_binary": stats.skipped_binary,
            "skipped_large": stats.skipped_large,
            "allowed_inline": stats.allowed_inline,
            "baselined": stats.baselined,
        },
    }
    if extra:
        document.update(extra)
    return json.dumps(document, indent=2)


def render_text(result: ScanResult) -> str:
    """One line per finding (``path:line:column: rule severity masked``) and a summary."""
    lines = [finding_line(f) for f in result.findings]
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def finding_line(f: Finding) -> str:
    """``path[ [section]]:line:column: rule (severity) masked`` and the commit or verdict."""
    where = f"{f.path} [{f.section}]" if f.section is not None else f.path
    text = f"{where}:{f.line}:{f.column}: {f.rule_id} ({f.severity.value}) {f.masked}"
    if f.commit is not None:
        text += f"  commit {f.commit[:12]} {f.author_date or ''}".rstrip()
    if f.verified is not None:
        text += f"  [{f.verified}]"
    return text


def summary_line(result: ScanResult) -> str:
    """``N findings (by severity) in M files (size)``."""
    stats = result.stats
    count = len(result.findings)
    by_severity = Counter(f.severity.value for f in result.findings)
    detail = ", ".join(f"{n} {sev}" for sev, n in sorted(by_severity.items()))
    noun = "finding" if count == 1 else "findings"
    head = f"{count} {noun}" + (f" ({detail})" if detail else "")
    size = f"{stats.bytes / 1_000_000:.1f} MB"
    tail = []
    if stats.baselined:
        tail.append(f"{stats.baselined} in baseline")
    if stats.allowed_inline:
        tail.append(f"{stats.allowed_inline} allowed inline")
    extra = f"; {', '.join(tail)}" if tail else ""
    return f"{head} in {stats.files} files ({size}){extra}"
