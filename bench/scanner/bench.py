"""Scanner throughput side by side with detect-secrets and trufflehog3, in one run.

Every tool scans the same tree, pinned to one core (taskset) when available; the table
gives wall time, CPU time, MB/s over the tree's bytes (all regular files) and over its
text bytes, and each tool's findings count. Usage: see run.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable


def tree_bytes(root: str) -> tuple[int, int, int]:
    """Total bytes, text bytes (no NUL in the first 8 KiB) and file count; warms the cache."""
    total = text = files = 0
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            files += 1
            total += len(data)
            if b"\0" not in data[:8192]:
                text += len(data)
    return total, text, files


def run(command: list[str], cwd: str, timeout: float) -> tuple[float, float, bytes, str]:
    """Wall seconds, child CPU seconds, stdout, and a status word (run inside ``cwd``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    status = "ok"
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=timeout, check=False)
        out = done.stdout
        if done.returncode not in (0, 1):
            status = f"exit {done.returncode}: {done.stderr.decode(errors='replace')[-200:]}"
    except subprocess.TimeoutExpired:
        out, status = b"", f"timeout after {timeout:.0f}s"
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out, status


def count_vaultgate(out: bytes) -> int:
    return len(json.loads(out)["findings"])


def count_detect_secrets(out: bytes) -> int:
    return sum(len(v) for v in json.loads(out)["results"].values())


def count_trufflehog3(out: bytes) -> int:
    return len(json.loads(out or b"[]"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tree")
    parser.add_argument("--python", default=sys.executable, help="Python with vaultgate")
    parser.add_argument("--peers", required=True, help="venv with detect-secrets, trufflehog3")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    tree = os.path.abspath(args.tree)
    total, text, files = tree_bytes(tree)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    peers = os.path.join(args.peers, "bin")
    tools: list[tuple[str, list[str], Callable[[bytes], int]]] = [
        (
            "vaultgate",
            [
                args.python,
                "-m",
                "vaultgate.scanner",
                "scan",
                "--no-gitignore",
                "--no-progress",
                "-f",
                "json",
                ".",
            ],
            count_vaultgate,
        ),
        (
            "detect-secrets 1.5.0",
            [os.path.join(peers, "detect-secrets"), "scan", "--all-files", "."],
            count_detect_secrets,
        ),
        (
            "trufflehog3 3.0.10",
            [
                os.path.join(peers, "trufflehog3"),
                "--no-history",
                "-p",
                "1",
                "-z",
                "-f",
                "JSON",
                ".",
            ],
            count_trufflehog3,
        ),
    ]
    print(
        f"tree: {tree}: {files} files, {total / 1e6:.1f} MB ({text / 1e6:.1f} MB text); "
        f"pinned to one core: {bool(pin)}\n"
    )
    print("| tool | wall s | CPU s | MB/s (tree, wall) | MB/s (text, CPU) | findings | status |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, command, count in tools:
        # Every tool scans "." from inside the tree (detect-secrets only walks below its cwd).
        wall, cpu, out, status = run(pin + command, tree, args.timeout)
        try:
            found = str(count(out)) if status == "ok" else "-"
        except (ValueError, KeyError, TypeError):
            found, status = "-", "unparsable output"
        print(
            f"| {name} | {wall:.1f} | {cpu:.1f} | {total / 1e6 / wall:.1f} | "
            f"{text / 1e6 / max(cpu, 1e-9):.1f} | {found} | {status} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
