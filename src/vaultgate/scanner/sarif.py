"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, ...)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from vaultgate import __version__
from vaultgate.detect.interface import SecretRule, Severity
from vaultgate.scanner.model import ScanResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
}
# GitHub reads "security-severity" (0.0-10.0) to rank security alerts.
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}


def render_sarif(result: ScanResult, rules: tuple[SecretRule, ...]) -> str:
    """The scan as one SARIF 2.1.0 log with a single run."""
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for f in result.findings:
        entry: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": index.get(f.rule_id, -1),
            "level": _LEVEL[f.severity],
            "message": {"text": f"{f.description}: {f.masked}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": quote(f.path.replace("\\", "/"))},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
            "partialFingerprints": {"vaultgateFinding/v1": f.fingerprint},
        }
        properties: dict[str, Any] = {}
        if f.commit is not None:
            properties |= {"commit": f.commit, "authorDate": f.author_date}
        if f.place is not None:
            properties["place"] = f.place
        if f.section is not None:  # the region's lines count within this part of the file
            properties["section"] = f.section
        if properties:
            entry["properties"] = properties
        results.append(entry)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "vaultgate",
                        "version": __version__,
                        "rules": [_rule(rule) for rule in rules],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def _rule(rule: SecretRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.description},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", "secret"],
            "security-severity": _SCORE[rule.severity],
        },
    }
