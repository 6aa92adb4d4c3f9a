"""The data plane's own CPU per request, without the HTTP server in front of it.

Sets up a throwaway data dir through the real CLI (as ``bench/run.sh`` does), starts the
upstream stub pinned to core 0, builds the real gateway app (``server.create_app``) in this
process and calls its ASGI entry point directly, ``CONCURRENCY`` requests at a time, with the
same ~600-byte chat request as ``bench/wrk/openai.lua``. Prints CPU microseconds per request
(this process, all threads: the usage writer included) and, with ``--profile``, the top
functions by cumulative time (cProfile inflates small functions; use it to find, not to weigh).

    taskset -c 1 .venv/bin/python bench/gateway_micro.py [--requests 20000] [--profile]

Settings come from the environment as for ``serve`` (``VAULTGATE_LOG_LEVEL`` defaults to
``warning`` here, which keeps the INFO access lines out; set it to ``info`` to measure them).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant for an '
    b"engineering team. Answer in plain English, cite no sources, and keep answers under one hundred "
    b'words."},{"role":"user","content":"Our team shares one OpenAI API key in a .env file that is checked '
    b"into a private repository. What are the three most important things we should change first, and "
    b'why?"}],"temperature":0.2,"max_tokens":256}'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(data: Path, stub_port: int, stub_key: str) -> str:
    """A data dir with provider ``stub``, member ``bench`` and a key with rpm/tpm limits; the key."""
    vg = [str(Path(sys.executable).with_name("vaultgate"))]
    env = {**os.environ, "VAULTGATE_DATA_DIR": str(data), "STUB_KEY": stub_key}

    def run(*args: str) -> str:
        return subprocess.run([*vg, *args], env=env, check=True, capture_output=True, text=True).stdout

    run("init", "--data-dir", str(data))
    base = f"http://127.0.0.1:{stub_port}/v1"
    provider = ["--kind", "compatible", "--base-url", base, "--allow-insecure-http", "--api-key-env", "STUB_KEY"]
    run("provider", "add", "stub", *provider)
    run("member", "add", "bench")
    created = run("key", "create", "--member", "bench", "--rpm", "100000000", "--tpm", "100000000000", "--json")
    return str(json.loads(created)["key"])


def chat_scope(key: str, body: bytes) -> dict[str, Any]:
    """The ASGI scope of a chat completion POST with ``body`` and the member ``key`` (as wrk sends it)."""
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + key.encode()),
            (b"user-agent", b"OpenAI/Python 1.99.0"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
    }


async def _drive(app: Any, key: str, requests: int, concurrency: int, through_stop: bool) -> tuple[float, float]:
    await app.start()
    scope = chat_scope(key, BODY)
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def worker(count: int) -> None:
        for _ in range(count):
            await app(dict(scope), receive, send)

    await asyncio.gather(*(worker(100) for _ in range(concurrency)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    if through_stop:  # work left to background threads (span export, usage writes) is counted too
        await app.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if not through_stop:
        await app.stop()
    if set(statuses) != {200}:
        raise SystemExit(f"not every answer was 200: {statuses}")
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--through-stop", action="store_true", help="count the app's stop (flushes) in the CPU")
    parser.add_argument("--sort", default="cumulative", help="cProfile order: cumulative or tottime")
    args = parser.parse_args()
    stub_port, stub_key = _free_port(), f"sk-stub-{os.getpid()}"
    stub_command = [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(stub_port), "--api-key", stub_key]
    stub = subprocess.Popen(
        ["taskset", "-c", "0", *stub_command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="vaultgate-micro.") as tmp:
            key = _setup(Path(tmp) / "vaultgate", stub_port, stub_key)
            os.environ["VAULTGATE_DATA_DIR"] = str(Path(tmp) / "vaultgate")
            os.environ.setdefault("VAULTGATE_LOG_LEVEL", "warning")  # info: the access log is written
            import uvloop

            from vaultgate.server import create_app

            app = create_app()
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            cpu, wall = uvloop.run(_drive(app, key, args.requests, args.concurrency, args.through_stop))
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats(args.sort).print_stats(45)
            n = args.requests // args.concurrency * args.concurrency
            result = {"requests": n, "cpu_us_per_request": round(cpu / n * 1e6, 1), "req_per_cpu_s": round(n / cpu)}
            print(json.dumps({**result, "wall_s": round(wall, 2)}))
    finally:
        stub.terminate()
        stub.wait()


if __name__ == "__main__":
    main()
