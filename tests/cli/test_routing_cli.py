"""``vaultgate route ...``, ``provider update/remove/set-default``, ``--residency`` and ``doctor``'s residency
check, as a user runs them: a real subprocess, exit codes, one JSON document with ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import vg


def ok(data: Path, *args: str) -> str:
    result = vg(data, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_routes_providers_and_residency_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "init")
    for name in ("main", "b"):
        ok(data, "provider", "add", name, "--kind", "echo")
    ok(data, "provider", "add", "glob", "--kind", "echo", "--geography", "eu", "--deployment-type", "global")
    ok(data, "provider", "add", "eu", "--kind", "echo", "--geography", "EU", "--deployment-type", "datazone")

    added = json.loads(
        ok(
            data,
            "route",
            "add",
            "fast",
            "--target",
            "b=gpt-4o-mini,weight=3",
            "--target",
            "main",
            "--strategy",
            "weighted",
            "--json",
        )
    )
    assert added["targets"][0] == {"provider": "b", "model": "gpt-4o-mini", "weight": 3, "deployment_type": None}
    ok(data, "route", "add", "gpt-4o", "--target", "glob")
    ok(data, "route", "add", "gpt-4.1", "--target", "glob", "--target", "eu")
    assert [r["name"] for r in json.loads(ok(data, "route", "list", "--json"))] == ["fast", "gpt-4.1", "gpt-4o"]

    refused = vg(data, "route", "add", "x", "--target", "nope")
    assert refused.returncode == 2 and "no provider named 'nope'" in refused.stderr
    bad = vg(data, "route", "add", "x", "--target", "b,weight=0")
    assert bad.returncode == 2 and "weight must be between 1 and 1000" in bad.stderr
    in_use = vg(data, "provider", "remove", "b")
    assert in_use.returncode == 1 and "fast" in in_use.stderr

    updated = json.loads(ok(data, "provider", "update", "b", "--region", "westeurope", "--geography", "eu", "--json"))
    assert (updated["region"], updated["geography"]) == ("westeurope", "eu")
    ok(data, "provider", "set-default", "b")
    assert [p["name"] for p in json.loads(ok(data, "provider", "list", "--json")) if p["is_default"]] == ["b"]

    # Residency on a team, the organisation and a key: the same option everywhere.
    ok(data, "team", "create", "research")
    ok(data, "team", "policy", "research", "--residency", "eu")
    ok(data, "org", "policy", "--residency", "eu,us")
    assert json.loads(ok(data, "org", "policy", "--show", "--json"))["policy"]["residency"] == ["eu", "us"]
    ok(data, "member", "add", "erika", "--team", "research")
    key = json.loads(ok(data, "key", "create", "--member", "erika", "--residency", "eu", "--json"))
    assert key["policy"]["residency"] == ["eu"]
    wider = json.loads(ok(data, "key", "create", "--member", "erika", "--residency", "us", "--json"))
    assert wider["narrowed"] == ["residency"] and wider["effective_policy"]["residency"] == []  # nowhere

    # doctor: gpt-4o has only a global target (error: exit 1), gpt-4.1 one outside (warning), fast one outside.
    doctor = vg(data, "doctor", "--json")
    assert doctor.returncode == 1, doctor.stderr
    found = {(f["level"], f["team"], f["route"]) for f in json.loads(doctor.stdout)["residency_findings"]}
    assert ("error", "research", "gpt-4o") in found
    assert ("warning", "research", "gpt-4.1") in found
    assert ("warning", "research", "fast") in found  # b is in the eu now, main has no geography
    assert ("error", "(organisation)", "gpt-4o") in found

    ok(data, "route", "remove", "gpt-4o")
    ok(data, "route", "remove", "fast")
    ok(data, "provider", "remove", "main")
    forced = vg(data, "provider", "remove", "b")
    assert forced.returncode == 1 and "default" in forced.stderr
    assert vg(data, "doctor").returncode == 0  # warnings only now
