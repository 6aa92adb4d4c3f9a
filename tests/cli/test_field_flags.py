"""Service messages name fields ('api_key'); the CLI shows the flags that set them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaultgate.cli.output import with_flags
from vaultgate.config import Settings
from vaultgate.services import bootstrap, providers
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput


def test_quoted_field_names_become_flags() -> None:
    assert (
        with_flags("a openai provider needs 'api_key'")
        == "a openai provider needs --api-key-env VAR or --api-key-stdin"
    )
    assert with_flags("'base_url': plain http:// is refused; use 'allow_insecure_http'") == (
        "--base-url: plain http:// is refused; use --allow-insecure-http"
    )
    # only quoted names are fields: the word in prose and other quoted values stay as they are
    assert with_flags("no models match 'gpt-4o'") == "no models match 'gpt-4o'"


@pytest.mark.parametrize(
    ("args", "field", "flag"),
    [
        (["--kind", "azure", "--base-url", "https://x.openai.azure.com"], "'api_version'", "--api-version"),
        (
            ["--kind", "azure", "--base-url", "https://x.openai.azure.com", "--api-version", "2024-10-21"],
            "'deployments'",
            "--deployment MODEL=DEPLOYMENT",
        ),
        (["--kind", "openai"], "'api_key'", "--api-key-env VAR or --api-key-stdin"),
        (["--kind", "compatible"], "'base_url'", "--base-url"),
        (
            ["--kind", "compatible", "--base-url", "http://api.example.com/v1"],
            "'allow_insecure_http'",
            "--allow-insecure-http",
        ),
    ],
)
def test_cli_shows_flags_where_the_service_names_fields(tmp_path: Path, args: list[str], field: str, flag: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    try:  # the service (and so the admin API) names the field
        with pytest.raises(InvalidInput) as caught:
            providers.add(cp, LOCAL_OPERATOR, "p", **_as_kwargs(args))
        assert field in str(caught.value) and "--" not in str(caught.value)
    finally:
        cp.store.dispose()
    env = {k: v for k, v in os.environ.items() if k != "VAULTGATE_MASTER_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(settings.data_dir), "provider", "add", "p", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert flag in result.stderr and field not in result.stderr, result.stderr


def _as_kwargs(args: list[str]) -> dict[str, str]:
    names = {"--kind": "kind", "--base-url": "base_url", "--api-version": "api_version"}
    return {names[args[i]]: args[i + 1] for i in range(0, len(args), 2)}
