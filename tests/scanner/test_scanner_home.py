"""`vaultgate scan --home`: histories, IPython's database, notebooks, dotenv files and configs in a fake home.

Read-only and report-only: nothing under the home directory changes (bytes, mode, mtime, ctime,
and the access time of everything but IPython's database), symlinks out of the home are not
followed, unreadable files are skipped, and no secret is ever printed whole.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from home_fixture import EM_DASH, FakeHome, age_access_times, build_home, metafy_zsh, snapshot
from tests.support.small_fs import small_filesystem
from typer.testing import CliRunner

from conftest import openai_key, write
from vaultgate.keys.tokens import TokenKind, mint
from vaultgate.scanner.home import HomeOptions, scan_home
from vaultgate.scanner.home_formats import decode_libedit, unmetafy_zsh

IPYTHON_DB = ".ipython/profile_default/history.sqlite"


@pytest.fixture
def home(tmp_path: Path, make: random.Random) -> FakeHome:
    return build_home(tmp_path, make)


def _scan(runner: CliRunner, cli: typer.Typer, *args: str) -> Result:
    return runner.invoke(cli, ["scan", *args])


def _found(home: FakeHome, document: dict[str, Any]) -> set[tuple[str, int, str, str, str | None]]:
    prefix = f"{home.root}/"
    found = set()
    for f in document["findings"]:
        assert f["path"].startswith(prefix), f["path"]
        found.add((f["path"].removeprefix(prefix), f["line"], f["rule"], f["place"], f.get("section")))
    return found


def _assert_no_secret(home: FakeHome, *outputs: str) -> None:
    for secret in home.secrets:
        body = secret[8:] if secret.startswith("sk-proj-") else secret[4:]
        for output in outputs:
            assert secret not in output and body[:12] not in output


def test_json_reports_each_place_with_lines_and_masks(runner: CliRunner, cli: typer.Typer, home: FakeHome) -> None:
    result = _scan(runner, cli, "--home", "--home-dir", str(home.root), "--format", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert _found(home, document) == home.expected
    assert document["home"] == str(home.root)
    for f in document["findings"]:
        prefix = "sk-proj-" if f["rule"] == "openai-api-key" else f["secret"][:4]
        assert f["secret"].startswith(prefix) and "…" in f["secret"] and len(f["secret"]) < 30
    [zsh] = [f for f in document["findings"] if f["path"].endswith(".zsh_history")]
    assert zsh["column"] == home.zsh_column  # counted in the bytes typed, not in zsh's metafied file
    skipped = {Path(s["path"]).name: s["reason"] for s in document["skipped"]}
    assert skipped == {
        ".psql_history": "symlink to outside the home directory (not followed)",
        "linked.env": "symlink to outside the home directory (not followed)",
    }
    assert document["summary"]["findings"] == len(home.expected)
    _assert_no_secret(home, result.stdout, result.stderr)


def test_nothing_under_home_or_outside_changes(runner: CliRunner, cli: typer.Typer, home: FakeHome) -> None:
    age_access_times(home.root, home.outside)
    before = snapshot(home.root, home.outside)
    for output in ("json", "text", "sarif"):
        assert _scan(runner, cli, "--home", "--home-dir", str(home.root), "-f", output).exit_code == 1
    after = snapshot(home.root, home.outside)
    assert after.keys() == before.keys()  # no journal, lock or cache file appeared
    database = str(home.root / IPYTHON_DB)
    for path, (content, mode, mtime, ctime, atime) in before.items():
        assert after[path][:4] == (content, mode, mtime, ctime), path
        if path != database:  # SQLite's own open() updates the access time; everything else is read with O_NOATIME
            assert after[path][4] == atime, path


def test_text_report_groups_places_and_gives_advice(runner: CliRunner, cli: typer.Typer, home: FakeHome) -> None:
    result = _scan(runner, cli, "--home", "--home-dir", str(home.root))
    assert result.exit_code == 1
    text = result.stdout
    for title in (
        "Shell history (shell-history)",
        "REPL history (repl-history)",
        "Shell start-up files (shell-startup)",
        "Tool configuration (tool-config)",
        "Dotenv files (dotenv)",
        "Jupyter notebooks (notebook)",
        "Skipped (2, not read)",
    ):
        assert title in text
    assert f"{home.root}/work/analysis/explore.ipynb [cell 3 output]:2:5: openai-api-key (critical) sk-proj-" in text
    assert f"{home.root}/{IPYTHON_DB} [session 2 input 2]:2:14: openai-api-key" in text
    assert "vaultgate exec -- COMMAND" in text and "docs/CLIENT.md" in text and "vaultgate key rotate KEY_ID" in text
    count = len(home.expected)
    assert text.splitlines()[-1].startswith(f"{count} findings ({count} critical) in 13 files (")
    assert text.splitlines()[-1].endswith(f" under {home.root}")
    _assert_no_secret(home, result.stdout, result.stderr)


def test_sarif_has_the_two_rules_and_the_place(runner: CliRunner, cli: typer.Typer, home: FakeHome) -> None:
    result = _scan(runner, cli, "--home", "--home-dir", str(home.root), "-f", "sarif")
    assert result.exit_code == 1
    run = json.loads(result.stdout)["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["vaultgate-token", "openai-api-key"]
    properties = [entry.get("properties") for entry in run["results"]]
    assert {"place": "notebook", "section": "cell 3 output"} in properties
    assert {"place": "dotenv"} in properties
    _assert_no_secret(home, result.stdout, result.stderr)


def test_other_rules_are_left_to_a_path_scan(runner: CliRunner, cli: typer.Typer, home: FakeHome) -> None:
    """--home reports only vaultgate and OpenAI keys; the same .env scanned by path shows the others too."""
    dotenv = str(home.root / "src" / "acme" / "api" / ".env")
    by_path = json.loads(_scan(runner, cli, dotenv, "-f", "json").stdout)
    assert {f["rule"] for f in by_path["findings"]} == {
        "openai-api-key",
        "anthropic-api-key",
        "aws-access-key-id",
        "github-token",
    }


def test_clean_home_exits_0(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    write(tmp_path / ".bash_history", "ls\nexport OPENAI_API_KEY=sk-your-api-key-here\n")
    write(tmp_path / "p" / ".env", f"OPENAI_API_KEY={openai_key(random.Random(1))}  # vaultgate:allow\n")
    result = _scan(runner, cli, "--home", "--home-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"0 findings in 2 files (0.0 MB); 1 allowed inline under {tmp_path}"


def test_home_dir_defaults_to_the_users_home(
    runner: CliRunner, cli: typer.Typer, home: FakeHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home.root))
    result = _scan(runner, cli, "--home", "-f", "json")
    assert result.exit_code == 1
    assert _found(home, json.loads(result.stdout)) == home.expected


def test_usage_errors_exit_2_with_one_line(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    for args, reason in (
        (["--home", "--revoke"], "--home only reports and takes no --revoke"),
        (["--home", "--verify"], "--home only reports and takes no --verify"),
        (["--home", str(tmp_path)], "--home only reports and takes no PATH"),
        (["--home", "--git", "--since", "HEAD"], "--home only reports and takes no --git, --since"),
        (["--home", "--baseline-write", str(tmp_path / "b.json")], "--home only reports and takes no --baseline-write"),
        (["--home-dir", str(tmp_path)], "--home-dir needs --home"),
        (["--home", "--home-dir", str(tmp_path / "missing")], f"not a directory: {tmp_path / 'missing'}"),
    ):
        result = _scan(runner, cli, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == f"vaultgate: error: {reason}\n"
        assert result.stdout == ""


def test_limits_skips_and_odd_files(runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random) -> None:
    """A FIFO does not block, a corrupt database and a binary file are skipped, size and excludes hold."""
    os.mkfifo(tmp_path / ".bash_history")
    write(tmp_path / ".ipython" / "profile_work" / "history.sqlite", "not a database at all " * 200)
    (tmp_path / "bin.env").write_bytes(b"\0\1" + openai_key(make).encode())
    write(tmp_path / "big" / ".env", "X=1\n" * 100 + f"K={openai_key(make)}\n")
    write(tmp_path / "excluded" / "p" / ".env", f"K={openai_key(make)}\n")
    write(tmp_path / "a" / "b" / ".env", f"K={mint(TokenKind.ADMIN_TOKEN)}\n")
    args = ["--home", "--home-dir", str(tmp_path), "-f", "json", "--max-file-size", "300", "--exclude", "excluded/"]
    result = _scan(runner, cli, *args)
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert [(Path(f["path"]).relative_to(tmp_path).as_posix(), f["line"]) for f in document["findings"]] == [
        ("a/b/.env", 1)
    ]
    reasons = {Path(s["path"]).relative_to(tmp_path).as_posix(): s["reason"] for s in document["skipped"]}
    assert reasons.pop(".ipython/profile_work/history.sqlite").startswith("not an IPython history database")
    assert reasons == {
        ".bash_history": "not a regular file",
        "big/.env": "larger than 300 bytes",
        "bin.env": "binary content",
    }
    assert document["summary"]["skipped_large"] == 1 and document["summary"]["skipped_binary"] == 1
    shallow = scan_home(str(tmp_path), HomeOptions(max_depth=1))  # a/b is two levels down
    assert [Path(f.path).relative_to(tmp_path).as_posix() for f in shallow.result.findings] == ["big/.env"]


def test_unreadable_files_are_skipped_not_fatal(home: FakeHome) -> None:
    """A real ``vaultgate`` process; as root, without root's override of file permissions (setpriv)."""
    drop = "-dac_override,-dac_read_search"
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to run the scan as root without CAP_DAC_OVERRIDE")
    as_member = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", "--"] if os.geteuid() == 0 else []
    database = home.root / IPYTHON_DB
    for path in (home.root / ".bash_history", database):
        path.chmod(0)
    locked = home.root / "src" / "acme" / "deploy"
    locked.chmod(0)
    try:
        completed = subprocess.run(
            [
                *as_member,
                sys.executable,
                "-m",
                "vaultgate",
                "scan",
                "--home",
                "--home-dir",
                str(home.root),
                "-f",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        locked.chmod(0o755)
        for path in (home.root / ".bash_history", database):
            path.chmod(0o644)
    assert completed.returncode == 1, completed.stderr
    document = json.loads(completed.stdout)
    expected = {e for e in home.expected if e[0] not in (".bash_history", IPYTHON_DB, "src/acme/deploy/prod.env")}
    assert _found(home, document) == expected
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert skipped[str(home.root / ".bash_history")] == "unreadable (Permission denied)"
    assert skipped[str(database)] == "unreadable (Permission denied)"
    assert skipped[str(locked)] == "unreadable directory (Permission denied)"
    _assert_no_secret(home, completed.stdout, completed.stderr)


def test_zsh_unmetafy_undoes_metafy_for_every_byte() -> None:
    every = bytes(range(256)) + EM_DASH + b"\n"
    assert metafy_zsh(every) != every
    assert unmetafy_zsh(metafy_zsh(every)) == every
    assert unmetafy_zsh(b"plain\n") == b"plain\n"


def test_libedit_history_is_decoded_keeping_lines() -> None:
    encoded = b"_HiStOrY_V2_\nx\\040=\\0401\\012y\nback\\\\slash\n"
    assert decode_libedit(encoded) == b"_HiStOrY_V2_\nx = 1 y\nback\\slash\n"
    assert decode_libedit(b"x\\040y\n") == b"x\\040y\n"  # no header: not libedit's file


def test_walk_stays_on_the_home_file_system(tmp_path: Path, make: random.Random) -> None:
    """A mount under home (a network share, a USB disk) is not walked, like ``find -xdev``."""
    write(tmp_path / "p" / ".env", f"K={openai_key(make)}\n")
    with small_filesystem(tmp_path / "mnt", "1m") as mounted:
        write(mounted / "share" / ".env", f"K={openai_key(make)}\n")
        found = [Path(f.path).relative_to(tmp_path).as_posix() for f in scan_home(str(tmp_path)).result.findings]
    assert found == ["p/.env"]
