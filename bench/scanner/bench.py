"""Scanner throughput side by side with detect-secrets and trufflehog3, in one run.

Every tool scans the same tree from inside it, pinned to one core (taskset) when available.
vaultgate runs ``--repeat`` times (medians reported), the much slower peers ``--peer-repeat``
times. Each row gives wall time, CPU time, MB/s over the tree's bytes (all regular files,
wall) and over its text bytes per CPU-second, and the findings count. A last vaultgate row
measures ``scan_paths`` inside one process, without interpreter start-up and imports.
Usage: see run.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
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


# Run by the project's Python inside the tree: CPU seconds of scan_paths alone, and findings.
IN_PROCESS = """
import json, time
from vaultgate.detect.secrets import default_detector
from vaultgate.scanner import ScanOptions, scan_paths
default_detector()
start = time.process_time()
result = scan_paths(["."], ScanOptions(use_gitignore=False))
print(json.dumps({"cpu": time.process_time() - start, "findings": len(result.findings)}))
"""


def count_detect_secrets(out: bytes) -> int:
    return sum(len(v) for v in json.loads(out)["results"].values())


def count_trufflehog3(out: bytes) -> int:
    return len(json.loads(out or b"[]"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tree")
    parser.add_argument("--python", default=sys.executable, help="Python with vaultgate")
    parser.add_argument("--peers", required=True, help="venv with detect-secrets, trufflehog3")
    parser.add_argument("--timeout", type=float, default=900, help="per run, seconds")
    parser.add_argument("--repeat", type=int, default=5, help="runs of vaultgate")
    parser.add_argument("--peer-repeat", type=int, default=1, help="runs of each peer")
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
        f"pinned to one core: {bool(pin)}; runs: vaultgate {args.repeat}, peers {args.peer_repeat} "
        "(medians)\n"
    )
    print("| tool | wall s | CPU s | MB/s (tree, wall) | MB/s (text, CPU) | findings | status |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    cpu_seconds: dict[str, list[float]] = {}
    for name, command, count in tools:
        repeat = args.repeat if name == "vaultgate" else args.peer_repeat
        # Every tool scans "." from inside the tree (detect-secrets only walks below its cwd).
        runs = [run(pin + command, tree, args.timeout) for _ in range(repeat)]
        cpu_seconds[name] = [r[1] for r in runs]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        out, status = runs[-1][2], next((r[3] for r in runs if r[3] != "ok"), "ok")
        try:
            found = str(count(out)) if status == "ok" else "-"
        except (ValueError, KeyError, TypeError):
            found, status = "-", "unparsable output"
        label = f"{name} (CLI, incl. start-up)" if name == "vaultgate" else name
        print(
            f"| {label} | {wall:.2f} | {cpu:.2f} | {total / 1e6 / wall:.2f} | "
            f"{text / 1e6 / max(cpu, 1e-9):.2f} | {found} | {status} |",
            flush=True,
        )
        if name == "vaultgate":
            in_process(args, pin, tree, text, cpu_seconds)
    for name, seconds in cpu_seconds.items():
        print(f"\nCPU seconds per run, {name}: " + ", ".join(f"{s:.2f}" for s in seconds), end="")
    print()


def in_process(
    args: argparse.Namespace, pin: list[str], tree: str, text: int, cpu_seconds: dict[str, list[float]]
) -> None:
    """The row for ``scan_paths`` inside one process (no interpreter start-up, no imports)."""
    runs = [run([*pin, args.python, "-c", IN_PROCESS], tree, args.timeout) for _ in range(args.repeat)]
    reports = [json.loads(r[2]) for r in runs if r[3] == "ok"]
    if not reports:
        print(f"| vaultgate (in-process scan_paths) | - | - | - | - | - | {runs[-1][3]} |")
        return
    cpu_seconds["vaultgate in-process"] = [r["cpu"] for r in reports]
    cpu = statistics.median(r["cpu"] for r in reports)
    print(
        f"| vaultgate (in-process scan_paths) | - | {cpu:.2f} | - | {text / 1e6 / cpu:.2f} | "
        f"{reports[-1]['findings']} | ok |",
        flush=True,
    )


if __name__ == "__main__":
    main()
