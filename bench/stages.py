"""`make bench-stages`: where a request's CPU goes in the real server, by component, sampled with py-spy.

``bench/check.py`` counts instructions (exact, but C functions only: it says *that* the interpreter
runs, not *whose* code); ``bench/gateway_micro.py --profile`` names Python functions but cProfile
inflates small ones and leaves the HTTP server out. This runs what a user runs: a throwaway data
dir made through the real CLI (as ``bench/gateway_micro.py``), ``vaultgate serve`` on core 1, the
upstream stub and wrk on core 0 (``bench/wrk/openai.lua``, the same ~600-byte chat request), and
``py-spy record --gil`` on the server's process for ``--seconds``: at each sample, the stack of the
thread holding the interpreter (threads waiting on a queue or a socket are not counted; each sample
pauses the server for a moment, so the stacks are consistent). Each stack is read from the innermost
frame outwards; the first frame that belongs to a known component (see ``COMPONENTS``) gets the
sample, so a ``dict.get`` inside the privacy scan counts for the privacy scan and the asyncio/uvloop
frames count as the event loop. Code in C (orjson, regex, hashing) counts for the Python frame that
called it.

    .venv/bin/python bench/stages.py [--mode json|sse] [--seconds 20] [--connections 64]

Needs ``py-spy`` (``.venv/bin/pip install py-spy``: a measurement tool, not a dependency) and
``wrk``. Prints a Markdown table: component, share of the samples, and the CPU microseconds per
request that share is of the server's measured CPU per request. Samples are statistics: two
runs differ by a point or two per row.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gateway_micro import _free_port, _setup  # noqa: E402  (bench/ is a folder of scripts, not a package)

# (component, substrings of a frame's "function (file)" text); the first component whose pattern a
# frame matches, looking from the innermost frame outwards, gets the sample. Order matters only
# for frames that match two patterns.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("privacy scan (detect/, privacy/)", ("(vaultgate/privacy/", "(vaultgate/detect/")),
    ("credential scrub of answers", ("(vaultgate/gateway/scrub.py",)),
    ("usage accounting and its writer", ("(vaultgate/usage/", "(vaultgate/gateway/account.py")),
    ("store writes (usage rows: SQLAlchemy, SQLite)", ("(sqlalchemy/", "(vaultgate/services/", "(vaultgate/store/")),
    ("audit and security events", ("(vaultgate/audit/", "(vaultgate/gateway/security_events.py")),
    ("limits (admission, settle)", ("(vaultgate/limits/", "(vaultgate/gateway/admit.py")),
    ("authn (token parse, keyed hash, lookup)", ("(vaultgate/gateway/authn.py", "(vaultgate/keys/")),
    ("policy decision", ("(vaultgate/policy/",)),
    ("body read and JSON parse", ("(vaultgate/gateway/read.py", "(vaultgate/gateway/strict_json.py", "(orjson")),
    ("metrics, logs, traces", ("(vaultgate/metrics.py", "(vaultgate/logs.py", "(vaultgate/tracing.py", "(logging/")),
    ("upstream client (aiohttp)", ("(aiohttp/", "(multidict/", "(yarl/")),
    ("upstream adapter and failover", ("(vaultgate/upstream/", "(vaultgate/gateway/failover.py")),
    ("relay to the client (JSON, SSE)", ("(vaultgate/gateway/relay.py", "(vaultgate/gateway/streams.py")),
    ("the pipeline's own steps", ("(vaultgate/gateway/", "(vaultgate/server.py")),
    ("HTTP server (uvicorn, httptools)", ("(uvicorn/", "(httptools/", "(h11/")),
    ("event loop (asyncio, uvloop)", ("(asyncio/", "(uvloop/", "run_forever", "run_until_complete")),
)
OTHER = "other (interpreter, threads outside these)"


def component_of(stack: list[str]) -> str:
    """The component of one sample: ``stack`` is py-spy's frames, outermost first."""
    for frame in reversed(stack):
        for name, patterns in COMPONENTS:
            if any(p in frame for p in patterns):
                return name
    return OTHER


def classify(raw: Path) -> collections.Counter[str]:
    """py-spy's ``--format raw`` (collapsed stacks: ``frame;frame;... count``) counted by component."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[component_of(stack.split(";"))] += int(count)
    return counts


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("vaultgate serve did not become ready in 60 s")


def _wrk(port: int, key: str, stream: bool, seconds: int, connections: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_TOKEN": key, "BENCH_STREAM": "1" if stream else "0"}
    command = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(HERE / "wrk" / "openai.lua"), f"http://127.0.0.1:{port}"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    return dict(json.loads(line[len("BENCH_JSON ") :]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("json", "sse"), default="json")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (0: none)")
    parser.add_argument("--sse-deltas", type=int, help="content deltas per streamed answer (the stub's default: 10)")
    parser.add_argument("--keep", type=Path, help="also keep py-spy's raw stacks in this file")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists() or shutil.which("wrk") is None:
        raise SystemExit("needs py-spy (.venv/bin/pip install py-spy) and wrk (apt-get install wrk)")
    stub_port, port, stub_key = _free_port(), _free_port(), f"sk-stub-{os.getpid()}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="vaultgate-stages.") as tmp:
        try:
            stub = [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(stub_port), "--api-key", stub_key]
            stub += ["--sse-deltas", str(args.sse_deltas)] if args.sse_deltas is not None else []
            procs.append(subprocess.Popen(["taskset", "-c", "0", *stub], stdout=subprocess.DEVNULL))
            key = _setup(Path(tmp) / "vaultgate", stub_port, stub_key)
            env = {**os.environ, "VAULTGATE_DATA_DIR": str(Path(tmp) / "vaultgate"), "STUB_KEY": stub_key}
            env.setdefault("VAULTGATE_LOG_LEVEL", "warning")
            serve = [str(Path(sys.executable).with_name("vaultgate")), "serve", "--port", str(port)]
            server = subprocess.Popen(["taskset", "-c", "1", *serve], env=env, stdout=subprocess.DEVNULL)
            procs.append(server)
            _wait_ready(port)
            _wrk(port, key, args.mode == "sse", 3, args.connections)  # warm-up
            raw = Path(tmp) / "stacks.txt"
            spy = [py_spy, "record", "--gil", "--format", "raw", "--rate", str(args.rate)]
            spy += ["--duration", str(args.seconds + 1), "--pid", str(server.pid), "--output", str(raw)]
            sampler = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if args.rate else None
            cpu = _cpu_seconds(server.pid)
            result = _wrk(port, key, args.mode == "sse", args.seconds, args.connections)
            cpu = _cpu_seconds(server.pid) - cpu
            counts: collections.Counter[str] = collections.Counter()
            if sampler is not None:
                sampler.wait(timeout=args.seconds + 60)
                if args.keep is not None:
                    shutil.copyfile(raw, args.keep)
                counts = classify(raw)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
    requests = result["requests"]
    us_per_request = cpu / requests * 1e6
    total = sum(counts.values())
    print(
        f"{args.mode}: {requests / args.seconds:.0f} req/s, {us_per_request:.0f} µs CPU per request, "
        f"p50 {result['p50_us'] / 1000:.2f} ms, p99 {result['p99_us'] / 1000:.2f} ms, {total} samples"
    )
    if not total:
        return
    print("\n| component | share | µs per request |\n| --- | ---: | ---: |")
    for name, count in counts.most_common():
        print(f"| {name} | {100 * count / total:.1f} % | {us_per_request * count / total:.0f} |")


if __name__ == "__main__":
    main()
