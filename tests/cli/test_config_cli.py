"""Bad configuration through the real ``vaultgate`` command: exit 1, one line naming the source, no traceback.

The exhaustive cases go through ``config.load`` (tests/test_config.py); these few check that the
CLI, ``serve`` included, shows them as one line, and what ``config check`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def vaultgate(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m vaultgate ARGS`` in ``cwd`` with no VAULTGATE_* setting but those in ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "toml", "env", "expected"),
    [
        (["serve"], 'host = "caf\xe9"\n'.encode("latin-1"), {}, "{file}: not UTF-8 text (byte 0xe9 at offset 11)"),
        (["serve"], b'log_level = "loud"\n', {}, "{file}: log_level: use one of debug, info, warning, error"),
        (["serve", "--port", "70000"], None, {}, "--port: must be at most 65535, not 70000"),
        (["config", "check"], None, {"VAULTGATE_REFRESH_INTERVAL": "0"}, "VAULTGATE_REFRESH_INTERVAL: must be greater"),
        # An unknown key that is also the name of a CLI field ('models') stays the key, not a flag.
        (["config", "check"], b"models = 1\n", {}, "{file}: models: unknown setting"),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_1(
    tmp_path: Path, args: list[str], toml: bytes | None, env: dict[str, str], expected: str
) -> None:
    file = tmp_path / "vaultgate.toml"
    if toml is not None:
        file.write_bytes(toml)
    result = vaultgate(tmp_path, "--data-dir", str(tmp_path / "data"), *args, env=env)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("vaultgate: error: " + expected.format(file=f"vaultgate.toml ({file})"))
    assert result.stdout == ""


def test_config_check_says_where_each_value_came_from(tmp_path: Path) -> None:
    file = tmp_path / "vaultgate.toml"
    file.write_text('log_level = "debug"\nport = 9000\nwebhook_url = "https://hooks.example/T0/B0/secret-path"\n')
    env = {"VAULTGATE_PORT": "9100", "VAULTGATE_REDIS_URL": "redis://:redis-password@cache:6379/0"}
    text = vaultgate(tmp_path, "config", "check", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"# configuration file: {file}"
    assert any(line.split() == ["VAULTGATE_PORT", "=", "9100", "(environment)"] for line in lines)
    assert any(line.split() == ["VAULTGATE_LOG_LEVEL", "=", "debug", "(file)"] for line in lines)
    assert any(line.split() == ["VAULTGATE_HOST", "=", "127.0.0.1", "(default)"] for line in lines)
    as_json = vaultgate(tmp_path, "--data-dir", str(tmp_path / "d"), "config", "check", "--json", env=env)
    shown = json.loads(as_json.stdout)
    assert shown["port"] == 9100 and shown["data_dir"] == str(tmp_path / "d")
    assert shown["origins"]["port"] == "environment" and shown["origins"]["data_dir"] == "command line"
    assert shown["origins"]["log_level"] == "file" and shown["config_file"] == str(file)
    assert shown["redis_url"] == "redis://:***@cache:6379/0"
    assert shown["webhook_url"] == "https://hooks.example/***"
    for secret in ("redis-password", "secret-path"):
        assert secret not in text.stdout + text.stderr + as_json.stdout + as_json.stderr
