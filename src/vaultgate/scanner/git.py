"""Git history and staged changes as blobs of added lines, read from ``git`` patches.

History: ``git log --all -p -U0`` lists, for every commit reachable from any ref, the lines
it added; each file's added lines become one blob, so every line of every reachable blob
is scanned once, in the commit that introduced it (with its author date and its line
number in that version of the file). Merge commits add no lines of their own unless a
conflict was resolved by hand; those resolutions are not scanned.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from vaultgate.scanner.errors import GitError

_COMMIT = b"\x00\x00commit "
_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_QUOTED_ESCAPES = {b"n": b"\n", b"t": b"\t", b'"': b'"', b"\\": b"\\"}
# Plain, porcelain-independent output whatever the user's configuration says.
_GIT_CONFIG = ("-c", "core.quotepath=off", "-c", "diff.noprefix=false", "-c", "color.ui=never")
_DIFF_OPTIONS = ("-p", "-U0", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv")


@dataclass(slots=True)
class PatchFile:
    """The lines one commit (or the index) added to one file."""

    path: str
    commit: str | None
    author_date: str | None
    lines: list[bytes] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        """The added lines as one blob."""
        return b"\n".join(self.lines)


def _git() -> str:
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed or not on PATH")
    return git


def _unquote(raw: bytes) -> str:
    """A path as git printed it (C-quoted when it holds unusual characters)."""
    if raw.startswith(b'"') and raw.endswith(b'"'):
        body = raw[1:-1]
        body = re.sub(
            rb"\\([0-7]{3}|.)",
            lambda m: (
                bytes([int(m.group(1), 8)]) if len(m.group(1)) == 3 else _QUOTED_ESCAPES.get(m.group(1), m.group(1))
            ),
            body,
        )
        raw = body
    return raw.decode("utf-8", errors="replace")


def repo_root(path: str) -> str:
    """The top directory of the work tree containing ``path``."""
    return run_git(path, "rev-parse", "--show-toplevel").decode().strip()


def run_git(repo: str, *args: str) -> bytes:
    """Output of ``git -C repo args...``; a failure becomes :class:`GitError`."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed git binary, arguments are not a shell
            [_git(), "-C", repo, *_GIT_CONFIG, *args],
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(reason[0] if reason else f"git {args[0]} failed")
    return done.stdout


def parse_patch(stream: IO[bytes]) -> Iterator[PatchFile]:
    """The files and added lines in a ``git log -p -U0`` or ``git diff -U0`` stream."""
    commit: str | None = None
    date: str | None = None
    current: PatchFile | None = None
    in_hunk = False
    next_line = 0
    for raw in stream:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.startswith(_COMMIT):
            if current is not None and current.lines:
                yield current
            current, in_hunk = None, False
            commit_id, _, when = line[len(_COMMIT) :].partition(b" ")
            commit, date = commit_id.decode(), when.decode() or None
        elif line.startswith(b"diff --git "):
            if current is not None and current.lines:
                yield current
            current, in_hunk = None, False
        elif not in_hunk and line.startswith(b"+++ "):
            target = line[4:].removesuffix(b"\t")  # git appends a TAB to names with spaces
            if target != b"/dev/null":
                path = _unquote(target)
                current = PatchFile(path.removeprefix("b/"), commit, date)
        elif line.startswith(b"@@"):
            hunk = _HUNK.match(line)
            in_hunk = hunk is not None and current is not None
            next_line = int(hunk.group(1)) if hunk else 0
        elif in_hunk and current is not None and line.startswith(b"+"):
            current.lines.append(line[1:])
            current.line_numbers.append(next_line)
            next_line += 1
    if current is not None and current.lines:
        yield current


def _stream(repo: str, args: list[str]) -> Iterator[PatchFile]:
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed git binary, no shell
            [_git(), "-C", repo, *_GIT_CONFIG, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    assert process.stdout is not None and process.stderr is not None
    try:
        yield from parse_patch(process.stdout)
    finally:
        process.stdout.close()
        errors = process.stderr.read()
        process.stderr.close()
        if process.wait() != 0:
            reason = errors.decode("utf-8", "replace").strip().splitlines()
            raise GitError(reason[0] if reason else "git failed")


def history(repo: str, since: str | None = None) -> Iterator[PatchFile]:
    """Added lines of every commit reachable from any ref (only those after ``since``)."""
    run_git(repo, "rev-parse", "--git-dir")
    args = ["log", "--all", *_DIFF_OPTIONS, "--format=%x00%x00commit %H %aI"]
    if since is not None:
        run_git(repo, "rev-parse", "--verify", "--quiet", since + "^{commit}")
        args += ["--not", since]
    return _stream(repo, args)


def staged(repo: str) -> Iterator[PatchFile]:
    """Lines added in the index (what ``git commit`` would record), for pre-commit."""
    run_git(repo, "rev-parse", "--git-dir")
    return _stream(repo, ["diff", "--cached", *_DIFF_OPTIONS, "--diff-filter=ACMR"])
