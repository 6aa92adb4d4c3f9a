"""The usage report through ``GET /admin/usage`` (a real server, each role's admin token) and through
``vaultgate usage report`` in process: JSON, CSV (read back with csv.DictReader), table, refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from tests.conftest import Stack
from tests.support import cli as commands
from tests.usage import test_report
from tests.usage.test_report import IN_RANGE, ROLES, SEES, World, expected, seed

from vaultgate.services import admin_tokens, usage
from vaultgate.services.context import LOCAL_OPERATOR

PERIOD = {"since": "2026-03-01", "until": "2026-03-03"}
EVERY = ("member", "team", "key", "model", "day")
world = test_report.world  # the seeded installation (a fixture)


def as_csv_strings(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {k: "" if v is None else usage.usd_text(v) if k == "cost_usd" else str(v) for k, v in line.items()}
        for line in lines
    ]


def test_costs_in_csv_are_plain_decimals() -> None:
    assert [usage.usd_text(v) for v in (1.35e-06, 0.0, 12.5, 3e-09, None)] == [
        "0.00000135",
        "0",
        "12.5",
        "0.000000003",
        None,
    ]


def test_the_admin_api_scopes_each_role(stack: Stack) -> None:
    seeded = seed(stack.cp)
    for name in SEES:
        _, token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, name)
        response = httpx.get(
            stack.gateway.url + "/admin/usage",
            params={**PERIOD, "by": ",".join(EVERY)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == expected(seeded, SEES[name], EVERY), name
    assert set(ROLES) == set(SEES)


def test_the_admin_api_answers_csv_and_refuses_a_reversed_period(stack: Stack) -> None:
    seeded = seed(stack.cp)
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    url = stack.gateway.url + "/admin/usage"
    response = httpx.get(url, params={**PERIOD, "by": "team,key", "format": "csv"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith(
        "team,key,key_id,requests,errors,prompt_tokens,completion_tokens,cost_usd,unpriced\r\n"
    )
    assert list(csv.DictReader(io.StringIO(response.text))) == as_csv_strings(
        expected(seeded, IN_RANGE, ("team", "key"))
    )

    default = httpx.get(url, headers=headers).json()
    assert {tuple(line) for line in default} == {
        ("member", "model", "requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced")
    }

    reversed_ = httpx.get(url, params={"since": "2026-03-03", "until": "2026-03-01"}, headers=headers)
    assert reversed_.status_code == 400
    error = reversed_.json()["error"]
    assert error["code"] == "invalid_input" and error["type"] == "invalid_request_error"
    assert "'2026-03-03'" in error["message"] and "'2026-03-01'" in error["message"]

    for bad in ({"by": "member,price"}, {"format": "xml"}, {"since": "last week"}):
        refused = httpx.get(url, params=bad, headers=headers)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"]["code"] == "invalid_input"


@pytest.fixture
def vg() -> Callable[..., tuple[int, str, str]]:
    """``vaultgate`` in this process against a world's data dir and database: (exit code, stdout, stderr)."""

    def run(world: World, *args: str) -> tuple[int, str, str]:
        assert world.settings is not None
        result = commands.run_for(world.settings, *args)
        return result.returncode, result.stdout, result.stderr

    return run


def test_the_cli_prints_csv_json_and_a_table(world: World, vg: Callable[..., tuple[int, str, str]]) -> None:
    period = ["--since", PERIOD["since"], "--until", PERIOD["until"]]
    code, out, _ = vg(world, "usage", "report", *period, "--by", "day,member", "--format", "csv")
    assert code == 0
    assert list(csv.DictReader(io.StringIO(out))) == as_csv_strings(expected(world, IN_RANGE, ("day", "member")))

    for flags in (["--json"], ["--format", "json"]):
        code, out, _ = vg(world, "usage", "report", *period, "--by", ",".join(EVERY), *flags)
        assert code == 0 and orjson.loads(out) == expected(world, IN_RANGE, EVERY)

    code, out, _ = vg(world, "usage", "report", *period, "--by", "team")
    assert code == 0
    rows = [[cell for cell in line.split() if cell != "│"] for line in out.splitlines()]
    assert ["total", "9", "2", "140", "91", "1.9375", "2"] in rows
    assert ["blue", "4", "1", "21", "31", "1.125", "1"] in rows


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "2026-03-03", "--until", "2026-03-01"], "'2026-03-03'"),
        (["--since", "soon"], "'soon'"),
        (["--by", "member,colour"], "'colour'"),
        (["--json", "--format", "csv"], "two formats"),
    ],
)
def test_the_cli_refuses_bad_input_in_one_line(
    world: World, vg: Callable[..., tuple[int, str, str]], args: list[str], needle: str
) -> None:
    code, out, err = vg(world, "usage", "report", *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err, err
