"""Shared helpers for scanner tests: a one-command app and secrets made at run time."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vaultgate.cli import scan
from vaultgate.detect.examples import expand


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def group() -> None:
        """Test root."""

    scan.register(app)
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def make() -> random.Random:
    return random.Random(66)


def openai_key(rng: random.Random) -> str:
    return expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", rng)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
