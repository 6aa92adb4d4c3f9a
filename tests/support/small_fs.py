"""A real, small filesystem for a test (tmpfs; the tests run as root on CI's machine kind), and a file
that takes every byte left on it.

    with small_filesystem(tmp_path / "small", "2m") as mount_point:
        filler = fill(mount_point)    # the disk is full now
        filler.unlink()               # and has room again
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"2m"``) mounted at ``mount_point`` until the block ends."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a small filesystem: {mounted.stderr.decode()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(mount_point: Path, name: str = "filler") -> Path:
    """A file that takes every byte left (the last write is short, the next one refused)."""
    filler = mount_point / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler
