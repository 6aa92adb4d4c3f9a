"""``vaultgate doctor``: the posture report (docs/POSTURE.md) in text, JSON or self-contained HTML.

Exit status: 1 when a finding at or above ``--fail-on`` (default high) exists, 0 otherwise, 2 for
usage errors, so CI can gate on it.
"""

from __future__ import annotations

import enum
import unicodedata
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from vaultgate.cli.context import control_plane, settings
from vaultgate.cli.output import say
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane, utcnow
from vaultgate.services.errors import InvalidInput, ServiceError
from vaultgate.services.posture import html_report
from vaultgate.services.posture.finding import Finding, Severity, fails, summary
from vaultgate.services.posture.installation import tls_finding
from vaultgate.services.posture.runner import PostureReport, inspect
from vaultgate.store.errors import StoreError
from vaultgate.vault import VaultError

__all__ = ["doctor", "tls_finding"]


class ReportFormat(enum.Enum):
    """How the report is written."""

    TEXT = "text"
    JSON = "json"
    HTML = "html"


class FailOn(enum.Enum):
    """The least severity that makes ``doctor`` exit 1."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NEVER = "never"

    @property
    def threshold(self) -> Severity | None:
        """The severity, or None for never."""
        return None if self is FailOn.NEVER else Severity(self.value)


# The keys `doctor --json` has always had at its top level (scripts and tests read them).
LEGACY_KEYS = ("database", "revision", "master_key_source", "audit_records", "audit_chain_ok", "tls")


def json_document(report: PostureReport, fail_on: FailOn, generated_at: str) -> dict[str, Any]:
    """``{"summary": ..., "findings": [...], "checks": {...}}`` plus the legacy top-level keys."""
    facts = report.facts
    failed = fails(report.findings, fail_on.threshold)
    return {
        **{key: facts.get(key) for key in LEGACY_KEYS},
        "residency_findings": facts.get("residency_findings", []),
        "summary": {**summary(report.findings), "fail_on": fail_on.value, "failed": failed, "at": generated_at},
        "findings": [f.to_json() for f in report.findings],
        "checks": facts,
    }


def _printable(text: str) -> str:
    """``text`` with control characters shown as escapes: a name from the database cannot drive the terminal."""
    return "".join(
        c if not unicodedata.category(c).startswith("C") else c.encode("unicode_escape").decode() for c in text
    )


def _evidence_line(f: Finding) -> str:
    return " ".join(
        f"{k}={orjson.dumps(v, default=str).decode() if not isinstance(v, str) else v}" for k, v in f.evidence.items()
    )


def text_report(report: PostureReport, fail_on: FailOn) -> str:
    """Plain lines grouped by severity, most severe first."""
    counts = summary(report.findings)
    facts = report.facts
    lines = [
        "vaultgate posture report: " + ", ".join(f"{counts[s.value]} {s.value}" for s in Severity),
        f"database: {facts.get('database')}, revision {facts.get('revision')}; audit: {facts.get('audit_records')}"
        f" records, chain {'intact' if facts.get('audit_chain_ok') else 'NOT intact or not checked'};"
        f" TLS: {facts.get('tls')}",
    ]
    for severity in Severity:
        group = [f for f in report.findings if f.severity is severity]
        if not group:
            continue
        lines += ["", f"{severity.value.upper()} ({len(group)})"]
        for f in group:
            lines.append(f"  [{f.id}] {f.subject}: {f.title}")
            lines.append(f"    evidence: {_evidence_line(f)}")
            lines.append(f"    fix: {f.fix}")
    if not report.findings:
        lines += ["", "No findings."]
    verdict = "fails" if fails(report.findings, fail_on.threshold) else "passes"
    lines += ["", f"{verdict} --fail-on {fail_on.value}"]
    return "\n".join(_printable(line) for line in lines) + "\n"


def _open(ctx: typer.Context) -> tuple[ControlPlane | None, str | None]:
    try:
        return control_plane(ctx), None
    except (ServiceError, StoreError, VaultError) as exc:
        return None, str(exc)


def doctor(
    ctx: typer.Context,
    report_format: Annotated[
        ReportFormat, typer.Option("--format", help="text, json or html (one self-contained file)")
    ] = ReportFormat.TEXT,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the report to this file, not stdout")] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on a finding this severe or worse: high, medium, low, never")
    ] = FailOn.HIGH,
) -> None:
    """Check this installation against the guide and its own configuration: findings with evidence and fixes."""
    if as_json:
        if report_format not in (ReportFormat.TEXT, ReportFormat.JSON):
            raise InvalidInput(f"--json is --format json: give one or the other, not --format {report_format.value}")
        report_format = ReportFormat.JSON
    s = settings(ctx)
    cp, unavailable = _open(ctx)
    try:
        report = inspect(s, cp, LOCAL_OPERATOR, unavailable=unavailable)
    finally:
        if cp is not None:
            cp.store.dispose()
    generated = cp.clock() if cp is not None else utcnow()
    if report_format is ReportFormat.JSON:
        document = (
            orjson.dumps(
                json_document(report, fail_on, generated.isoformat()), default=str, option=orjson.OPT_INDENT_2
            ).decode()
            + "\n"
        )
    elif report_format is ReportFormat.HTML:
        document = html_report.render(report.findings, report.facts, generated)
    else:
        document = text_report(report, fail_on)
    if out is not None:
        out.write_text(document, encoding="utf-8")
        counts = summary(report.findings)
        say(f"Wrote the posture report to {out}: " + ", ".join(f"{counts[s.value]} {s.value}" for s in Severity))
    else:
        typer.echo(document, nl=False)
    if fails(report.findings, fail_on.threshold):
        raise typer.Exit(1)
