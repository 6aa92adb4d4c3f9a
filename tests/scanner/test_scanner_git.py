"""`vaultgate scan --git` (history of every ref) and `--staged` on real repositories."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import openai_key, write
from vaultgate.keys.tokens import TokenKind, mint
from vaultgate.scanner import scan_history


def git(repo: Path, *args: str, date: str = "2024-05-01T10:00:00+00:00") -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def test_history_finds_deleted_secrets_on_every_ref(
    repo: Path, runner: CliRunner, cli: typer.Typer, make: random.Random
) -> None:
    key, token = openai_key(make), mint(TokenKind.MEMBER_KEY)
    write(repo / "app.py", "import os\n")
    git(repo, "add", "."), git(repo, "commit", "-qm", "init")
    write(repo / "app.py", f'import os\n\nKEY = "{key}"\n')
    git(repo, "commit", "-qam", "oops", date="2024-05-02T11:00:00+00:00")
    leaked_in = git(repo, "rev-parse", "HEAD")
    write(repo / "app.py", 'import os\n\nKEY = os.environ["KEY"]\n')
    git(repo, "commit", "-qam", "fix")
    git(repo, "checkout", "-qb", "feature")
    write(repo / "dir with space" / "conf.env", f"A=1\nT={token}\n")
    git(repo, "add", "."), git(repo, "commit", "-qm", "feature")
    git(repo, "checkout", "-q", "main")

    assert runner.invoke(cli, ["scan", str(repo)]).exit_code == 0  # working tree is clean
    result = runner.invoke(cli, ["scan", "--git", str(repo), "-f", "json"])
    assert result.exit_code == 1
    findings = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
    assert findings["openai-api-key"]["commit"] == leaked_in
    assert findings["openai-api-key"]["author_date"] == "2024-05-02T11:00:00+00:00"
    assert findings["openai-api-key"]["path"] == "app.py"
    assert findings["openai-api-key"]["line"] == 3
    assert findings["vaultgate-token"]["path"] == "dir with space/conf.env"
    assert findings["vaultgate-token"]["line"] == 2
    assert key not in result.stdout and token not in result.stdout


def test_since_scans_only_newer_commits(repo: Path, make: random.Random) -> None:
    write(repo / "a.txt", openai_key(make) + "\n")
    git(repo, "add", "."), git(repo, "commit", "-qm", "old leak")
    base = git(repo, "rev-parse", "HEAD")
    assert len(scan_history(str(repo)).findings) == 1
    assert scan_history(str(repo), since=base).findings == ()
    write(repo / "b.txt", "x\n" + openai_key(make) + "\n")
    git(repo, "add", "."), git(repo, "commit", "-qm", "new leak")
    [finding] = scan_history(str(repo), since=base).findings
    assert (finding.path, finding.line) == ("b.txt", 2)


def test_git_errors_exit_2(tmp_path: Path, runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["scan", "--git", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("vaultgate: error:")


def test_staged_scan_for_pre_commit(repo: Path, runner: CliRunner, cli: typer.Typer, make: random.Random) -> None:
    write(repo / "README.md", "hello\n")
    git(repo, "add", "."), git(repo, "commit", "-qm", "init")
    write(repo / "unstaged.py", f'K = "{openai_key(make)}"\n')
    clean = runner.invoke(cli, ["scan", "--staged", str(repo)])
    assert clean.exit_code == 0, clean.output
    write(repo / "README.md", f"hello\nmore\n{mint(TokenKind.SHORT_LIVED)}\n")
    git(repo, "add", "README.md")
    result = runner.invoke(cli, ["scan", "--staged", str(repo), "-f", "json"])
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert (finding["path"], finding["line"], finding["rule"]) == (
        "README.md",
        3,
        "vaultgate-token",
    )


def test_pre_commit_hook_definition() -> None:
    text = (Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "id: vaultgate-scan" in text and "--staged" in text
