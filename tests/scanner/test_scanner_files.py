"""`vaultgate scan PATH...` and `-`: walking, noise control, formats and exit codes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import typer
from typer.testing import CliRunner

from conftest import openai_key, write
from vaultgate.keys.tokens import TokenKind, mint
from vaultgate.scanner import ScanOptions, scan_paths
from vaultgate.scanner.runner import WHOLE_READ


def _scan(runner: CliRunner, cli: typer.Typer, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, ["scan", "--no-progress", *args], input=stdin)


def test_clean_tree_exits_0(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    write(tmp_path / "app.py", "print('hello')\n")
    result = _scan(runner, cli, str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "0 findings" in result.stdout


def test_findings_exit_1_and_text_never_shows_the_secret(
    runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random
) -> None:
    key, token = openai_key(make), mint(TokenKind.MEMBER_KEY)
    write(tmp_path / "src" / "settings.py", f'X = 1\nOPENAI_API_KEY = "{key}"\nT = "{token}"\n')
    result = _scan(runner, cli, str(tmp_path))
    assert result.exit_code == 1
    assert key not in result.output and token not in result.output
    assert "settings.py:2:19: openai-api-key" in result.stdout
    assert f"{token[:8]}…" in result.stdout


def test_json_document(runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random) -> None:
    key = openai_key(make)
    write(tmp_path / ".env", f"A=1\n\nOPENAI_API_KEY={key}\n")
    result = _scan(runner, cli, str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    [finding] = document["findings"]
    assert finding["path"].endswith(".env") and finding["line"] == 3
    assert finding["rule"] == "openai-api-key"
    assert finding["secret"].startswith("sk-proj-") and "…" in finding["secret"]
    assert key not in result.stdout


def test_sarif_log(runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random) -> None:
    write(tmp_path / "a.txt", f"key {openai_key(make)}\n")
    result = _scan(runner, cli, str(tmp_path), "-f", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    [entry] = run["results"]
    assert run["tool"]["driver"]["rules"][entry["ruleIndex"]]["id"] == entry["ruleId"]
    region = entry["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1, "startColumn": 5}


def test_stdin(runner: CliRunner, cli: typer.Typer, make: random.Random) -> None:
    result = _scan(runner, cli, "-", "-f", "json", stdin=f"hello\n{mint(TokenKind.ADMIN_TOKEN)}\n")
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["path"] == "<stdin>" and finding["line"] == 2


def test_gitignore_exclude_binary_and_allow_comment(
    runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random
) -> None:
    write(tmp_path / ".gitignore", "build/\n*.log\n")
    write(tmp_path / "build" / "out.txt", openai_key(make))
    write(tmp_path / "debug.log", openai_key(make))
    write(tmp_path / "sub" / ".gitignore", "local.env\n")
    write(tmp_path / "sub" / "local.env", openai_key(make))
    write(tmp_path / "vendor" / "lib.js", openai_key(make))
    (tmp_path / "blob.dat").write_bytes(b"\0\1\2" + openai_key(make).encode())
    write(tmp_path / "ok.py", f'k = "{openai_key(make)}"  # vaultgate:allow\n')
    write(tmp_path / "ok.js", f'const k = "{openai_key(make)}"; // vaultgate:allow\n')
    result = _scan(runner, cli, str(tmp_path), "--exclude", "vendor/", "-f", "json")
    assert result.exit_code == 0, result.stdout
    summary = json.loads(result.stdout)["summary"]
    assert summary["skipped_binary"] == 1 and summary["allowed_inline"] == 2
    everything = _scan(runner, cli, str(tmp_path), "--no-gitignore", "-f", "json")
    paths = {Path(f["path"]).name for f in json.loads(everything.stdout)["findings"]}
    assert paths == {"out.txt", "debug.log", "local.env", "lib.js"}


def test_placeholders_are_quiet_unless_asked(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    write(
        tmp_path / "README.md",
        "export OPENAI_API_KEY=your-api-key-here\nkey: sk-proj-xxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxx\n",
    )
    assert _scan(runner, cli, str(tmp_path)).exit_code == 0
    shown = _scan(runner, cli, str(tmp_path), "--show-placeholders")
    assert shown.exit_code == 1


def test_baseline_accepts_known_findings_only(
    runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random
) -> None:
    tree, baseline = tmp_path / "tree", tmp_path / "baseline.json"
    old_key = openai_key(make)
    write(tree / "a.py", f'K = "{old_key}"\n')
    written = _scan(runner, cli, str(tree), "--baseline-write", str(baseline))
    assert written.exit_code == 0
    assert old_key not in baseline.read_text()
    write(tree / "a.py", f'# moved down\n\nK = "{old_key}"\n')
    assert _scan(runner, cli, str(tree), "--baseline", str(baseline)).exit_code == 0
    write(tree / "b.py", f'K = "{openai_key(make)}"\n')
    again = _scan(runner, cli, str(tree), "--baseline", str(baseline), "-f", "json")
    assert again.exit_code == 1
    [finding] = json.loads(again.stdout)["findings"]
    assert finding["path"].endswith("b.py")


def test_usage_errors_exit_2_with_one_line(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    bad_baseline = write(tmp_path / "bad.json", "{not json")
    for args in (
        [str(tmp_path / "missing")],
        ["--since", "HEAD"],
        ["--git", "--staged"],
        ["-", str(tmp_path)],
        ["--baseline", str(bad_baseline), str(tmp_path)],
        ["--revoke", "--admin-url", "http://10.1.2.3:8080", str(tmp_path)],
    ):
        result = _scan(runner, cli, *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("vaultgate: error:")


def test_large_files_are_read_whole_and_sniffed_for_binary(tmp_path: Path, make: random.Random) -> None:
    """Files past the one-read size: text is scanned to its end, binary is skipped unread."""
    key = openai_key(make)
    filler = b"x = 1\n" * (WHOLE_READ // 6 + 100)
    (tmp_path / "big.py").write_bytes(filler + f'OPENAI_API_KEY = "{key}"\n'.encode())
    (tmp_path / "big.dat").write_bytes(b"\0" + filler + key.encode())
    (tmp_path / "small.txt").write_bytes(b"a\0b " + key.encode())
    result = scan_paths([str(tmp_path)], ScanOptions(use_gitignore=False))
    assert [(Path(f.path).name, f.line) for f in result.findings] == [("big.py", filler.count(b"\n") + 1)]
    assert result.stats.skipped_binary == 2 and result.stats.files == 1
