"""schemathesis against the admin API, in-process: generated requests on every route, with a token of each
role and with none. No answer may be a 5xx, and every answer (status, content type, body) must be one the
OpenAPI document declares — so the error responses are declared on every route, in the one error shape.

The budget is bounded and the generation derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from vaultgate.admin.api import build_admin_app
from vaultgate.config import Settings
from vaultgate.services import admin_tokens, bootstrap, keys, members, providers, teams
from vaultgate.services.context import LOCAL_OPERATOR

EXAMPLES = 4  # per operation, per generation mode; each example is sent with every token
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def admin_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, dict[str, str | None]]]:
    """The admin app on a fresh store (SQLite, and PostgreSQL, which is stricter about what a string may hold),
    and a token of each role (and ``None``: no token)."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'vaultgate.db'}"
    else:
        database_url = str(request.getfixturevalue("postgres_url"))
    settings_ = Settings(data_dir=tmp_path / "data", database_url=database_url)
    bootstrap.init(settings_)
    cp = bootstrap.open_control_plane(settings_)
    providers.add(cp, LOCAL_OPERATOR, "echo", kind="echo")
    teams.create(cp, LOCAL_OPERATOR, "red")
    actors = {
        "owner": "admin",
        "org_admin": members.add(cp, LOCAL_OPERATOR, "otto", role="admin").name,
        "team_admin": members.add(cp, LOCAL_OPERATOR, "rita", role="admin", team="red").name,
        "auditor": members.add(cp, LOCAL_OPERATOR, "audrey", role="auditor").name,
        "member": members.add(cp, LOCAL_OPERATOR, "alice", team="red").name,
    }
    keys.create(cp, LOCAL_OPERATOR, "alice")
    tokens: dict[str, str | None] = {
        role: admin_tokens.create(cp, LOCAL_OPERATOR, name)[1] for role, name in actors.items()
    }
    tokens["none"] = None
    yield build_admin_app(cp), tokens
    cp.store.dispose()


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def test_no_5xx_and_nothing_outside_the_schema(admin_world: tuple[Any, dict[str, str | None]]) -> None:
    app, tokens = admin_world
    schema = schemathesis.openapi.from_asgi("/admin/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        for mode in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case: Any) -> None:
                for token in tokens.values():
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures, report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
