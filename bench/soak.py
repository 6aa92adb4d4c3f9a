"""make soak: hours of traffic in minutes' worth of checks: a real gateway under steady mixed load, a key
rotated and another revoked halfway, and the gateway's latency, memory and file descriptors over time.

It starts the upstream stub (bench/upstream_stub.py) and `vaultgate serve` on loopback with a throwaway
data dir (SQLite; PostgreSQL and Redis when SOAK_DATABASE_URL / SOAK_REDIS_URL are given), sets them up
through the CLI as an admin would, and drives chat completions, JSON and streamed, with httpx (one
request each, no retries; the SDK costs about five times the client CPU per request, which on a small
shared machine becomes the bottleneck: SDK compatibility is the end-to-end tests' business) at a fixed
rate, spread over several member keys. Halfway it rotates one key through the admin API (grace
SOAK_GRACE: the old secret must keep working, the new one must start working) and revokes another (its
requests must then get 401, or end with an SSE error event if running: counted as expected, not as
errors).

Every SOAK_INTERVAL seconds it prints a row: requests, expected 401s, unexpected errors, p50/p99
latency (JSON: the whole answer; streams: the last event), the gateway's RSS, open file descriptors
and CPU share. At the end: drift (last interval against the first), the usage rows the gateway wrote
against the requests it answered to a key, and exit status 1 on any unexpected error or mismatch.

Environment: SOAK_SECONDS (600), SOAK_RATE (requests/s, 40), SOAK_INTERVAL (30), SOAK_STREAM_SHARE
(0.5), SOAK_CONCURRENCY (64), SOAK_KEYS (steady keys, 3), SOAK_GRACE (1h), SOAK_PROPAGATION (seconds
a revocation or a new secret may take to reach the gateway, 5), SOAK_WORKERS (1), SOAK_DATABASE_URL
(an empty database), SOAK_REDIS_URL, SOAK_PIN (1: gateway on core 1, the rest on core 0),
KEEP_DATA_DIR=1. With SOAK_REQUESTS set it runs the memory soak instead: that many requests through
wrk, RSS sampled as they go (bench/soak_memory.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Summarise why per-member API keys matter, in one paragraph."}]


def setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


SECONDS = float(setting("SOAK_SECONDS", "600"))
RATE = float(setting("SOAK_RATE", "40"))
INTERVAL = float(setting("SOAK_INTERVAL", "30"))
STREAM_SHARE = float(setting("SOAK_STREAM_SHARE", "0.5"))
CONCURRENCY = int(setting("SOAK_CONCURRENCY", "64"))
STEADY_KEYS = int(setting("SOAK_KEYS", "3"))
GRACE = setting("SOAK_GRACE", "1h")
PROPAGATION = float(setting("SOAK_PROPAGATION", "5"))
WORKERS = int(setting("SOAK_WORKERS", "1"))
PIN = setting("SOAK_PIN", "1") == "1" and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if PIN else argv


@dataclass
class Identity:
    """One secret the load uses, and what its answers should be after ``since`` (monotonic time)."""

    name: str
    secret: str
    role: str = "steady"  # steady | rotated-old | rotated-new | revoked
    since: float = 0.0  # when the rotation or revocation command returned
    started: float = 0.0  # when it was issued (a revocation may land before the command returns)


@dataclass
class Interval:
    """What one reporting interval saw."""

    requests: int = 0
    ok: int = 0
    expected_401: int = 0
    errors: int = 0
    latency: dict[str, list[float]] = field(default_factory=lambda: {"json": [], "sse": []})


@dataclass
class Totals:
    requests: int = 0
    ok: int = 0
    revoked_401: int = 0
    propagating_401: int = 0
    answered_to_a_key: int = 0  # any HTTP answer but a 401: each must leave one usage row
    refused_in_flight: int = 0  # 401s of requests sent before the revocation landed: a row each, or none
    errors: dict[str, int] = field(default_factory=dict)
    first_401_after_revoke: float | None = None
    last_200_after_revoke: float | None = None
    first_200_of_new_secret: float | None = None


def error_code(body: bytes) -> str:
    """The ``code`` of an OpenAI-shaped error body (or what it is instead)."""
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "not an OpenAI error"


def read_json(body: bytes) -> tuple[str, str | None]:
    """A chat.completion's text, or a problem."""
    try:
        return str(json.loads(body)["choices"][0]["message"]["content"] or ""), None
    except (ValueError, KeyError, IndexError, TypeError):
        return "", "unreadable JSON answer"


async def read_stream(response: httpx.Response) -> tuple[str, str | None]:
    """The streamed text, or a problem: an SSE error event, an unreadable event, no final [DONE]."""
    pieces: list[str] = []
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            return "".join(pieces), None
        try:
            event = json.loads(data)
        except ValueError:
            return "", "unreadable SSE event"
        if "error" in event:
            return "", f"SSE error event {event['error'].get('code')}"
        for choice in event.get("choices") or []:
            pieces.append((choice.get("delta") or {}).get("content") or "")
    return "", "stream ended without [DONE]"


class Soak:
    def __init__(self, url: str, identities: list[Identity], http: httpx.AsyncClient) -> None:
        self.identities = identities
        self.url = url
        self.http = http
        self.interval = Interval()
        self.totals = Totals()
        self.random = random.Random(1)  # the load mix, not a secret
        self.gate = asyncio.Semaphore(CONCURRENCY)
        self.tasks: set[asyncio.Task[None]] = set()

    def error(self, kind: str) -> None:
        self.interval.errors += 1
        self.totals.errors[kind] = self.totals.errors.get(kind, 0) + 1

    async def one(self, identity: Identity, stream: bool, t0: float) -> None:
        """One request, scheduled at ``t0``; classified by the identity's role and when it was sent."""
        body: dict[str, object] = {"model": "gpt-4o-mini", "messages": MESSAGES}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        headers = {"authorization": f"Bearer {identity.secret}"}
        sent = time.monotonic()
        try:
            async with self.http.stream("POST", self.url + "/v1/chat/completions", json=body, headers=headers) as r:
                if r.status_code == 401:
                    await r.aread()
                    self.after_401(identity, sent)
                    return
                self.totals.answered_to_a_key += 1
                if r.status_code != 200:
                    self.error(f"HTTP {r.status_code} {error_code(await r.aread())}")
                    return
                text, problem = await read_stream(r) if stream else read_json(await r.aread())
        except httpx.HTTPError as exc:
            self.error(type(exc).__name__)
            return
        done = time.monotonic()
        if problem is not None:
            if identity.role == "revoked" and identity.started:
                # Revocation ends the key's running streams with an SSE error event: expected.
                self.totals.revoked_401 += 1
                self.interval.expected_401 += 1
            else:
                self.error(problem)
            return
        if identity.role == "revoked" and identity.since and sent > identity.since + PROPAGATION:
            self.error("revoked key accepted")
            return
        if not text:
            self.error("empty answer")
            return
        if identity.role == "revoked" and identity.started and sent >= identity.started:
            self.totals.last_200_after_revoke = max(self.totals.last_200_after_revoke or 0, sent - identity.started)
        if identity.role == "rotated-new" and self.totals.first_200_of_new_secret is None:
            self.totals.first_200_of_new_secret = sent - identity.since
        self.interval.ok += 1
        self.totals.ok += 1
        self.interval.latency["sse" if stream else "json"].append((done - t0) * 1000)

    def after_401(self, identity: Identity, sent: float) -> None:
        if identity.role == "revoked" and identity.started and time.monotonic() >= identity.started:
            # Sent before the revocation landed, the key was accepted, then refused (a stream
            # waiting for its upstream is ended): the gateway recorded it, with the key.
            if sent < (identity.since or time.monotonic()):
                self.totals.refused_in_flight += 1
            self.totals.revoked_401 += 1
            if self.totals.first_401_after_revoke is None:
                self.totals.first_401_after_revoke = max(0.0, sent - identity.started)
        elif identity.role == "rotated-new" and sent <= identity.since + PROPAGATION:
            self.totals.propagating_401 += 1
        else:
            self.error(f"401 for a valid {identity.role} key")
            return
        self.interval.expected_401 += 1

    async def send(self, identity: Identity, stream: bool, t0: float) -> None:
        self.interval.requests += 1
        self.totals.requests += 1
        async with self.gate:  # latency counts from the scheduled send: waiting here is part of it
            await self.one(identity, stream, t0)

    def launch(self, t0: float) -> None:
        """Send one request (scheduled at ``t0``) with a random identity, JSON or streamed."""
        identity = self.random.choice(self.identities)
        task = asyncio.create_task(self.send(identity, self.random.random() < STREAM_SHARE, t0))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def process_tree(pid: int) -> list[int]:
    """The gateway and its worker processes (``--workers N``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def resources(pid: int) -> tuple[float, int, float]:
    """RSS in MiB, open file descriptors, CPU seconds: summed over the gateway's processes."""
    rss_kib, fds, ticks = 0, 0, 0
    for proc in process_tree(pid):
        try:
            status = Path(f"/proc/{proc}/status").read_text()
            rss_kib += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            fds += len(os.listdir(f"/proc/{proc}/fd"))
            stat = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(stat[11]) + int(stat[12])
        except (OSError, StopIteration):
            continue
    return rss_kib / 1024, fds, ticks / os.sysconf("SC_CLK_TCK")


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    f"{'elapsed':>8} {'requests':>8} {'req/s':>6} {'ok':>7} {'401 exp':>7} {'errors':>6} "
    f"{'json p50':>8} {'json p99':>8} {'sse p50':>8} {'sse p99':>8} {'rss MiB':>8} {'fds':>5} "
    f"{'gw cpu%':>7} {'drv cpu%':>8} {'load':>5}"
)


@dataclass(frozen=True)
class Row:
    elapsed: float
    interval: Interval
    seconds: float
    rss: float
    fds: int
    cpu: float
    driver_cpu: float

    def p(self, kind: str, share: float) -> float | None:
        return percentile(self.interval.latency[kind], share)

    def text(self) -> str:
        i = self.interval
        return (
            f"{self.elapsed:>7.0f}s {i.requests:>8} {i.requests / self.seconds:>6.1f} {i.ok:>7} {i.expected_401:>7} "
            f"{i.errors:>6} {ms(self.p('json', 0.5)):>8} {ms(self.p('json', 0.99)):>8} {ms(self.p('sse', 0.5)):>8} "
            f"{ms(self.p('sse', 0.99)):>8} {self.rss:>8.1f} {self.fds:>5} {self.cpu:>7.1f} {self.driver_cpu:>8.1f} "
            f"{os.getloadavg()[0]:>5.2f}"
        )


class Gateway:
    """The stub and `vaultgate serve`, set up through the CLI in a throwaway data dir."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.logs = data / "logs"
        self.logs.mkdir(parents=True)
        self.stub_key = "sk-stub-" + secrets.token_urlsafe(16)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTGATE_")}
        self.env.update(VAULTGATE_DATA_DIR=str(data / "vaultgate"), STUB_KEY=self.stub_key)
        if os.environ.get("SOAK_DATABASE_URL"):
            self.env["VAULTGATE_DATABASE_URL"] = os.environ["SOAK_DATABASE_URL"]
        if os.environ.get("SOAK_REDIS_URL"):
            self.env["VAULTGATE_REDIS_URL"] = os.environ["SOAK_REDIS_URL"]
            self.env["VAULTGATE_LIMITS_PREFIX"] = f"vaultgate-soak:{secrets.token_hex(6)}:"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.admin_token = ""

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "vaultgate", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            sys.exit(f"soak: vaultgate {args[0]} {args[1] if len(args) > 1 else ''} failed: {result.stderr.strip()}")
        return result.stdout

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start(self) -> tuple[str, subprocess.Popen[bytes]]:
        stub_port, port = free_port(), free_port()
        stub = [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(stub_port), "--api-key", self.stub_key]
        self.spawn("stub", pinned(0, stub))
        self.admin_token = json.loads(self.cli("init", "--json"))["admin_token"]
        self.cli(
            "provider", "add", "stub", "--kind", "compatible", "--base-url", f"http://127.0.0.1:{stub_port}/v1",
            "--allow-insecure-http", "--api-key-env", "STUB_KEY",
        )  # fmt: skip
        serve = [sys.executable, "-m", "vaultgate", "serve", "--host", "127.0.0.1", "--port", str(port)]
        gateway = self.spawn("gateway", pinned(1, [*serve, "--workers", str(WORKERS)]))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    return url, gateway
            except httpx.TransportError:
                pass
            if gateway.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"soak: the gateway did not start:\n{(self.logs / 'gateway.log').read_text()[-3000:]}")
            time.sleep(0.2)

    def key(self, member: str) -> tuple[str, str]:
        """A member and a key with limits far above the load (the limiter runs, never refuses): (id, secret)."""
        self.cli("member", "add", member)
        created = json.loads(
            self.cli("key", "create", "--member", member, "--rpm", "1000000", "--tpm", "10000000000", "--json")
        )
        return created["id"], created["key"]

    def usage_rows(self) -> int:
        return sum(line["requests"] for line in json.loads(self.cli("usage", "report", "--json")))

    def stop(self) -> None:
        """Stop what it started (gracefully first); delete its limit counters from a shared Redis."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        prefix = self.env.get("VAULTGATE_LIMITS_PREFIX")
        if prefix:
            import redis

            with redis.Redis.from_url(self.env["VAULTGATE_REDIS_URL"]) as client:
                stale = list(client.scan_iter(match=prefix + "*", count=1000))
                if stale:
                    client.delete(*stale)


async def rotate_and_revoke(soak: Soak, gw: Gateway, key_ids: dict[str, str], start: float) -> None:
    """Halfway, at once: revoke one key and rotate another through the admin API; the load goes on.

    (The admin API, not the CLI: a CLI process's start-up costs a second of CPU, which on a small
    shared machine would disturb the very latencies this measures.)"""
    admin = {"authorization": f"Bearer {gw.admin_token}"}

    async def revoke() -> None:
        revoked = next(i for i in soak.identities if i.role == "revoked")
        revoked.started = time.monotonic()
        answer = await soak.http.post(f"{soak.url}/admin/keys/{key_ids[revoked.name]}/revoke", headers=admin)
        answer.raise_for_status()
        revoked.since = time.monotonic()
        print(f"# {revoked.since - start:.0f}s: revoked {revoked.name}'s key", flush=True)

    async def rotate() -> None:
        rotated = next(i for i in soak.identities if i.role == "rotated-old")
        answer = await soak.http.post(
            f"{soak.url}/admin/keys/{key_ids[rotated.name]}/rotate", headers=admin, json={"grace": GRACE}
        )
        answer.raise_for_status()
        now = time.monotonic()
        rotated.since = now
        new_secret = Identity(rotated.name + " (new secret)", answer.json()["key"], "rotated-new", now, now)
        soak.identities.append(new_secret)
        print(f"# {now - start:.0f}s: rotated {rotated.name}'s key (grace {GRACE}); both secrets in use", flush=True)

    for result in await asyncio.gather(revoke(), rotate(), return_exceptions=True):
        if isinstance(result, BaseException):
            soak.error(f"admin API: {type(result).__name__}")


async def drive(soak: Soak, gw: Gateway, gateway: subprocess.Popen[bytes], key_ids: dict[str, str]) -> list[Row]:
    """The load at SOAK_RATE for SOAK_SECONDS, a row every SOAK_INTERVAL."""
    start = time.monotonic()
    end, midpoint = start + SECONDS, start + SECONDS / 2
    next_send, next_row, last_row = start, start + INTERVAL, start
    last_cpu, last_driver = resources(gateway.pid)[2], time.process_time()
    rows: list[Row] = []
    change: asyncio.Task[None] | None = None
    print(HEADER, flush=True)
    while True:
        now = time.monotonic()
        while next_send <= now and next_send < end:
            soak.launch(next_send)
            next_send += 1 / RATE
        if change is None and now >= midpoint:
            change = asyncio.create_task(rotate_and_revoke(soak, gw, key_ids, start))
        if now >= next_row or now >= end:
            if now >= end:  # the last requests finish inside the last interval
                await asyncio.gather(*soak.tasks, return_exceptions=True)
                now = time.monotonic()
            rss, fds, cpu = resources(gateway.pid)
            driver = time.process_time()
            span = now - last_row
            row = Row(
                now - start,
                soak.interval,
                span,
                rss,
                fds,
                100 * (cpu - last_cpu) / span,
                100 * (driver - last_driver) / span,
            )
            rows.append(row)
            print(row.text(), flush=True)
            soak.interval, last_row, last_cpu, last_driver = Interval(), now, cpu, driver
            next_row += INTERVAL
            if now >= end:
                break
        await asyncio.sleep(max(0.0, min(next_send, next_row, end) - time.monotonic()))
    if change is not None:
        await change
    return rows


def drift(rows: list[Row]) -> list[str]:
    """Last interval against the first, for each column that can drift."""
    first, last = rows[0], rows[-1]
    lines = []
    for kind in ("json", "sse"):
        for share, name in ((0.5, "p50"), (0.99, "p99")):
            a, b = first.p(kind, share), last.p(kind, share)
            if a and b:
                lines.append(f"{kind} {name}: {a:.1f} -> {b:.1f} ms ({100 * (b - a) / a:+.0f}%)")
    peak = max(r.rss for r in rows)
    lines.append(f"rss: {first.rss:.1f} -> {last.rss:.1f} MiB ({last.rss - first.rss:+.1f}; peak {peak:.1f})")
    lines.append(f"fds: {first.fds} -> {last.fds} ({last.fds - first.fds:+d}; peak {max(r.fds for r in rows)})")
    return lines


def main() -> int:
    if os.environ.get("SOAK_REQUESTS"):  # the million-request memory soak instead (bench/soak_memory.py)
        import soak_memory

        return soak_memory.main()
    data = Path(tempfile.mkdtemp(prefix="vaultgate-soak."))
    gw = Gateway(data)
    failures: list[str] = []
    try:
        url, gateway = gw.start()
        key_ids: dict[str, str] = {}
        identities = []
        names = [f"steady-{n}" for n in range(1, STEADY_KEYS + 1)] + ["rotated", "revoked"]
        for name in names:
            key_ids[name], secret = gw.key(name)
            role = {"rotated": "rotated-old", "revoked": "revoked"}.get(name, "steady")
            identities.append(Identity(name, secret, role))
        print(
            f"# soak: {SECONDS:.0f}s at {RATE:g} req/s ({STREAM_SHARE:.0%} streamed), {len(names)} keys, "
            f"workers {WORKERS}, database {'PostgreSQL' if 'VAULTGATE_DATABASE_URL' in gw.env else 'SQLite'}, "
            f"limits {'Redis' if 'VAULTGATE_REDIS_URL' in gw.env else 'in-process'}, "
            f"{'gateway pinned to core 1' if PIN else 'not pinned'}; {os.cpu_count()} cores",
            flush=True,
        )

        async def run() -> tuple[list[Row], Totals]:
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                soak = Soak(url, identities, http)
                return await drive(soak, gw, gateway, key_ids), soak.totals

        rows, totals = asyncio.run(run())
        gateway.terminate()  # graceful: queued usage is written before it exits
        gateway.wait(timeout=120)
        usage_rows = gw.usage_rows()
    finally:
        gw.stop()
        if os.environ.get("KEEP_DATA_DIR") == "1":
            print(f"# data dir and logs kept in {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)

    errors = sum(totals.errors.values())
    print("\n# summary")
    print(f"requests: {totals.requests}; ok: {totals.ok}; expected 401: {totals.revoked_401} for the revoked key, "
          f"{totals.propagating_401} for the new secret before it propagated; unexpected errors: {errors}")  # fmt: skip
    for kind, count in sorted(totals.errors.items()):
        print(f"  error: {kind}: {count}")
    if totals.first_401_after_revoke is not None:
        print(f"revocation: first 401 for a request sent {totals.first_401_after_revoke:.2f}s after the command "
              "started" + (f"; last 200 for one sent {totals.last_200_after_revoke:.2f}s after it"
                           if totals.last_200_after_revoke is not None else "; no 200 after it"))  # fmt: skip
    else:
        failures.append("the revoked key was never refused")
    if totals.first_200_of_new_secret is not None:
        print(f"rotation: the new secret's first 200 {totals.first_200_of_new_secret:.2f}s after the command returned")
    else:
        failures.append("the rotated key's new secret never worked")
    for line in drift(rows):
        print("drift " + line)
    # Every answer but a 401 leaves one usage row; a 401 for a request in flight when the revocation
    # landed may too (the key was accepted before it was refused).
    expected = f"{totals.answered_to_a_key}" + (
        f" to {totals.answered_to_a_key + totals.refused_in_flight}" if totals.refused_in_flight else ""
    )
    print(f"usage rows: {usage_rows}; expected {expected} (requests answered to a key: all but the 401s"
          + (f", plus up to {totals.refused_in_flight} refused in flight by the revocation)" if totals.refused_in_flight
             else ")"))  # fmt: skip
    if not totals.answered_to_a_key <= usage_rows <= totals.answered_to_a_key + totals.refused_in_flight:
        failures.append(f"usage rows {usage_rows}, expected {expected}")
    if errors:
        failures.append(f"{errors} unexpected errors")
    return verdict(failures)


def verdict(failures: list[str]) -> int:
    """Print each failure; the exit status."""
    for failure in failures:
        print(f"soak: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
