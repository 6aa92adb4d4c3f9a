"""Running ``vaultgate`` as a user does, in this process or in a child process.

A child process costs over a second of CPU to import the CLI; most CLI tests check what the
command prints and its exit code, which the in-process run gives the same way (``main.run`` exits
with the code the entry point would). Commands that start a server (``serve``, ``quickstart``
without ``--no-serve``) always run in a child process: they install signal handlers, change
process limits, and must not be able to block the test process.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

from vaultgate.cli import main
from vaultgate.config import Settings

# The environment and the standard streams are process-wide: one in-process run at a time.
_ONE_AT_A_TIME = threading.Lock()


def needs_process(args: Sequence[str]) -> bool:
    """Whether the command may serve (and so must run in a child process)."""
    return "serve" in args or ("quickstart" in args and "--no-serve" not in args)


def run(
    args: Sequence[str], *, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``vaultgate ARGS`` with ``env`` on top of this environment, less VAULTGATE_MASTER_KEY unless ``env``
    sets it (the data dir's key file is the one these tests use)."""
    if needs_process(args):
        return run_process(args, env=env, stdin=stdin, timeout=timeout)
    with _ONE_AT_A_TIME:
        saved = dict(os.environ)
        os.environ.pop("VAULTGATE_MASTER_KEY", None)
        os.environ.update(env or {})
        raw_out = io.BytesIO()
        out = io.TextIOWrapper(raw_out, encoding="utf-8", write_through=True)
        err = io.StringIO()
        code: int = 0
        try:
            with (
                redirect_stdout(out),
                redirect_stderr(err),
                mock.patch.object(sys, "stdin", io.StringIO(stdin or "")),
            ):
                try:
                    main.run(list(args))
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        out.flush()
        return subprocess.CompletedProcess(list(args), code, raw_out.getvalue().decode("utf-8"), err.getvalue())


def run_process(
    args: Sequence[str], *, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m vaultgate ARGS`` in a child process."""
    full_env = {k: v for k, v in os.environ.items() if k != "VAULTGATE_MASTER_KEY"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=full_env,
        timeout=timeout,
    )


def run_for(
    settings: Settings, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``vaultgate --data-dir DATA ARGS`` against ``settings``' data dir and database."""
    return run(
        ["--data-dir", str(settings.data_dir), *args],
        env={"VAULTGATE_DATABASE_URL": settings.resolved_database_url, **(env or {})},
        stdin=stdin,
    )
