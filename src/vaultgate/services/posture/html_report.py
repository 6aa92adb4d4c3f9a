"""The posture report as one self-contained HTML file: inline CSS, no script, no external URL.

Every value is HTML-escaped (names come from the database and may hold anything).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from vaultgate.services.posture.finding import Finding, Severity, summary

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:70em;color:#1b1b1b}
h1{font-size:1.6em;margin-bottom:.2em}
.meta{color:#555}
table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{margin:0;white-space:pre-wrap;word-break:break-all}
.sev{font-weight:bold;text-transform:uppercase}
.high{color:#b00020}.medium{color:#b35c00}.low{color:#5b6b00}.info{color:#3a5a8c}
.none{color:#2e7d32;font-weight:bold}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _finding_row(f: Finding) -> str:
    evidence = json.dumps(f.evidence, indent=1, sort_keys=True, default=str, ensure_ascii=False)
    return (
        f'<tr class="finding" data-id="{_e(f.id)}" data-severity="{_e(f.severity.value)}">'
        f'<td class="sev {_e(f.severity.value)}">{_e(f.severity.value)}</td>'
        f"<td><code>{_e(f.id)}</code></td>"
        f"<td>{_e(f.subject)}</td>"
        f"<td>{_e(f.title)}</td>"
        f"<td><pre>{_e(evidence)}</pre></td>"
        f"<td><code>{_e(f.fix)}</code></td>"
        "</tr>"
    )


def render(findings: Iterable[Finding], facts: dict[str, Any], generated_at: datetime) -> str:
    """The whole report as one HTML document."""
    items = list(findings)
    counts = summary(items)
    tally = ", ".join(f'<span class="{s.value}">{counts[s.value]} {s.value}</span>' for s in Severity)
    fact_rows = "".join(
        f"<tr><th>{_e(name)}</th><td><code>{_e(json.dumps(value, default=str, ensure_ascii=False))}</code></td></tr>"
        for name, value in sorted(facts.items())
    )
    if items:
        body = (
            "<table><thead><tr><th>severity</th><th>check</th><th>subject</th><th>finding</th>"
            "<th>evidence</th><th>fix</th></tr></thead><tbody>"
            + "".join(_finding_row(f) for f in items)
            + "</tbody></table>"
        )
    else:
        body = '<p class="none">No findings.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        "<title>vaultgate posture report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>vaultgate posture report</h1>"
        f'<p class="meta">Generated {_e(generated_at.isoformat())} by <code>vaultgate doctor</code>: {tally}.</p>'
        f"{body}"
        f"<h2>Installation</h2><table><tbody>{fact_rows}</tbody></table>"
        "</body></html>\n"
    )
