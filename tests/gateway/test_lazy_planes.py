"""The admin API, the console and SCIM are built on their first request (gateway/lazy_app.py).

A worker that serves only ``/v1`` never imports FastAPI's routes, joserfc, scim2-models, redis (without
``VAULTGATE_REDIS_URL``), psycopg (on SQLite) or tiktoken (until a request counts tokens): checked from
``sys.modules`` in a fresh interpreter, a fact rather than a timing (docs/PERFORMANCE.md, "Start-up and
memory"). Each plane still answers as before once reached, and a plane is built at most once however
many requests reach it together.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from tests.conftest import Stack

from vaultgate.gateway.asgi import Receive, Scope, Send
from vaultgate.gateway.lazy_app import LazyApp

# Loaded by a plane or a feature the first request to /v1 does not need.
NOT_AT_START = (
    "fastapi",
    "joserfc",
    "psycopg",
    "redis",
    "scim2_models",
    "tiktoken",
    "vaultgate.admin.api",
    "vaultgate.console.app",
    "vaultgate.identity.scim.app",
)

BUILD = """
import json, sys
from vaultgate.config import Settings
from vaultgate.services import bootstrap
settings = Settings(data_dir=sys.argv[1])
bootstrap.init(settings)
from vaultgate import server
gateway = server.build(settings)
print(json.dumps(sorted(name for name in {names} if name in sys.modules)))
"""


def test_building_the_gateway_imports_no_plane_that_was_not_reached(tmp_path: Path) -> None:
    code = BUILD.format(names=repr(NOT_AT_START))
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_each_plane_answers_its_first_requests_as_before(stack: Stack) -> None:
    admin = {"authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as http:
        # Several first requests at once to each plane: all answered, by one build of it.
        results: list[int] = []

        def hit(path: str, headers: dict[str, str]) -> None:
            results.append(http.get(path, headers=headers).status_code)

        threads = [
            threading.Thread(target=hit, args=(path, headers))
            for path, headers in [("/admin/members", admin), ("/scim/v2/Users", {}), ("/console/signin", {})] * 4
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results) == [200] * 8 + [401] * 4
        refused = http.get("/scim/v2/Users")
        assert refused.status_code == 401
        assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert [m["name"] for m in http.get("/admin/members", headers=admin).json()] == ["admin"]
        assert "<form" in http.get("/console/signin").text


class Echo:
    """An ASGI app answering 200 with its build number."""

    def __init__(self, number: int) -> None:
        self.number = number

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.number).encode()})


async def call(app: LazyApp) -> bytes:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "http", "path": "/x", "method": "GET"}, receive, send)
    body = sent[-1]["body"]
    assert isinstance(body, bytes)
    return body


def test_a_lazy_app_is_built_once_for_requests_arriving_together_off_the_event_loop() -> None:
    builds: list[int] = []
    loop_thread: list[threading.Thread] = []

    def build() -> Echo:
        assert threading.current_thread() is not loop_thread[0]  # the event loop keeps serving meanwhile
        time.sleep(0.2)  # long enough for every request below to arrive during the build
        builds.append(len(builds) + 1)
        return Echo(len(builds))

    app = LazyApp(build, "test")

    async def main() -> list[bytes]:
        loop_thread.append(threading.current_thread())
        return await asyncio.gather(*(call(app) for _ in range(20)))

    assert not app.built
    assert asyncio.run(main()) == [b"1"] * 20
    assert builds == [1]
    assert app.built


def test_a_build_that_failed_is_tried_again_by_the_next_request() -> None:
    attempts: list[int] = []

    def build() -> Echo:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the first build fails")
        return Echo(len(attempts))

    app = LazyApp(build, "test")

    async def main() -> bytes:
        try:
            await call(app)
        except RuntimeError:
            pass
        else:
            raise AssertionError("the failed build was not reported")
        return await call(app)

    assert asyncio.run(main()) == b"2"
    assert app.built and len(attempts) == 2


STARTED = """
import asyncio, gc, json, sys
from vaultgate.config import Settings
from vaultgate.services import bootstrap
settings = Settings(data_dir=sys.argv[1])
bootstrap.init(settings)
from vaultgate import server

freezes = []
real_freeze = gc.freeze
gc.freeze = lambda: (freezes.append(1), real_freeze())[1]

async def main():
    before = gc.get_freeze_count()
    first = server.build(settings)
    await first.start()
    after_first = gc.get_freeze_count()
    second = server.build(settings)
    await second.start()
    await second.stop()
    await first.stop()
    print(json.dumps([before, after_first, len(freezes)]))

asyncio.run(main())
"""


def test_the_first_gateway_started_freezes_the_startup_objects_once(tmp_path: Path) -> None:
    # What start-up built lives as long as the process: out of the collector's full passes (their pauses
    # were most of the p99 at one connection). A second gateway in the same process (tests) adds nothing.
    done = subprocess.run(
        [sys.executable, "-c", STARTED, str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after_first, freezes = json.loads(done.stdout.splitlines()[-1])
    assert before == 0
    assert after_first > 10_000  # the imported modules and the built gateway
    assert freezes == 1
