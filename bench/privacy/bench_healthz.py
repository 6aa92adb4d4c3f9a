"""/healthz latency while 1 MB adversarial prompts are scanned (issue 9: bounded privacy work).

Run from the repository root:
    PYTHONPATH=$PWD/src .venv/bin/python bench/privacy/bench_healthz.py [--rounds 3] [--kind cards|ssn|mixed]

Starts ``vaultgate serve`` (subprocess, SQLite) in front of a recording upstream, sends
``--rounds`` 1 MB prompts one after another (default policy: every card redacted), and sends
``/healthz`` requests back to back the whole time on one keep-alive connection. Prints one
JSON line: healthz p50/p99/max in ms while the big requests ran, and each big request's status
and duration. A baseline of healthz without load is measured first.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
import orjson
from tests.privacy import pii_corpus as corpus
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR


def prompt(kind: str, size: int, rng: random.Random) -> str:
    """About ``size`` characters of the chosen adversarial text."""
    if kind == "cards":
        return " ".join(corpus._luhn_complete(f"4{i:09d}", 16, rng) for i in range(size // 17))
    if kind == "ssn":
        return " ".join(
            f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}" for _ in range(size // 12)
        )
    return " ".join(
        rng.choice(["4111", "1111", "+1", "(415)", "555-0100", "a@b.co", "10.0.0.1"]) for _ in range(size // 7)
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", default="cards", choices=["cards", "ssn", "mixed"])
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        upstream = ThreadedServer(CaptureUpstream()).start()
        settings = Settings(data_dir=Path(tmp) / "data")
        cp = initialised(settings, upstream.url)
        members.add(cp, LOCAL_OPERATOR, "bench")
        token = keys.create(cp, LOCAL_OPERATOR, "bench").token
        gateway = GatewayProcess(settings.data_dir, Path(tmp) / "serve.log")
        try:
            with httpx.Client(timeout=60) as client:
                baseline = []
                for _ in range(200):
                    started = time.perf_counter()
                    client.get(gateway.url + "/healthz")
                    baseline.append((time.perf_counter() - started) * 1000)
                bodies = [
                    orjson.dumps(
                        {
                            "model": "gpt-4o",
                            "messages": [{"role": "user", "content": prompt(args.kind, args.size, rng)}],
                        }
                    )
                    for _ in range(args.rounds)
                ]
                done = threading.Event()
                big: list[dict[str, float | int]] = []

                def send_big() -> None:
                    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                    with httpx.Client(timeout=120) as big_client:
                        for body in bodies:
                            started = time.perf_counter()
                            response = big_client.post(
                                gateway.url + "/v1/chat/completions", content=body, headers=headers
                            )
                            big.append(
                                {"status": response.status_code, "ms": round((time.perf_counter() - started) * 1000)}
                            )
                    done.set()

                thread = threading.Thread(target=send_big)
                thread.start()
                during = []
                while not done.is_set():
                    started = time.perf_counter()
                    client.get(gateway.url + "/healthz")
                    during.append((time.perf_counter() - started) * 1000)
                thread.join()
        finally:
            gateway.stop()
            upstream.stop()
            cp.store.dispose()
    print(
        json.dumps(
            {
                "kind": args.kind,
                "size": args.size,
                "baseline_ms": {
                    "p50": round(statistics.median(baseline), 2),
                    "p99": round(percentile(baseline, 0.99), 2),
                },
                "during_ms": {
                    "n": len(during),
                    "p50": round(statistics.median(during), 2),
                    "p99": round(percentile(during, 0.99), 2),
                    "max": round(max(during), 2),
                },
                "big_requests": big,
            }
        )
    )


if __name__ == "__main__":
    main()
