"""Summarise benchmark result lines (JSON Lines written by the bench scripts) as tables.

    python bench/report.py candidates bench/results/candidates-<stamp>.jsonl
    python bench/report.py gateway bench/results/gateway-<stamp>.jsonl
    python bench/report.py side bench/results/gateway-<stamp>.jsonl   (what `make bench` prints)

Each figure is the median over the repetitions; req/s also shows the range (min-max),
which is the noise a reader should allow for. Latencies are in milliseconds. "req/CPU-s"
is requests per CPU-second used by the server under test (the proxy, the gateway, or for
"direct" the stub): the figure that neighbours on a shared machine disturb least. "share
%" is the part of one core that server got: under 95 means a neighbour took the rest.
"side" is the side-by-side table: the stub direct, vaultgate and each peer (LiteLLM's proxy)
with CPU ms per request and resident memory (MiB) at start and after the runs, then the
vaultgate/peer ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _lines(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def load(path: Path) -> list[Row]:
    """The measured runs of a file, without comments, warm-up runs and start-up lines."""
    return [row for row in _lines(path) if row.get("variant") != "warmup" and row.get("kind") != "start"]


def start_rss(path: Path) -> dict[str, float]:
    """Resident KiB of each server at start (before its first request), by target."""
    return {row["target"]: row["rss_kib"] for row in _lines(path) if row.get("kind") == "start"}


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
        "cpu_ms": statistics.median(
            1000 * r.get("server_cpu_s", 0) / r["requests"] if r["requests"] else 0.0 for r in rows
        ),
        "rss_after": statistics.median(r.get("server_rss_kib", 0) for r in rows),
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


_NAMES = {"direct": "stub direct", "gateway": "**vaultgate**", "litellm": "LiteLLM proxy"}
_MODES = {
    "json": "json, 64 conns",
    "sse": "sse, 64 conns",
    "json-c1": "json, 1 conn",
    "json-privacy": "json 4 KB, privacy on, 64 conns",
}
_ORDER = {"direct": 0, "gateway": 1}


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f}" if kib else "-"


def side(rows: list[Row], rss_start: dict[str, float]) -> str:
    """Markdown: the stub, vaultgate and each peer in one table, then vaultgate/peer ratios.

    "64 conns" in the mode names is the usual BENCH_CONNECTIONS; the runs' own count is in
    the raw lines. CPU ms/req is the server's utime+stime over a run divided by its requests
    (for "direct", the stub's); RSS after is the median over the runs of the size right after
    each run (the last one is the figure after the most requests).
    """
    summaries = {k: _summary(v) for k, v in _group(rows, "target").items()}
    modes = sorted({m for m, _ in summaries}, key=lambda m: list(_MODES).index(m) if m in _MODES else 99)
    lines = [
        "| mode | target | req/s (median) | req/s range | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| CPU ms/req | share % | RSS start MiB | RSS after MiB | core0 % | core1 % | errors | runs |",
        "| --- | --- |" + " ---: |" * 14,
    ]
    ratios = [
        "| mode | peer | vaultgate/peer req/s | CPU ms/req vaultgate | CPU ms/req peer | vaultgate/peer CPU "
        "per req | RSS start vaultgate / peer MiB | RSS after vaultgate / peer MiB | vaultgate/peer RSS after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode in modes:
        targets = sorted((t for m, t in summaries if m == mode), key=lambda t: (_ORDER.get(t, 2), t))
        direct = summaries.get((mode, "direct"))
        for target in targets:
            s = summaries[(mode, target)]
            added50 = added99 = "-"
            if direct is not None and target != "direct":
                added50 = _ms(s["p50"] - direct["p50"])
                added99 = _ms(s["p99"] - direct["p99"])
            start = rss_start.get(target, 0) if target != "direct" else 0
            lines.append(
                f"| {_MODES.get(mode, mode)} | {_NAMES.get(target, target)} | {s['rps']:.0f} "
                f"| {s['rps_min']:.0f}-{s['rps_max']:.0f} | {_ms(s['p50'])} | {_ms(s['p99'])} | {added50} "
                f"| {added99} | {s['cpu_ms']:.3f} | {s['share']:.0f} | {_mib(start)} | {_mib(s['rss_after'])} "
                f"| {s['cpu0']:.0f} | {s['cpu1']:.0f} | {s['errors']} | {s['n']} |"
            )
        ours = summaries.get((mode, "gateway"))
        for peer in targets:
            theirs = summaries[(mode, peer)]
            if ours is None or peer in ("direct", "gateway") or not theirs["rps"]:
                continue
            cpu_ratio = f"{ours['cpu_ms'] / theirs['cpu_ms']:.3f}" if theirs["cpu_ms"] else "-"
            rss_ratio = f"{ours['rss_after'] / theirs['rss_after']:.2f}" if theirs["rss_after"] else "-"
            ratios.append(
                f"| {_MODES.get(mode, mode)} | {_NAMES.get(peer, peer)} | **{ours['rps'] / theirs['rps']:.1f}x** "
                f"| {ours['cpu_ms']:.3f} | {theirs['cpu_ms']:.3f} | {cpu_ratio} "
                f"| {_mib(rss_start.get('gateway', 0))} / {_mib(rss_start.get(peer, 0))} "
                f"| {_mib(ours['rss_after'])} / {_mib(theirs['rss_after'])} | {rss_ratio} |"
            )
    out = "\n".join(lines)
    if len(ratios) > 2:
        out += "\n\nRatios (vaultgate / peer; above 1 for req/s and below 1 for CPU and RSS favour vaultgate):\n\n"
        out += "\n".join(ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["candidates", "gateway", "side"])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    rows = load(args.results)
    if args.kind == "candidates":
        print(candidates(rows))
    elif args.kind == "side":
        print(side(rows, start_rss(args.results)))
    else:
        print(gateway(rows))


if __name__ == "__main__":
    main()
