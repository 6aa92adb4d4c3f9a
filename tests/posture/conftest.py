"""An initialised installation to seed bad practices into, the posture report of it, and ``doctor`` run in-process."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.conftest import make_settings
from tests.support import cli as commands

from vaultgate.config import Settings
from vaultgate.services import bootstrap
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.posture.finding import Finding
from vaultgate.services.posture.runner import PostureReport, inspect
from vaultgate.store.models import UsageEvent


@dataclass
class Installation:
    """vaultgate after ``init`` (the owner ``admin`` and its admin token), with helpers to seed rows."""

    settings: Settings
    cp: ControlPlane

    def report(self, **settings: Any) -> PostureReport:
        """The posture report, with ``settings`` changed."""
        return inspect(self.settings.evolve(**settings) if settings else self.settings, self.cp, LOCAL_OPERATOR)

    def set(self, model: Any, row_id: Any, **values: Any) -> None:
        """Change a row directly in the database, as an older version or a careless operator may have left it."""
        with self.cp.store.session() as session:
            session.execute(
                update(model).where(model.__table__.primary_key.columns.values()[0] == row_id).values(**values)
            )

    def usage(self, key_id: str, member_id: str, at: datetime, client: str | None, agent: str | None) -> None:
        """One usage event as the gateway records it (only the keyed pseudonyms of network and agent)."""
        with self.cp.store.session() as session:
            session.add(
                UsageEvent(
                    at=at,
                    request_id="req_" + secrets.token_hex(8),
                    member_id=member_id,
                    key_id=key_id,
                    endpoint="chat.completions",
                    model="gpt-4o-mini",
                    status=200,
                    latency_ms=12.0,
                    client_hash=client,
                    agent_hash=agent,
                )
            )


def of(report: PostureReport, check_id: str) -> list[Finding]:
    """The findings of one check."""
    return [f for f in report.findings if f.id == check_id]


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@pytest.fixture
def installation(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    yield Installation(settings, cp)
    cp.store.dispose()


@pytest.fixture
def sqlite_installation(tmp_path: Path) -> Iterator[Installation]:
    """For checks that read no table: the database makes no difference to them."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}")
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    yield Installation(settings, cp)
    cp.store.dispose()


@pytest.fixture
def doctor() -> Callable[..., tuple[int, str, str]]:
    """``vaultgate doctor ARGS`` run in this process as its entry point runs it: (exit code, stdout, stderr)."""

    def run(settings: Settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        result = commands.run_for(settings, "doctor", *args, env=env)
        return result.returncode, result.stdout, result.stderr

    return run
