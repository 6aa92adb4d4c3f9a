"""The memory soak (`SOAK_REQUESTS=1000000 make soak`): a million requests through one worker, RSS sampled.

Issue 15 asks for at most 100 MB resident per worker after 10^6 requests, and flat across a soak.
This starts the upstream stub and `vaultgate serve` (one worker, SQLite, in-process limits; gateway
on core 1, stub and load on core 0) set up through the CLI as `make soak` does, with SOAK_KEYS
member keys whose rpm/tpm limits are far above the load (the limiter runs, never refuses), and
drives it with wrk (bench/wrk/openai.lua, BENCH_MIX_SSE: every SOAK_SSE_EVERY-th request streamed,
each body numbered so no two are alike, the keys taken in turn) at SOAK_CONNECTIONS connections, in
segments of about SOAK_SAMPLE_EVERY requests until SOAK_REQUESTS have been answered. After every
segment a row: requests so far, req/s, p50/p99, non-2xx and socket errors, the gateway's RSS
(VmRSS; RssAnon, the heap part; VmHWM, the peak), open file descriptors, its CPU share, and how
busy each core was. RSS is also taken at start (after /healthz, before the first chat request)
and after the warm-up (the first SOAK_WARMUP requests). At the end: the least-squares slope of
RSS against requests after the warm-up (MiB per 100,000 requests), first/last/peak, and the
usage rows the gateway wrote. Exit status 1 on any non-2xx or socket error, or RSS at the end
above SOAK_RSS_LIMIT_MIB (100).

The rows go to bench/results/soak-memory-<stamp>.jsonl. This is a benchmark: nothing runs it
but a person (it takes about a quarter of an hour per million requests on one quiet core).

Environment: SOAK_REQUESTS (required here), SOAK_SAMPLE_EVERY (25000), SOAK_WARMUP (50000),
SOAK_SSE_EVERY (10), SOAK_CONNECTIONS (64), SOAK_KEYS (5), SOAK_RSS_LIMIT_MIB (100), and those
of bench/soak.py that apply (SOAK_WORKERS, SOAK_PIN, SOAK_DATABASE_URL, SOAK_REDIS_URL,
KEEP_DATA_DIR).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from soak import PIN, WORKERS, Gateway, process_tree, resources, setting, verdict

HERE = Path(__file__).resolve().parent
REQUESTS = int(setting("SOAK_REQUESTS", "0"))
SAMPLE_EVERY = int(setting("SOAK_SAMPLE_EVERY", "25000"))
WARMUP = int(setting("SOAK_WARMUP", "50000"))
SSE_EVERY = int(setting("SOAK_SSE_EVERY", "10"))
CONNECTIONS = int(setting("SOAK_CONNECTIONS", "64"))
KEYS = int(setting("SOAK_KEYS", "5"))
RSS_LIMIT_MIB = float(setting("SOAK_RSS_LIMIT_MIB", "100"))


@dataclass(frozen=True)
class Sample:
    """The gateway's memory and file descriptors at one moment, with the requests answered so far."""

    requests: int
    rss_mib: float
    anon_mib: float
    hwm_mib: float
    fds: int


def memory(pid: int, requests: int) -> Sample:
    """VmRSS, RssAnon and VmHWM summed over the gateway's processes (MiB), and its descriptors."""
    totals = {"VmRSS:": 0, "RssAnon:": 0, "VmHWM:": 0}
    for proc in process_tree(pid):
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                fields = line.split()
                if fields and fields[0] in totals:
                    totals[fields[0]] += int(fields[1])
        except OSError:
            continue
    fds = resources(pid)[1]
    return Sample(requests, totals["VmRSS:"] / 1024, totals["RssAnon:"] / 1024, totals["VmHWM:"] / 1024, fds)


def core_ticks() -> list[tuple[int, int]]:
    """(busy, total) jiffies of cpu0 and cpu1, from /proc/stat."""
    ticks = []
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] in ("cpu0", "cpu1"):
            numbers = [int(v) for v in fields[1:]]
            busy = numbers[0] + numbers[1] + numbers[2] + numbers[5] + numbers[6]
            ticks.append((busy, busy + numbers[3] + numbers[4]))
    return ticks


def busy_pct(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[int]:
    return [round(100 * (b[0] - a[0]) / max(1, b[1] - a[1])) for a, b in zip(before, after, strict=True)]


def wrk(url: str, tokens: list[str], seconds: int) -> dict[str, float]:
    """One wrk segment of the mixed load; its BENCH_JSON result."""
    env = dict(os.environ, BENCH_MIX_SSE=str(SSE_EVERY), BENCH_TOKENS=",".join(tokens))
    script = str(HERE / "wrk" / "openai.lua")
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", script, url]
    if PIN:
        argv = ["taskset", "-c", "0", *argv]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next((line for line in out.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        sys.exit(f"soak: wrk printed no result:\n{out[-2000:]}")
    result: dict[str, float] = json.loads(line[len("BENCH_JSON ") :])
    return result


def slope(samples: list[Sample]) -> float:
    """Least-squares slope of RSS against requests, in MiB per 100,000 requests."""
    if len(samples) < 2:
        return 0.0
    xs = [s.requests for s in samples]
    ys = [s.rss_mib for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else 100_000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def smoke(url: str, token: str) -> None:
    """One JSON and one streamed request must get a 200 (the stream ending with [DONE]) first."""
    headers = {"authorization": f"Bearer {token}"}
    for stream in (False, True):
        body = {"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        if answer.status_code != 200 or (stream and "data: [DONE]" not in answer.text):
            sys.exit(f"soak: smoke request (stream={stream}) got HTTP {answer.status_code}: {answer.text[:300]}")


HEADER = (
    f"{'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'bad':>4} {'rss MiB':>8} {'anon':>6} "
    f"{'peak':>6} {'fds':>4} {'gw cpu%':>7} {'core0%':>6} {'core1%':>6}"
)


def drive(
    url: str, tokens: list[str], pid: int, out: Path, start: Sample
) -> tuple[list[Sample], int, list[dict[str, object]]]:
    """Segments of the mixed load until REQUESTS are answered; a row (printed and written) after each."""
    samples = [start, memory(pid, 0)]
    rows: list[dict[str, object]] = []
    with out.open("a") as sink:
        sink.write(json.dumps({"kind": "start", **asdict(start)}) + "\n")
        sink.write(json.dumps({"kind": "after-smoke", **asdict(samples[1])}) + "\n")
        print(
            f"# RSS at start (before the first chat request) {start.rss_mib:.1f} MiB, {start.fds} fds; "
            f"after the two smoke requests {samples[1].rss_mib:.1f} MiB\n{HEADER}",
            flush=True,
        )
        done, bad, rate = 0, 0, 1000.0
        while done < REQUESTS:
            target = min(SAMPLE_EVERY, REQUESTS - done)
            if done < WARMUP:
                target = min(target, WARMUP - done)
            seconds = max(1, min(120, round(target / rate)))
            cpu_before, cores_before, started = resources(pid)[2], core_ticks(), time.monotonic()
            result = wrk(url, tokens, seconds)
            elapsed = time.monotonic() - started
            cpu_after, cores_after = resources(pid)[2], core_ticks()
            done += int(result["requests"])
            rate = max(50.0, result["rps"])
            kinds = ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
            errors = sum(int(result[k]) for k in kinds)
            bad += errors
            sample = memory(pid, done)
            samples.append(sample)
            row = {
                "kind": "segment",
                **asdict(sample),
                "rps": result["rps"],
                "p50_ms": result["p50_us"] / 1000,
                "p99_ms": result["p99_us"] / 1000,
                "errors": errors,
                **{k: result[k] for k in kinds if result[k]},
                "gateway_cpu_pct": round(100 * (cpu_after - cpu_before) / elapsed, 1),
                "cpu0_busy_pct": busy_pct(cores_before, cores_after)[0],
                "cpu1_busy_pct": busy_pct(cores_before, cores_after)[1],
                "load1": os.getloadavg()[0],
            }
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            print(
                f"{done:>9} {result['rps']:>7.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {errors:>4} "
                f"{sample.rss_mib:>8.1f} {sample.anon_mib:>6.1f} {sample.hwm_mib:>6.1f} {sample.fds:>4} "
                f"{row['gateway_cpu_pct']:>7.1f} {row['cpu0_busy_pct']:>6} {row['cpu1_busy_pct']:>6}",
                flush=True,
            )
    return samples, bad, rows


def summary(samples: list[Sample], bad: int, usage_rows: int) -> dict[str, object]:
    """The figures the target is judged on."""
    after_warmup = [s for s in samples if s.requests >= WARMUP] or samples[-1:]
    return {
        "kind": "summary",
        "requests": samples[-1].requests,
        "errors": bad,
        "usage_rows": usage_rows,
        "rss_start_mib": round(samples[0].rss_mib, 1),
        "rss_after_smoke_mib": round(samples[1].rss_mib, 1),
        "rss_after_warmup_mib": round(after_warmup[0].rss_mib, 1),
        "rss_end_mib": round(samples[-1].rss_mib, 1),
        "rss_peak_mib": round(max(s.hwm_mib for s in samples), 1),
        "anon_end_mib": round(samples[-1].anon_mib, 1),
        "slope_mib_per_100k_after_warmup": round(slope(after_warmup), 3),
        "fds_start_end": [samples[0].fds, samples[-1].fds],
    }


def main() -> int:
    if REQUESTS <= 0:
        sys.exit("soak: set SOAK_REQUESTS to the number of requests (e.g. 1000000)")
    if shutil.which("wrk") is None:
        sys.exit("soak: the memory soak needs wrk (apt-get install wrk; make bench installs it)")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = HERE / "results" / f"soak-memory-{stamp}.jsonl"
    data = Path(tempfile.mkdtemp(prefix="vaultgate-soak-memory."))
    gw = Gateway(data)
    try:
        url, gateway = gw.start()
        tokens = [gw.key(f"soak-{n}")[1] for n in range(1, KEYS + 1)]
        start = memory(gateway.pid, 0)
        smoke(url, tokens[0])
        commit = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        database = "PostgreSQL" if "VAULTGATE_DATABASE_URL" in gw.env else "SQLite"
        header = (
            f"# {stamp} memory soak: {REQUESTS} requests (every {SSE_EVERY}th streamed), {CONNECTIONS} connections, "
            f"{KEYS} keys, workers {WORKERS}, database {database}, "
            f"limits {'Redis' if 'VAULTGATE_REDIS_URL' in gw.env else 'in-process'}, "
            f"{'gateway on core 1, stub and wrk on core 0' if PIN else 'not pinned'}; commit {commit.stdout.strip()}"
        )
        print(header, flush=True)
        out.write_text(header + "\n")
        samples, bad, _ = drive(url, tokens, gateway.pid, out, start)
        gateway.terminate()  # graceful: queued usage is written before it exits
        gateway.wait(timeout=300)
        result = summary(samples, bad, gw.usage_rows())
    finally:
        gw.stop()
        if os.environ.get("KEEP_DATA_DIR") == "1":
            print(f"# data dir and logs kept in {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)
    with out.open("a") as sink:
        sink.write(json.dumps(result) + "\n")
    print("\n# summary\n" + "\n".join(f"{k}: {v}" for k, v in result.items() if k != "kind"))
    print(f"raw results: {out}", file=sys.stderr)
    failures = []
    if bad:
        failures.append(f"{bad} non-2xx answers or socket errors")
    if samples[-1].rss_mib > RSS_LIMIT_MIB:
        failures.append(f"RSS {samples[-1].rss_mib:.1f} MiB after {samples[-1].requests} requests > {RSS_LIMIT_MIB:g}")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
