"""`make bench-check`: the data plane's instructions per request (callgrind) against bench/budget.json.

Wall-clock figures on a shared machine move with the neighbours; the number of instructions the
gateway executes for a request does not (same Python, same libraries, same input). This runs the
real app (``server.create_app``, as ``bench/gateway_micro.py`` does: same throwaway data dir made
through the CLI, same ~600-byte chat request, a key with rpm/tpm limits, the in-process limiter,
accounting and the default privacy rules on) in a child process under ``valgrind --tool=callgrind``
pinned to core 1, calling its ASGI entry point directly (no HTTP server in front); the upstream is
the loopback stub (``bench/upstream_stub.py``) in its own process on core 0, so the aiohttp client
path is exercised and only the gateway process is counted.

The child starts with instrumentation off, warms up (``--warmup`` requests of each mode), then for
each mode this process switches instrumentation on and zeroes the counters (``callgrind_control``),
the child runs the measured requests (``--concurrency`` at a time) and writes their usage rows (one
batch: the periodic flush, snapshot refresh and security-event flush are set far beyond the run so
no timer adds work whose amount depends on how slow valgrind made the run), and a dump is taken.
Instructions per request = the dump's total / requests: all threads of the gateway process, the
usage writer's included.

    python bench/check.py              # measure, compare with bench/budget.json; exit 1 if over
    python bench/check.py --update     # measure and rewrite the budget (a deliberate act: commit it
                                       # with the change that justifies the new figures)
    python bench/check.py --annotate 25  # also the top C functions by inclusive count (JSON)

Exit status: 0 within budget, 1 a mode over budget (the message says which and by how much),
2 the run itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUDGET = HERE / "budget.json"
MODES = ("json", "sse")
# Timers whose work depends on wall time, not on requests: pushed beyond any run (see the docstring).
QUIET_TIMERS = {
    "VAULTGATE_USAGE_FLUSH_INTERVAL": "86400",
    "VAULTGATE_REFRESH_INTERVAL": "86400",
    "VAULTGATE_MAX_STALENESS": "172800",
    "VAULTGATE_SECURITY_EVENTS_FLUSH_SECONDS": "86400",
}


# --- the child: the gateway under callgrind -------------------------------------------------------


def _wait_for(command: str) -> None:
    """Block until the parent writes ``command``; polls so valgrind can serve callgrind_control."""
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if ready:
            line = sys.stdin.readline().strip()
            if line == command:
                return
            raise SystemExit(f"child: expected {command!r}, got {line!r}")


def _tell(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


async def _child(key: str, counts: dict[str, int], warmup: int, concurrency: int) -> None:
    sys.path.insert(0, str(HERE))
    from gateway_micro import BODY, chat_scope

    from vaultgate.server import create_app

    sse_body = BODY[:-1] + b',"stream":true,"stream_options":{"include_usage":true}}'
    app = create_app()
    await app.start()
    statuses: dict[int, int] = {}

    async def run(body: bytes, requests: int) -> None:
        template = chat_scope(key, body)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        async def worker(count: int) -> None:
            for _ in range(count):
                await app(dict(template), receive, send)

        share, extra = divmod(requests, concurrency)
        await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
        await app.recorder.flush()  # the batch's usage rows belong to the requests measured

    bodies = {"json": BODY, "sse": sse_body}
    for mode in MODES:
        if counts[mode]:
            await run(bodies[mode], warmup)
    _tell("ready")
    for mode in MODES:
        if counts[mode]:
            _wait_for(mode)
            await run(bodies[mode], counts[mode])
            _tell(f"done {mode}")
    _wait_for("stop")
    await app.stop()
    if set(statuses) != {200}:
        raise SystemExit(f"child: not every answer was 200: {statuses}")
    _tell("stopped")


# --- the parent: stub, data dir, valgrind, counters ----------------------------------------------


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=300)


def _expect(child: subprocess.Popen[str], wanted: str) -> None:
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != wanted:
        raise RuntimeError(f"gateway under callgrind said {line!r}, expected {wanted!r} (see its log)")


def _send(child: subprocess.Popen[str], line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()


def _total(path: Path) -> int:
    """The instruction total of one callgrind output file."""
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def measure(args: argparse.Namespace, out: Path) -> tuple[dict[str, float], dict[str, Path]]:
    """Run the gateway under callgrind once; instructions per request per mode and the dump files."""
    sys.path.insert(0, str(HERE))
    from gateway_micro import _free_port, _setup

    stub_port, stub_key = _free_port(), f"sk-stub-{os.getpid()}"
    stub_command = [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(stub_port), "--api-key", stub_key]
    stub = subprocess.Popen(["taskset", "-c", "0", *stub_command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert stub.stdout is not None
    stub.stdout.readline()  # "upstream stub listening ...": it accepts connections from here on
    child: subprocess.Popen[str] | None = None
    try:
        data = out / "vaultgate"
        key = _setup(data, stub_port, stub_key)
        env = {
            **os.environ,
            "VAULTGATE_DATA_DIR": str(data),
            "VAULTGATE_LOG_LEVEL": os.environ.get("VAULTGATE_LOG_LEVEL", "warning"),
            "PYTHONHASHSEED": "0",
            **QUIET_TIMERS,
        }
        counts = {"json": args.json, "sse": args.sse}
        child_args = ["--child", key, "--json", str(args.json), "--sse", str(args.sse)]
        child_args += ["--warmup", str(args.warmup), "--concurrency", str(args.concurrency)]
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--log-file={out}/valgrind.log"]
        valgrind += [f"--callgrind-out-file={out}/callgrind.out"]
        child = subprocess.Popen(
            ["taskset", "-c", "1", *valgrind, sys.executable, str(Path(__file__).resolve()), *child_args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        _expect(child, "ready")
        per_request: dict[str, float] = {}
        dumps: dict[str, Path] = {}
        before = set(out.glob("callgrind.out*"))
        for mode in MODES:
            if not counts[mode]:
                continue
            _control(child.pid, "--instr=on")
            _control(child.pid, "--zero")
            _send(child, mode)
            _expect(child, f"done {mode}")
            _control(child.pid, f"--dump={mode}")
            _control(child.pid, "--instr=off")
            new = sorted(set(out.glob("callgrind.out*")) - before, key=lambda p: p.stat().st_mtime)
            if len(new) != 1:
                raise RuntimeError(f"expected one new callgrind dump after {mode}, found {new}")
            before |= set(new)
            dumps[mode] = new[0]
            per_request[mode] = _total(new[0]) / counts[mode]
        _send(child, "stop")
        _expect(child, "stopped")
        if child.wait(timeout=600) != 0:
            raise RuntimeError(f"the gateway under callgrind exited with {child.returncode}")
        return per_request, dumps
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        stub.terminate()
        stub.wait()


# --- where the instructions go ---------------------------------------------------------------------

_ANNOTATED = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*?)(?:\s+\[(.*)\])?\s*$")
# Interpreter and event-loop plumbing: inclusive counts near 100 % that say nothing about the gateway.
_PLUMBING = re.compile(
    r"'\d|^\?\?\?|Eval|[Vv]ectorcall|_Call|_call\b|call_|iternext|[Ss]end\b|task_|TaskStep|uv_run|uv__run|"
    r"uv__io|Handle__run|MakeTpCall|FastCall|_on_idle|idle_callback|Pyx_PyObject|slot_tp|FramePushAndInit|context_run|_PyObject_Call"
)
# Exclusive counts grouped into what they are, first match wins (file:function, then the object).
_AREAS = (
    ("regular expressions (_sre: detectors, scrubbing, validation)", r"_sre/|sre_"),
    ("SQLite (the usage batch)", r"sqlite"),
    ("orjson", r"orjson"),
    ("hashing and HMAC (libcrypto, hashlib, hmac)", r"libcrypto|_hashlib|sha|hmac|md5|blake"),
    ("tiktoken", r"tiktoken|_tiktoken"),
    ("aiohttp and multidict C parts", r"multidict|_http_parser|_http_writer|aiohttp|yarl|propcache|frozenlist"),
    ("uvloop and libuv (I/O)", r"uvloop|libuv|loop\.so"),
    ("pydantic-core", r"pydantic"),
    ("allocation, deallocation, GC", r"obmalloc|dealloc|_Free\b|_Malloc|gcmodule|_GC_|_Py_NewReference|alloc"),
    ("dict, set and attribute lookup", r"dictobject|setobject|GetAttr|_PyType_Lookup|GetMethod|descr"),
    ("str and bytes operations", r"unicodeobject|bytesobject|stringlib|bytearray|unicodectype"),
    ("libc (memcpy, memset, ...)", r"libc\.so|/string/|sysdeps"),
    (
        "interpreter: bytecode, frames, calls",
        r"ceval|[Ff]rame|call|abstract|genobject|funcobject|methodobject|pystate|getargs",
    ),
    (
        "hashing, comparing, tuples, lists, ints, types",
        r"pyhash|Hash|Compare|IsTrue|tuple|list|long|typeobject|object\.c",
    ),
)


def _object(file_function: str, obj: str | None) -> str:
    if obj:
        return re.sub(r"\.cpython-311-x86_64-linux-gnu\.so$", ".so", Path(obj).name)
    return "libpython3.11.so.1.0" if "Python-3." in file_function else "?"


def _rows(dump: Path, inclusive: bool) -> list[tuple[int, str, str]]:
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}", str(dump)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = []
    for line in text.splitlines():
        match = _ANNOTATED.match(line)
        if match and not match.group(3).startswith("PROGRAM TOTALS"):
            found.append(
                (int(match.group(1).replace(",", "")), match.group(3), _object(match.group(3), match.group(4)))
            )
    return found


def annotate(dump: Path, top: int) -> tuple[list[tuple[int, str, str]], list[tuple[str, int]], int]:
    """The top functions by inclusive count (plumbing left out), exclusive counts by area, the total."""
    inclusive, seen = [], set()
    for count, name, obj in _rows(dump, inclusive=True):
        function = name.rsplit(":", 1)[-1]
        if _PLUMBING.search(name) or function in seen:
            continue
        seen.add(function)
        inclusive.append((count, function, obj))
        if len(inclusive) == top:
            break
    areas: dict[str, int] = {}
    total = 0
    for count, name, obj in _rows(dump, inclusive=False):
        total += count
        where = f"{name} {obj}"
        area = next((label for label, pattern in _AREAS if re.search(pattern, where)), "other")
        areas[area] = areas.get(area, 0) + count
    return inclusive, sorted(areas.items(), key=lambda item: -item[1]), total


def _print_annotation(dump: Path, top: int, requests: int) -> None:
    inclusive, areas, total = annotate(dump, top)
    print(f"\ntop {top} functions by inclusive instructions (interpreter and event-loop plumbing left out):")
    for count, function, obj in inclusive:
        print(f"  {100 * count / total:5.1f} %  {count / requests:>10,.0f}/req  {function}  [{obj}]")
    print("\nexclusive instructions by area:")
    for area, count in areas:
        print(f"  {100 * count / total:5.1f} %  {count / requests:>10,.0f}/req  {area}")


# --- budget ------------------------------------------------------------------------------------------


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE, capture_output=True, text=True)
    return result.stdout.strip() + ("+dirty-src" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("aiohttp", "orjson", "starlette", "uvloop", "sqlalchemy", "tiktoken")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:  # a missing package is reported as such
            found[name] = "missing"
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    return {**found, "valgrind": valgrind}


def compare(budget: dict[str, Any], measured: dict[str, float]) -> list[str]:
    """One message per mode over its budget (empty: within budget)."""
    tolerance = float(budget["tolerance_pct"])
    over = []
    for mode, figure in measured.items():
        allowed = budget["instructions_per_request"].get(mode)
        if allowed is None:
            continue
        if figure > allowed * (1 + tolerance / 100):
            change = 100 * (figure / allowed - 1)
            over.append(
                f"{mode}: {figure:,.0f} instructions per request, budget {allowed:,.0f} + {tolerance:g} % "
                f"= {allowed * (1 + tolerance / 100):,.0f} ({change:+.1f} %)"
            )
    return over


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", metavar="KEY", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=int, default=None, help="JSON requests measured (budget's, else 2000)")
    parser.add_argument("--sse", type=int, default=None, help="streamed requests measured (budget's, else 500)")
    parser.add_argument("--warmup", type=int, default=None, help="requests of each mode before measuring (300)")
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (8)")
    parser.add_argument("--budget", default=str(BUDGET), help="the budget file (bench/budget.json)")
    parser.add_argument("--runs", type=int, default=1, help="measure N times and take the median (--update: use 3)")
    parser.add_argument("--update", action="store_true", help="rewrite the budget file with this run's figures")
    parser.add_argument("--tolerance", type=float, default=None, help="with --update: the tolerance in %% (5)")
    parser.add_argument("--annotate", type=int, default=0, metavar="N", help="print the top N functions (JSON)")
    parser.add_argument("--annotate-file", metavar="DUMP", help="only annotate a kept JSON dump (--json: its count)")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind files in DIR")
    parser.add_argument("--result", metavar="FILE", help="append this run's figures as a JSON line to FILE")
    args = parser.parse_args()

    path = Path(args.budget)
    budget: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    parameters = {"json": 2000, "sse": 500, "warmup": 300, "concurrency": 8, **budget.get("parameters", {})}
    for name in parameters:
        if getattr(args, name) is None:
            setattr(args, name, parameters[name])

    if args.annotate_file:  # an earlier run's dump (--keep), e.g. DIR/callgrind.out.1 for JSON
        _print_annotation(Path(args.annotate_file), args.annotate or 30, args.json)
        return 0
    if args.child:
        import uvloop

        counts = {"json": args.json, "sse": args.sse}
        uvloop.run(_child(args.child, counts, args.warmup, args.concurrency))
        return 0

    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "taskset"):
        if shutil.which(tool) is None:
            print(f"bench-check: {tool} is not installed (Debian: apt-get install valgrind util-linux)")
            return 2
    used = {name: getattr(args, name) for name in parameters}
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vaultgate-check."))
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    runs: list[dict[str, float]] = []
    for run in range(args.runs):
        where = out / f"run{run + 1}" if args.runs > 1 else out
        where.mkdir(parents=True, exist_ok=True)
        try:
            figures, dumps = measure(args, where)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"bench-check: the run failed: {exc} (files in {where})")
            return 2
        runs.append(figures)
        if args.runs > 1:
            print(f"run {run + 1}: " + ", ".join(f"{mode} {figure:,.0f}" for mode, figure in figures.items()))
    measured = {mode: statistics.median(figures[mode] for figures in runs) for mode in runs[0]}
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    median = f"median of {args.runs} runs, " if args.runs > 1 else ""
    print(f"instructions per request (callgrind, {median}{used}, {seconds:.0f} s):")
    for mode, figure in measured.items():
        allowed = budget.get("instructions_per_request", {}).get(mode)
        against = f"  budget {allowed:,.0f} ({100 * (figure / allowed - 1):+.1f} %)" if allowed else ""
        spread = [figures[mode] for figures in runs]
        if len(spread) > 1:
            against += f"  spread {100 * (max(spread) - min(spread)) / min(spread):.2f} %"
        print(f"  {mode:5} {figure:>12,.0f}{against}")
    if args.result:
        line = {"at": started.isoformat(timespec="seconds"), "commit": _commit(), "parameters": used}
        with open(args.result, "a") as sink:
            sink.write(json.dumps({**line, "instructions_per_request": measured}) + "\n")
    if args.annotate and "json" in dumps:
        _print_annotation(dumps["json"], args.annotate, args.json)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)

    if args.update:
        tolerance = args.tolerance if args.tolerance is not None else float(budget.get("tolerance_pct", 5))
        new = {
            "instructions_per_request": {mode: round(figure) for mode, figure in measured.items()},
            "tolerance_pct": tolerance,
            "parameters": used,
            "runs": args.runs,
            "measured": {"commit": _commit(), "date": started.isoformat(timespec="seconds"), **_versions()},
        }
        path.write_text(json.dumps(new, indent=2) + "\n")
        print(f"\nbudget rewritten: {path} (commit it with the change that explains it)")
        return 0
    if not budget:
        print(f"bench-check: no budget in {path} yet; run with --update to create it")
        return 2
    if used != {**parameters, **budget.get("parameters", {})}:
        print("note: parameters differ from the budget's; the figures are not strictly comparable")
    over = compare(budget, measured)
    if over:
        print(f"\nbench-check FAILED: over the instruction budget ({path})")
        for message in over:
            print(f"  {message}")
        print("Find where with --annotate 30; if the increase is deliberate, run with --update and commit.")
        return 1
    print(f"\nbench-check passed: every mode within its budget + {budget['tolerance_pct']:g} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
