"""The CLI on a full disk: one line naming the cause, exit 1, no traceback (a real, small filesystem)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test (the tests run as root on CI's machine kind)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True)
    assert mounted.returncode == 0, f"cannot mount a small filesystem: {mounted.stderr.decode()}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def vg(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_full_disk_is_one_line_not_a_traceback(small_filesystem: Path) -> None:
    data = small_filesystem / "data"
    assert vg(data, "init").returncode == 0
    filler = small_filesystem / "filler"
    with filler.open("wb") as out:  # take every byte left
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    results = [vg(data, "member", "add", f"member{i}") for i in range(3)]
    failed = [r for r in results if r.returncode != 0]
    assert failed, "the disk never filled up"
    for result in failed:
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        # The driver's own reason, not only its exception's class name.
        assert lines[0].startswith("vaultgate: error: ") and ("disk" in lines[0] or "full" in lines[0]), lines[0]
