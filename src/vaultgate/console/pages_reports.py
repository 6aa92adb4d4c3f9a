"""Usage (charts per day, member, team and model, with cost), the audit trail, the posture report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vaultgate.console.charts import Bar, bar_chart, money
from vaultgate.console.html import EMPTY, Html, esc, field, join, notice, table
from vaultgate.services.audit_trail import Verification
from vaultgate.services.posture.finding import Finding
from vaultgate.services.usage import UsageLine

CHARTS = (
    ("day", "Requests per day"),
    ("member", "Requests per member"),
    ("team", "Requests per team"),
    ("model", "Requests per model"),
)


def range_form(action: str, values: Mapping[str, str], extra: Html = EMPTY) -> Html:
    """A GET form for a period (and the page's own filters)."""
    return Html(
        f'<form method="get" action="{esc(action)}" class="grid filters">'
        + field("Since", "since", value=values.get("since", ""), hint="2026-07-01, an ISO time, or 7d ago.")
        + field("Until", "until", value=values.get("until", ""), hint="Exclusive; empty: now.")
        + extra
        + '<div class="field"><button type="submit">Show</button></div></form>'
    )


def usage_page(values: Mapping[str, str], by_dimension: Mapping[str, Sequence[UsageLine]]) -> Html:
    """Totals, then one bar chart per dimension."""
    day_lines = by_dimension.get("day", [])
    requests = sum(line.requests for line in day_lines)
    cost = sum(line.cost_usd for line in day_lines)
    errors = sum(line.errors for line in day_lines)
    summary = Html(
        f'<p class="totals"><span>Requests: <strong id="total-requests">{requests}</strong></span>'
        f"<span>Errors: <strong>{errors}</strong></span><span>Cost: <strong>{esc(money(cost))}</strong></span></p>"
    )
    charts = join(
        bar_chart(
            f"chart-{name}",
            title,
            [
                Bar(line.dimensions.get(name) or "(none)", line.requests, line.cost_usd)
                for line in by_dimension.get(name, [])
            ],
        )
        for name, title in CHARTS
    )
    return Html(range_form("/console/usage", values) + summary + f'<div class="charts">{charts}</div>')


def audit_page(
    values: Mapping[str, str], verification: Verification, records: Sequence[dict[str, Any]], shown_limit: int
) -> Html:
    """The chain's verify status, the filters, and the matching records (newest first)."""
    if verification.ok:
        status = notice(
            f"Chain verified: {verification.records} records, {verification.checkpoints} checkpoints, intact."
        )
    else:
        broken = verification.broken
        status = notice(
            f"Chain BROKEN at record {getattr(broken, 'seq', '?')}: {getattr(broken, 'reason', broken)}", kind="error"
        )
    extra = field("Actor", "actor", value=values.get("actor", ""), hint="A member id, cli or gateway.") + field(
        "Action", "action", value=values.get("action", ""), hint="Such as key.create."
    )
    rows = [
        [
            r.get("seq"),
            r.get("at", "")[:19].replace("T", " "),
            r.get("actor"),
            r.get("action"),
            r.get("target"),
            r.get("outcome"),
        ]
        for r in records
    ]
    more = (
        f"<p>Showing the newest {shown_limit} matching records; narrow the filters or export with the CLI for all.</p>"
        if len(records) >= shown_limit
        else ""
    )
    return Html(
        status
        + range_form("/console/audit", values, Html(extra))
        + table(
            "Audit records",
            ["Seq", "At (UTC)", "Actor", "Action", "Target", "Outcome"],
            rows,
            empty="No matching records.",
        )
        + more
    )


def posture_page(findings: Sequence[Finding]) -> Html:
    """The doctor's findings, most severe first."""
    rows = [[f.severity.value, f.title, f.subject, f.fix] for f in findings]
    return table("Findings", ["Severity", "Finding", "About", "Fix"], rows, empty="No findings: nothing to fix.")
