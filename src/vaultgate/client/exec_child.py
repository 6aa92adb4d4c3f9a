"""Running ``vaultgate exec``'s command: its environment, finding it, signals forwarded, its exit code.

The command gets the parent's environment with exactly ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``
added or replaced (and ``VAULTGATE_TOKEN_URL`` with ``--refresh``); nothing else changes. A command
that cannot be found exits 127 and one that cannot be executed 126, as a shell's would. SIGINT,
SIGTERM and SIGHUP reaching the parent are passed on to the child (SIGINT only when it did not come
from the terminal, which already sent it to the child); the child's exit status is returned,
128 + N when a signal N ended it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType

from vaultgate.client.credential_endpoint import TOKEN_URL_VARIABLE
from vaultgate.client.errors import ClientError

BASE_URL_VARIABLE = "OPENAI_BASE_URL"
API_KEY_VARIABLE = "OPENAI_API_KEY"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NOT_FOUND, NOT_EXECUTABLE = 127, 126


class CommandFailed(ClientError):
    """The command could not be started: ``exit_code`` is the shell's (127 not found, 126 not executable)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def child_environment(
    parent: Mapping[str, str], base_url: str, token: str, token_url: str | None = None
) -> dict[str, str]:
    """The parent's environment plus exactly the gateway's base URL and the token (and the token URL)."""
    added = {BASE_URL_VARIABLE: base_url, API_KEY_VARIABLE: token}
    if token_url is not None:
        added[TOKEN_URL_VARIABLE] = token_url
    return {**parent, **added}


def locate(command: str, environment: Mapping[str, str]) -> str:
    """The program ``command`` names (searched on the child's PATH), or CommandFailed as a shell says it."""
    if os.sep in command:
        if not os.path.exists(command):
            raise CommandFailed(f"{command}: No such file or directory", NOT_FOUND)
        if os.path.isdir(command) or not os.access(command, os.X_OK):
            raise CommandFailed(f"{command}: Permission denied", NOT_EXECUTABLE)
        return command
    found = shutil.which(command, path=environment.get("PATH", os.defpath))
    if found is None:
        raise CommandFailed(f"{command}: command not found", NOT_FOUND)
    return found


def _from_terminal() -> bool:
    """Whether this process is in the foreground of a terminal (so a SIGINT reached the whole group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def _forwarding(child: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(number: int, frame: FrameType | None) -> None:
        if number == signal.SIGINT and _from_terminal():
            return  # the terminal sent it to the child as well
        if child.poll() is None:
            child.send_signal(number)

    previous = {number: signal.signal(number, forward) for number in FORWARDED}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run(argv: Sequence[str], environment: Mapping[str, str]) -> int:
    """Run the command to its end with ``environment``; its exit status (128 + N when killed by signal N)."""
    program = locate(argv[0], environment)
    try:
        child = subprocess.Popen(list(argv), executable=program, env=dict(environment))  # noqa: S603 - the user command
    except PermissionError:
        raise CommandFailed(f"{argv[0]}: Permission denied", NOT_EXECUTABLE) from None
    except FileNotFoundError:
        raise CommandFailed(f"{argv[0]}: command not found", NOT_FOUND) from None
    with _forwarding(child):
        status = child.wait()
    return 128 - status if status < 0 else status
