"""``vaultgate scan``: find leaked secrets in files, stdin, git history, the index, or a member's home.

Exit codes: 0 no findings, 1 findings remain (after allow comments and the baseline),
2 usage error or a scan that could not be carried out (one line on stderr).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from vaultgate.detect.secrets import default_detector
from vaultgate.scanner import baseline as baselines
from vaultgate.scanner import git, home, remote, runner
from vaultgate.scanner.errors import ScanError
from vaultgate.scanner.home_report import home_extra, render_home_text
from vaultgate.scanner.model import ScanResult
from vaultgate.scanner.report import render_json, render_text, summary_line
from vaultgate.scanner.sarif import render_sarif


class OutputFormat(StrEnum):
    """Report formats."""

    text = "text"
    json = "json"
    sarif = "sarif"


class _Bar:
    """A rich progress bar on stderr (only used when stderr is a terminal)."""

    def __init__(self) -> None:
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("scanning", total=None)

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start()

    def advance(self, done: int) -> None:
        self._progress.advance(self._task, done)

    def stop(self) -> None:
        self._progress.stop()


def _fail(message: str) -> typer.Exit:
    print(f"vaultgate: error: {message}", file=sys.stderr)
    return typer.Exit(2)


def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files and directories ('-' for stdin; with --git, the repository)"),
    ] = None,
    use_git: Annotated[bool, typer.Option("--git", help="Scan the history of every ref of the repository")] = False,
    since: Annotated[str | None, typer.Option("--since", metavar="REV", help="With --git: commits after REV")] = None,
    staged: Annotated[bool, typer.Option("--staged", help="Scan the changes staged for commit (pre-commit)")] = False,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format")] = (OutputFormat.text),
    baseline: Annotated[str | None, typer.Option("--baseline", metavar="FILE", help="Ignore findings in FILE")] = None,
    baseline_write: Annotated[
        str | None,
        typer.Option("--baseline-write", metavar="FILE", help="Accept all findings into FILE"),
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", metavar="GLOB", help="Skip matching paths")] = None,
    no_gitignore: Annotated[
        bool, typer.Option("--no-gitignore", help="Also scan files that .gitignore ignores")
    ] = False,
    show_placeholders: Annotated[
        bool, typer.Option("--show-placeholders", help="Also report obviously fake values")
    ] = False,
    max_file_size: Annotated[
        int, typer.Option("--max-file-size", metavar="BYTES", help="Skip larger files")
    ] = runner.DEFAULT_MAX_FILE_SIZE,
    revoke: Annotated[bool, typer.Option("--revoke", help="Revoke found vaultgate keys via the admin API")] = False,
    admin_url: Annotated[
        str, typer.Option("--admin-url", envvar="VAULTGATE_ADMIN_URL", help="Admin API URL")
    ] = remote.DEFAULT_ADMIN_URL,
    verify: Annotated[bool, typer.Option("--verify", help="Ask the OpenAI API whether found keys are live")] = False,
    verify_base_url: Annotated[
        str, typer.Option("--verify-base-url", help="Base URL for --verify")
    ] = remote.DEFAULT_OPENAI_BASE_URL,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar")] = False,
    in_home: Annotated[
        bool,
        typer.Option("--home", help="Report vaultgate and OpenAI keys in histories, .env files and notebooks"),
    ] = False,
    home_dir: Annotated[
        str | None, typer.Option("--home-dir", metavar="DIR", help="With --home: this home directory")
    ] = None,
) -> None:
    """Find leaked secrets (OpenAI, Azure, vaultgate and other keys); exit 1 if any remain."""
    if in_home or home_dir is not None:
        refused = {
            "PATH": bool(paths),
            "--git": use_git,
            "--since": since is not None,
            "--staged": staged,
            "--revoke": revoke,
            "--verify": verify,
            "--baseline": baseline is not None,
            "--baseline-write": baseline_write is not None,
        }
        _scan_home(
            in_home,
            home_dir,
            [name for name, given in refused.items() if given],
            output,
            exclude or [],
            max_file_size,
            not show_placeholders,
        )
        return
    targets = paths or ["."]
    if use_git and staged:
        raise _fail("--git and --staged cannot be combined")
    if since is not None and not use_git:
        raise _fail("--since needs --git")
    if (use_git or staged) and len(targets) > 1:
        raise _fail("--git and --staged take at most one repository")
    if "-" in targets and (len(targets) > 1 or use_git or staged):
        raise _fail("'-' (stdin) cannot be combined with other paths, --git or --staged")
    admin_token = os.environ.get("VAULTGATE_ADMIN_TOKEN", "")
    try:
        if revoke:
            remote.check_url(admin_url, "admin URL")
            if not admin_token:
                raise _fail("--revoke needs the admin token in VAULTGATE_ADMIN_TOKEN")
        if verify:
            remote.check_url(verify_base_url, "verify base URL")
        options = runner.ScanOptions(
            use_gitignore=not no_gitignore,
            excludes=tuple(exclude or ()),
            max_file_size=max_file_size,
            allow_placeholders=not show_placeholders,
            baseline=baselines.load_baseline(baseline) if baseline else frozenset(),
            keep_plaintext=frozenset({runner.OPENAI_RULE}) if verify else frozenset(),
        )
        result = _run(targets, use_git, since, staged, options, not no_progress)
        if verify:
            result = runner.verify(result, verify_base_url)
        extra: dict[str, object] = {}
        if revoke:
            outcome = runner.revoke(result, admin_url, admin_token)
            extra["revoke"] = {
                "revoked": [{"id": k.id, "display": k.display} for k in outcome.revoked],
                "unknown": outcome.unknown,
            }
            for key in outcome.revoked:
                print(f"vaultgate: revoked {key.display} ({key.id})", file=sys.stderr)
            if outcome.unknown:
                print(
                    f"vaultgate: {outcome.unknown} leaked token(s) unknown to the admin API",
                    file=sys.stderr,
                )
        if baseline_write:
            baselines.write_baseline(baseline_write, result.findings)
            print(
                f"vaultgate: wrote {len(result.findings)} finding(s) to {baseline_write}",
                file=sys.stderr,
            )
    except ScanError as exc:
        raise _fail(str(exc)) from exc
    _emit(result, output, extra)
    if result.findings and not baseline_write:
        raise typer.Exit(1)


def _scan_home(
    in_home: bool,
    home_dir: str | None,
    refused: list[str],
    output: OutputFormat,
    exclude: list[str],
    max_file_size: int,
    allow_placeholders: bool,
) -> None:
    """``--home``: read-only and report-only, so nothing that revokes, verifies or writes combines with it."""
    if not in_home:
        raise _fail("--home-dir needs --home")
    if refused:
        raise _fail(f"--home only reports and takes no {', '.join(refused)}")
    options = home.HomeOptions(
        max_file_size=max_file_size, excludes=tuple(exclude), allow_placeholders=allow_placeholders
    )
    try:
        scan = home.scan_home(home_dir if home_dir is not None else str(Path.home()), options)
    except ScanError as exc:
        raise _fail(str(exc)) from exc
    if output is OutputFormat.json:
        sys.stdout.write(render_json(scan.result, home_extra(scan)) + "\n")
    elif output is OutputFormat.sarif:
        sys.stdout.write(render_sarif(scan.result, home.home_detector().rules) + "\n")
        print(summary_line(scan.result), file=sys.stderr)
    else:
        sys.stdout.write(render_home_text(scan))
    sys.stdout.flush()
    if scan.result.findings:
        raise typer.Exit(1)


def _run(
    targets: list[str],
    use_git: bool,
    since: str | None,
    staged: bool,
    options: runner.ScanOptions,
    progress_wanted: bool,
) -> ScanResult:
    if targets == ["-"]:
        return runner.scan_bytes(sys.stdin.buffer.read(), "<stdin>", options)
    if staged:
        return runner.scan_staged(git.repo_root(targets[0]), options)
    bar = _Bar() if progress_wanted and sys.stderr.isatty() else None
    try:
        if use_git:
            return runner.scan_history(targets[0], since, options, progress=bar)
        return runner.scan_paths(targets, options, progress=bar)
    finally:
        if bar is not None:
            bar.stop()


def _emit(result: ScanResult, output: OutputFormat, extra: dict[str, object]) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(render_json(result, extra) + "\n")
    elif output is OutputFormat.sarif:
        sys.stdout.write(render_sarif(result, default_detector().rules) + "\n")
        print(summary_line(result), file=sys.stderr)
    else:
        sys.stdout.write(render_text(result))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to the root application."""
    app.command("scan")(scan)
