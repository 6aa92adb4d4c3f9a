"""The leaver benchmark: the scenario of tests/identity/test_leaver.py run N times (default 20) on PostgreSQL.

Prints p50, p95 and max of: the stream on replica B ending, the key refused by B and by A, the admin token
refused (seconds from just before the SCIM PATCH active=false on A), and the time to effective revocation
replica A audited. ``make bench-leaver`` (not part of ``make test``); LEAVER_RUNS=N, VAULTGATE_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests.identity

from tests.identity.leaver_scenario import LeaverRun, LeaverStage

ADMIN_URL = os.environ.get("VAULTGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def _line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<28} p50 {statistics.median(ms):7.0f} ms   p95 {_percentile(ms, 0.95):7.0f} ms   max {max(ms):7.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("LEAVER_RUNS", "20")))
    args = parser.parse_args()
    name = "vg_bench_" + secrets.token_hex(6)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    runs: list[LeaverRun] = []
    try:
        with tempfile.TemporaryDirectory(prefix="vaultgate-leaver-") as workdir:
            stage = LeaverStage(Path(workdir), ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
            try:
                for i in range(args.runs):
                    run = stage.run()
                    runs.append(run)
                    print(
                        f"run {i + 1:>3}: stream ended {run.stream_ended * 1000:6.0f} ms, key refused B "
                        f"{run.key_refused_b * 1000:6.0f} ms / A {run.key_refused_a * 1000:6.0f} ms, admin token "
                        f"{run.admin_refused * 1000:6.0f} ms, audited {run.audited_ms} ms ({run.stream_error})",
                        flush=True,
                    )
            finally:
                stage.close()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\n{len(runs)} leavers, two replicas on PostgreSQL, stream through B, SCIM PATCH on A:")
    print(_line("stream ended on B", [r.stream_ended for r in runs]))
    print(_line("key refused by B", [r.key_refused_b for r in runs]))
    print(_line("key refused by A", [r.key_refused_a for r in runs]))
    print(_line("admin token refused", [r.admin_refused for r in runs]))
    audited = [r.audited_ms / 1000 for r in runs if r.audited_ms is not None]
    if audited:
        print(_line("audited (A, arrival→swap)", audited))
    over = sum(1 for r in runs if max(r.stream_ended, r.key_refused_b, r.key_refused_a) > 1.0)
    print(f"runs with any effect later than 1 s: {over} of {len(runs)}")


if __name__ == "__main__":
    main()
