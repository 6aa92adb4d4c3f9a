"""Summarise benchmark result lines (JSON Lines written by the bench scripts) as tables.

    python bench/report.py candidates bench/results/candidates-<stamp>.jsonl
    python bench/report.py gateway bench/results/gateway-<stamp>.jsonl

Each figure is the median over the repetitions; req/s also shows the range (min-max),
which is the noise a reader should allow for. Latencies are in milliseconds. "req/CPU-s"
is requests per CPU-second used by the server under test (the proxy, the gateway, or for
"direct" the stub): the figure that neighbours on a shared machine disturb least. "share
%" is the part of one core that server got: under 95 means a neighbour took the rest.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def load(path: Path) -> list[Row]:
    """The result lines of a file, without comments and warm-up runs."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            row = json.loads(line)
            if row.get("variant") != "warmup":
                rows.append(row)
    return rows


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _summary(rows: list[Row]) -> dict[str, float]:
    rps = [r["rps"] for r in rows]
    return {
        "n": len(rows),
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50": statistics.median(r["p50_us"] for r in rows),
        "p99": statistics.median(r["p99_us"] for r in rows),
        "per_cpu": statistics.median(r.get("req_per_cpu_s", 0) for r in rows),
        "share": statistics.median(100 * r.get("server_cpu_s", 0) / r["duration_s"] for r in rows),
        "cpu0": statistics.median(r["cpu0_busy_pct"] for r in rows),
        "cpu1": statistics.median(r["cpu1_busy_pct"] for r in rows),
        "errors": sum(
            r["non2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] for r in rows
        ),
    }


def _group(rows: list[Row], key: str) -> dict[tuple[str, str], list[Row]]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row.get("mode", "json"), row[key])].append(row)
    return groups


def candidates(rows: list[Row]) -> str:
    """Markdown table: one line per variant and mode, fastest first within a mode."""
    lines = [
        "| mode | server | client | JSON | req/s (median) | req/s range | req/CPU-s | share % "
        "| p50 ms | p99 ms | core0 % | core1 % | errors | runs |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    summaries = {k: _summary(v) for k, v in _group(rows, "variant").items()}
    for (mode, variant), s in sorted(summaries.items(), key=lambda kv: (kv[0][0], -kv[1]["rps"])):
        parts = variant.split(":") if ":" in variant else [variant, "-", "-"]
        lines.append(
            f"| {mode} | {' | '.join(parts)} | {s['rps']:.0f} | {s['rps_min']:.0f}-"
            f"{s['rps_max']:.0f} | {s['per_cpu']:.0f} | {s['share']:.0f} | {_ms(s['p50'])} "
            f"| {_ms(s['p99'])} | {s['cpu0']:.0f} | {s['cpu1']:.0f} | {s['errors']} | {s['n']} |"
        )
    return "\n".join(lines)


def gateway(rows: list[Row]) -> str:
    """Markdown table: direct vs through the gateway, with the latency the gateway adds."""
    summaries = {k: _summary(v) for k, v in _group(rows, "target").items()}
    lines = [
        "| mode | target | req/s (median) | req/s range | req/CPU-s | share % | p50 ms "
        "| p99 ms | added p50 ms | added p99 ms | core0 % | core1 % | errors | runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (mode, target), s in sorted(summaries.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        direct = summaries.get((mode, "direct"))
        added50 = added99 = "-"
        if direct is not None and target != "direct":
            added50 = _ms(s["p50"] - direct["p50"])
            added99 = _ms(s["p99"] - direct["p99"])
        lines.append(
            f"| {mode} | {target} | {s['rps']:.0f} | {s['rps_min']:.0f}-{s['rps_max']:.0f} "
            f"| {s['per_cpu']:.0f} | {s['share']:.0f} | {_ms(s['p50'])} | {_ms(s['p99'])} | {added50} "
            f"| {added99} | {s['cpu0']:.0f} | {s['cpu1']:.0f} | {s['errors']} | {s['n']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["candidates", "gateway"])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    rows = load(args.results)
    print(candidates(rows) if args.kind == "candidates" else gateway(rows))


if __name__ == "__main__":
    main()
