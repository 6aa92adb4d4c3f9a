"""Do 1 MB adversarial prompts slow everyone else down? Other requests' p50/p99 with and without them.

Issue 15: "a 1 MB adversarial prompt leaves other requests' p99 unchanged". Run from the repository root:

    PYTHONPATH=$PWD/src .venv/bin/python bench/privacy/adversary.py [--rate 200] [--phase 20] [--rounds 3]
        [--kinds digits,emails,separators,cards] [--body privacy|json] [--profile DIR [--profile-gil]]
        [--switch-interval S]

It starts the upstream stub and `vaultgate serve` (one worker, SQLite, in-process limits) the way
`make soak` does (bench/soak.py: the gateway on core 1, the stub on core 0), with two keys whose
privacy policy redacts every entity and blocks secrets: one for the steady load, one for the
adversary. The steady load is open-loop at --rate requests per second (aiohttp, latency counted from
the scheduled send, so a stalled gateway cannot hide behind a slower client): the 4 KB prompt with
six personal values of bench/privacy/bodies.py (--body json: the ~600-byte prompt of `make bench`).
Phases of --phase seconds alternate, in one run against one gateway process: "off" (the steady load
alone) and "on" (the same load while another process sends 1 MB adversarial prompts of one kind back
to back on its own connection: bench/privacy/bodies.py ADVERSARIES); after an "on" phase, requests
until the adversary's last request has ended are left out of both. A row per phase: the steady
requests' p50/p90/p99/max and errors, the gateway's CPU share, how busy each core was, and the
adversary's requests (status, seconds). At the end the phases are pooled per kind against all "off"
phases. Raw rows: bench/results/adversary-<stamp>.jsonl.

The stub answers with its fixed completion, so the restoration of a redacted 1 MB prompt echoed
back by a model is not in these figures (bench/privacy/bench_healthz.py measures that case).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for soak.py

import aiohttp
import bodies
from soak import Gateway, resources
from soak_memory import busy_pct, core_ticks

HERE = Path(__file__).resolve().parent

POLICY = (
    '{"pii": {"email": "redact", "phone": "redact", "card": "redact", "iban": "redact", '
    '"ip_address": "redact", "ssn": "redact", "itin": "redact"}, "secrets": "block"}'
)
SMALL = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a concise assistant for an engineering team."},
            {"role": "user", "content": "What are the three most important things to change first, and why?"},
        ],
    }
).encode()


def pin(core: int) -> None:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


def adversary(url: str, token: str, body: bytes, on: Event, idle: Event, stop: Event, out: Any) -> None:
    """Child process: while ``on`` is set, POST ``body`` back to back on one connection; report each."""
    pin(0)
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=300)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not stop.is_set():
        if not on.wait(0.05):
            continue
        idle.clear()
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/chat/completions", body, headers)
            response = connection.getresponse()
            answer = response.read()
            status, code = response.status, "" if response.status == 200 else answer[:200].decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            status, code = 0, type(exc).__name__
            connection.close()
        out.put({"status": status, "seconds": round(time.perf_counter() - started, 3), "error": code})
        idle.set()


class Load:
    """The steady open-loop load: one request every 1/rate seconds, each tagged with the phase it was sent in."""

    def __init__(self, url: str, token: str, body: bytes, rate: float) -> None:
        self.url, self.body, self.rate = url + "/v1/chat/completions", body, rate
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.phase = "warmup"
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def one(self, session: aiohttp.ClientSession, phase: str, scheduled: float) -> None:
        self.in_flight[phase] = self.in_flight.get(phase, 0) + 1
        try:
            async with session.post(self.url, data=self.body, headers=self.headers) as response:
                await response.read()
                ok = response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            ok = False
        if ok:
            self.latency.setdefault(phase, []).append((time.monotonic() - scheduled) * 1000)
        else:
            self.errors[phase] = self.errors.get(phase, 0) + 1
        self.in_flight[phase] -= 1

    async def settled(self, phase: str, limit: float = 180.0) -> None:
        """Wait until every request sent in ``phase`` has ended."""
        deadline = time.monotonic() + limit
        while self.in_flight.get(phase) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        next_send = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            while next_send <= now:
                task = asyncio.create_task(self.one(session, self.phase, next_send))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                next_send += 1 / self.rate
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))
        await asyncio.gather(*self.tasks, return_exceptions=True)


def profile(args: argparse.Namespace, pid: int, phase: str) -> subprocess.Popen[bytes] | None:
    """With --profile DIR: py-spy samples the gateway for this phase (collapsed stacks, one file a phase)."""
    if not args.profile:
        return None
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    out = Path(args.profile) / f"{phase.replace('#', '-')}.txt"
    argv = ["py-spy", "record", "-p", str(pid), "-d", str(int(args.phase)), "-r", "100", "-f", "raw", "-o", str(out)]
    if args.profile_gil:
        argv.append("--gil")  # only the thread holding the GIL: what keeps the event loop from running
    return subprocess.Popen(["taskset", "-c", "0", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1], 2)}


async def drive(
    args: argparse.Namespace, url: str, tokens: tuple[str, str], pid: int, out: Path
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """The phases, a row each (printed and written); the rows and the steady requests' latencies by phase."""
    body = Path(args.body_file).read_bytes() if args.body == "privacy" else SMALL
    adversaries = {kind: bodies.adversary(kind, args.size) for kind in args.kinds}
    load = Load(url, tokens[0], body, args.rate)
    ctx = mp.get_context("fork")
    on, idle, quit_ = ctx.Event(), ctx.Event(), ctx.Event()
    results = ctx.Queue()
    rows: list[dict[str, Any]] = []
    print(f"{'phase':<16} {'n':>6} {'p50':>7} {'p90':>7} {'p99':>8} {'max':>8} {'err':>4} {'gw cpu%':>7} "
          f"{'c0%':>4} {'c1%':>4}  adversary (status: seconds)", flush=True)  # fmt: skip
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        stop = asyncio.Event()
        runner = asyncio.create_task(load.run(session, stop))
        await asyncio.sleep(args.warmup)
        schedule = [("off", None)] + [(f"on-{k}", k) for k in args.kinds]
        for round_ in range(1, args.rounds + 1):
            for name, kind in schedule:
                child = None
                if kind is not None:
                    idle.set()
                    child = ctx.Process(
                        target=adversary, args=(url, tokens[1], adversaries[kind], on, idle, quit_, results)
                    )
                    child.start()
                    on.set()
                phase = f"{name}#{round_}"
                profiler = profile(args, pid, phase) if round_ == 1 else None
                cpu0, cores0, t0 = resources(pid)[2], core_ticks(), time.monotonic()
                load.phase = phase
                await asyncio.sleep(args.phase)
                load.phase = "transition"
                cpu1, cores1, t1 = resources(pid)[2], core_ticks(), time.monotonic()
                if profiler is not None:
                    profiler.wait(60)
                big = []
                if child is not None:
                    on.clear()
                    while not idle.is_set():  # the adversary's last request must end before "off" counts
                        await asyncio.sleep(0.05)
                    quit_.set()
                    child.join(60)
                    quit_.clear()
                    while not results.empty():
                        big.append(results.get())
                await load.settled(phase)
                await asyncio.sleep(2)  # what queued behind the last adversary drains before the next phase
                busy = busy_pct(cores0, cores1)
                row = {
                    "phase": phase,
                    "kind": kind or "off",
                    "round": round_,
                    **stats(load.latency.get(phase, [])),
                    "errors": load.errors.get(phase, 0),
                    "gateway_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                    "cpu0_busy_pct": busy[0],
                    "cpu1_busy_pct": busy[1],
                    "adversary": big,
                }
                rows.append(row)
                with out.open("a") as sink:
                    sink.write(json.dumps(row) + "\n")
                shown = ", ".join(f"{b['status']}: {b['seconds']:.2f}" for b in big[:6]) + (
                    " ..." if len(big) > 6 else ""
                )
                print(f"{phase:<16} {row['n']:>6} {row.get('p50', 0):>7.1f} {row.get('p90', 0):>7.1f} "
                      f"{row.get('p99', 0):>8.1f} {row.get('max', 0):>8.1f} {row['errors']:>4} "
                      f"{row['gateway_cpu_pct']:>7.1f} {busy[0]:>4} {busy[1]:>4}  {shown}", flush=True)  # fmt: skip
        stop.set()
        await runner
    return rows, load.latency


def pooled(rows: list[dict[str, Any]], latency: dict[str, list[float]]) -> list[dict[str, Any]]:
    """All "off" phases together, and each kind's "on" phases together."""
    summary = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        phases = [r["phase"] for r in rows if r["kind"] == kind]
        values = [v for p in phases for v in latency.get(p, [])]
        big = [b for r in rows if r["kind"] == kind for b in r["adversary"]]
        summary.append(
            {
                "kind": "summary",
                "phases": kind,
                **stats(values),
                "errors": sum(r["errors"] for r in rows if r["kind"] == kind),
                "gateway_cpu_pct": statistics.median(r["gateway_cpu_pct"] for r in rows if r["kind"] == kind),
                "adversary_requests": len(big),
                "adversary_statuses": sorted({b["status"] for b in big}),
                "adversary_seconds_median": statistics.median(b["seconds"] for b in big) if big else None,
            }
        )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="steady requests per second")
    parser.add_argument("--phase", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--kinds", type=lambda s: s.split(","), default=["digits", "emails", "separators", "cards"])
    parser.add_argument("--size", type=int, default=1024 * 1024, help="adversarial prompt, characters")
    parser.add_argument("--body", choices=["privacy", "json"], default="privacy")
    parser.add_argument("--profile", help="py-spy each phase of round 1 into this directory (collapsed stacks)")
    parser.add_argument("--profile-gil", action="store_true", help="with --profile: sample the GIL holder only")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="experiment: the gateway runs with sys.setswitchinterval(S) (a sitecustomize on its PYTHONPATH)",
    )
    args = parser.parse_args()
    unknown = set(args.kinds) - set(bodies.ADVERSARIES)
    if unknown:
        parser.error(f"unknown --kinds {', '.join(sorted(unknown))} (known: {', '.join(sorted(bodies.ADVERSARIES))})")
    pin(0)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = HERE.parent / "results" / f"adversary-{stamp}.jsonl"
    data = Path(tempfile.mkdtemp(prefix="vaultgate-adversary."))
    gw = Gateway(data)
    if args.switch_interval:
        site = data / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(f"import sys\nsys.setswitchinterval({args.switch_interval!r})\n")
        gw.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), gw.env.get("PYTHONPATH")]))
    try:
        url, gateway = gw.start()
        tokens = []
        for name in ("steady", "adversary"):
            gw.cli("member", "add", name)
            created = gw.cli("key", "create", "--member", name, "--rpm", "1000000", "--tpm", "10000000000",
                             "--privacy", POLICY, "--json")  # fmt: skip
            tokens.append(json.loads(created)["key"])
        args.body_file = str(data / "prompt4k.json")
        Path(args.body_file).write_bytes(bodies.prompt4k(bodies.prompt_values()))
        commit = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        header = (f"# {stamp} adversary: steady {args.body} load at {args.rate:g} req/s, phases of {args.phase:g} s, "
                  f"{args.rounds} rounds, adversaries {','.join(args.kinds)} of {args.size} characters; "
                  f"policy {POLICY}; commit {commit.stdout.strip()}; load {os.getloadavg()[0]:.2f}"
                  + (f"; switch interval {args.switch_interval} s" if args.switch_interval else ""))  # fmt: skip
        print(header, flush=True)
        out.write_text(header + "\n")
        rows, latency = asyncio.run(drive(args, url, (tokens[0], tokens[1]), gateway.pid, out))
        rss = resources(gateway.pid)[0]
    finally:
        gw.stop()
        shutil.rmtree(data, ignore_errors=True)
    summary = pooled(rows, latency)
    with out.open("a") as sink:
        for line in summary:
            sink.write(json.dumps(line) + "\n")
        sink.write(json.dumps({"kind": "end", "gateway_rss_mib": round(rss, 1)}) + "\n")
    print(f"\n# pooled: steady requests' latency (ms) by phase kind; gateway RSS at the end {rss:.1f} MiB")
    off = next((line for line in summary if line["phases"] == "off"), None)
    for line in summary:
        change = ""
        if off is not None and line is not off and off.get("p99") and line.get("p99"):
            change = f"  p99 {100 * (line['p99'] / off['p99'] - 1):+.0f}% against off"
        print(f"{line['phases']:<12} n {line['n']:>6}  p50 {line.get('p50', 0):>7.1f}  p99 {line.get('p99', 0):>8.1f}  "
              f"max {line.get('max', 0):>8.1f}  errors {line['errors']}  gateway cpu {line['gateway_cpu_pct']:.0f}%  "
              f"adversary: {line['adversary_requests']} requests, statuses {line['adversary_statuses']}, "
              f"median {line['adversary_seconds_median']} s{change}")  # fmt: skip
    print(f"raw results: {out}", file=sys.stderr)
    errors = sum(line["errors"] for line in summary)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
