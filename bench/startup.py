"""make bench-startup: how long a fresh `vaultgate serve` takes to be ready, and what it holds in memory.

Each run sets up a throwaway data dir through the real CLI (as bench/run.sh does: SQLite, in-process
limits, here the offline ``echo`` provider so no upstream is needed), starts ``vaultgate serve`` with one
worker (the serving process is the worker), polls ``/readyz`` every 10 ms, and records:

- ``ready_s``: seconds from spawning the process to the first 200 from ``/readyz``;
- ``rss_ready_mb``: VmRSS of the process (``/proc/<pid>/status``) at that moment;
- ``rss_first_mb``: VmRSS after one chat completion through the gateway (a member key without limits,
  the echo provider);
- ``rss_tokens_mb``: after one more with a key that has a TPM limit (the first request that counts
  tokens loads tiktoken);
- ``rss_admin_mb``, ``rss_scim_mb``, ``rss_console_mb``: after one ``/admin``, one ``/scim/v2`` and one
  ``/console`` request, in that order (what the other planes cost once they are used).

STARTUP_RUNS runs (5); it prints each run and the medians, and appends one JSON line per run to
bench/results/startup-<stamp>.jsonl. ``--breakdown`` also prints ``python -X importtime`` of
``import vaultgate.server`` (the 25 slowest) and the packages a built gateway has imported, with
tracemalloc's allocation by package while building it (docs/PERFORMANCE.md, "Start-up and memory").
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RUNS = int(os.environ.get("STARTUP_RUNS", "5"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (MiB)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kib / 1024


def chat(http: httpx.Client, url: str, key: str) -> None:
    answer = http.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
    )
    if answer.status_code != 200:
        sys.exit(f"bench-startup: a chat completion answered {answer.status_code}: {answer.text[:300]}")


class Run:
    """One throwaway data dir, set up through the CLI, and one `vaultgate serve` on it."""

    def __init__(self, data: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGATE_")}
        self.env["VAULTGATE_DATA_DIR"] = str(data / "vaultgate")
        self.log = data / "serve.log"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "vaultgate", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            sys.exit(f"bench-startup: vaultgate {' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout

    def prepare(self) -> tuple[str, str, str]:
        """The admin token, a member key without limits and one with a TPM limit."""
        admin = json.loads(self.cli("init", "--json"))["admin_token"]
        self.cli("provider", "add", "echo", "--kind", "echo", "--default")
        self.cli("member", "add", "bench")
        key = json.loads(self.cli("key", "create", "--member", "bench", "--json"))["key"]
        limited = json.loads(self.cli("key", "create", "--member", "bench", "--tpm", "100000000", "--json"))["key"]
        return admin, key, limited

    def measure(self) -> dict[str, float]:
        admin, key, limited = self.prepare()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "vaultgate", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with self.log.open("wb") as out:
            start = time.perf_counter()
            server = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(timeout=30) as http:
                ready = self.wait_ready(http, url, server, start)
                row = {"ready_s": ready, "rss_ready_mb": rss_mb(server.pid)}
                chat(http, url, key)
                row["rss_first_mb"] = rss_mb(server.pid)
                chat(http, url, limited)
                row["rss_tokens_mb"] = rss_mb(server.pid)
                http.get(f"{url}/admin/members", headers={"authorization": f"Bearer {admin}"}).raise_for_status()
                row["rss_admin_mb"] = rss_mb(server.pid)
                http.get(f"{url}/scim/v2/ServiceProviderConfig")  # 401 without a SCIM token: the app is built
                row["rss_scim_mb"] = rss_mb(server.pid)
                http.get(f"{url}/console/login")
                row["rss_console_mb"] = rss_mb(server.pid)
                return row
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def wait_ready(self, http: httpx.Client, url: str, server: subprocess.Popen[bytes], start: float) -> float:
        deadline = start + 120
        while True:
            try:
                if http.get(url + "/readyz").status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.perf_counter() > deadline:
                sys.exit(f"bench-startup: the gateway did not get ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.01)


BREAKDOWN = r"""
import collections, sys, tracemalloc, resource, os
tracemalloc.start(1)
from vaultgate import config, server
settings = config.load()
before = set(sys.modules)
gateway = server.build(settings)
snap = tracemalloc.take_snapshot()
by_package = collections.Counter()
for stat in snap.statistics("filename"):
    name = stat.traceback[0].filename
    part = name.split("site-packages/")[-1] if "site-packages/" in name else (
        "vaultgate/" + name.split("/vaultgate/")[-1] if "/vaultgate/" in name else name)
    by_package[part.split("/")[0] if "site-packages/" in name else part.split("/")[0]] += stat.size
print("tracemalloc, allocated and still held after import + build, by top-level package (MB):")
for package, size in by_package.most_common(15):
    print(f"  {package:<28} {size / 2**20:7.1f}")
print(f"  {'total':<28} {sum(by_package.values()) / 2**20:7.1f}")
status = open(f"/proc/{os.getpid()}/status").read()
rss = [line for line in status.splitlines() if line.startswith("VmRSS")][0]
print("VmRSS after build (with tracemalloc's own overhead):", rss)
tops = sorted({m.split('.')[0] for m in sys.modules if not m.startswith('_')})
print(f"{len(sys.modules)} modules; top-level packages:", " ".join(tops))
watch = ["scim2_models", "joserfc", "tiktoken", "fastapi", "pydantic", "prometheus_client", "aiohttp",
         "redis", "opentelemetry", "spacy", "presidio_analyzer", "sqlalchemy", "jinja2", "typer", "uvicorn"]
print("imported:", ", ".join(f"{m}={'yes' if m in sys.modules else 'no'}" for m in watch))
"""


def breakdown(env: dict[str, str]) -> None:
    """importtime of `import vaultgate.server`, then what a built gateway holds (needs a data dir in env)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import vaultgate.server"], capture_output=True, text=True, env=env
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    total = next((us for us, name in rows if name.strip() == "vaultgate.server"), 0)
    print(f"python -X importtime -c 'import vaultgate.server': {total / 1e6:.2f} s cumulative; slowest 25:")
    for us, name in sorted(rows, reverse=True)[:25]:
        print(f"  {us / 1e3:8.1f} ms {name}")
    subprocess.run([sys.executable, "-c", BREAKDOWN], env=env, check=True)


COLUMNS = ("rss_ready_mb", "rss_first_mb", "rss_tokens_mb", "rss_admin_mb", "rss_scim_mb", "rss_console_mb")


def line(label: str, row: dict[str, float]) -> str:
    return f"{label:>3} {row['ready_s']:>8.2f} " + " ".join(f"{row[name]:>9.1f}" for name in COLUMNS)


def main() -> None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = HERE / "results" / f"startup-{stamp}.jsonl"
    out.parent.mkdir(exist_ok=True)
    rows = []
    print(f"# bench-startup: {RUNS} runs, `vaultgate serve` (1 worker, SQLite, in-process limits, echo provider)")
    print(
        f"{'run':>3} {'ready s':>8} "
        + " ".join(f"{h:>9}" for h in ("RSS ready", "1st req", "+tokens", "+admin", "+scim", "+console"))
        + "  (MB)"
    )
    for index in range(RUNS):
        data = Path(tempfile.mkdtemp(prefix="vaultgate-startup."))
        try:
            run = Run(data)
            row = run.measure()
            if index == RUNS - 1 and "--breakdown" in sys.argv:
                print()
                breakdown(run.env)
                print()
        finally:
            shutil.rmtree(data, ignore_errors=True)
        rows.append(row)
        print(line(f"{index + 1:>3}", row))
        with out.open("a") as lines:
            lines.write(json.dumps({"stamp": stamp, "run": index + 1, "id": secrets.token_hex(3), **row}) + "\n")
    median = {name: statistics.median(r[name] for r in rows) for name in rows[0]}
    print(line("med", median))
    print(f"raw lines: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
