"""The leaver scenario, shared by tests/identity/test_leaver.py and bench/leaver.py.

Two ``vaultgate serve`` replicas (A and B) on one PostgreSQL database, an upstream on loopback that streams
a chunk every 100 ms for minutes, a member provisioned over SCIM with a key and an admin token. The member
streams a chat completion through B with the official ``openai`` SDK in a thread; once chunks flow, the
user is deactivated over SCIM on A (PATCH active=false). Measured with ``time.monotonic`` from just before
the SCIM call: the stream ending on B, the key refused by B and by A, the admin token refused.
Nothing here asserts a duration: the test checks what happened, the benchmark reports the times.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from sqlalchemy import select

from tests.conftest import make_settings
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream, capture
from vaultgate.services import admin_tokens, keys, scim_tokens
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import AuditEvent, Member

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CHUNK_SECONDS = 0.1
MAX_CHUNKS = 3000  # five minutes: far longer than any run needs
WAIT = 60.0  # generous deadline for each awaited condition (a loaded 2-core machine)


@dataclass
class SlowStreamUpstream(CaptureUpstream):
    """Answers as the capturing upstream, but streams chat completions a chunk every 100 ms until hung up."""

    hang_ups: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/v1/chat/completions":
            await super().__call__(scope, receive, send)
            return
        captured = await capture(scope, receive)
        if not captured.json().get("stream"):
            await self._answer(captured, send)
            return
        gone = asyncio.ensure_future(receive())  # http.disconnect once the gateway closes the connection
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
        for count in range(MAX_CHUNKS):
            if gone.done():
                break
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": f" {count}"}, "finish_reason": None}]}
            await send(
                {"type": "http.response.body", "body": f"data: {json.dumps(chunk)}\n\n".encode(), "more_body": True}
            )
            await asyncio.wait([gone], timeout=CHUNK_SECONDS)
        with self.lock:
            self.hang_ups += 1
        if not gone.done():
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


@dataclass
class LeaverRun:
    """One deactivation: seconds from just before the SCIM call to each effect, and what each effect was."""

    member_id: str
    stream_ended: float
    key_refused_b: float
    key_refused_a: float
    admin_refused: float
    stream_error: str | None  # the code of the SSE error event that ended the stream (None: it just stopped)
    key_status_b: int
    key_status_a: int
    admin_status: int
    chunks_before: int
    audited_ms: float | None = None  # identity.revocation_effective's elapsed_ms, as replica A recorded it
    audited_replica: str | None = None


@dataclass
class LeaverStage:
    """The upstream, the database, the two replicas, a SCIM token: set up once, runs many leavers."""

    workdir: Path
    database_url: str
    upstream: SlowStreamUpstream = field(default_factory=SlowStreamUpstream)

    def __post_init__(self) -> None:
        self.upstream_server = ThreadedServer(self.upstream).start()
        self.settings = make_settings(self.workdir, self.database_url)
        self.cp: ControlPlane = initialised(self.settings, self.upstream_server.url)
        self.scim_token = scim_tokens.create(self.cp, LOCAL_OPERATOR, "leaver-test")[1]
        env = {"VAULTGATE_DATABASE_URL": self.database_url}
        self.replicas: list[GatewayProcess] = []
        try:
            for name in ("a", "b"):
                self.replicas.append(GatewayProcess(self.settings.data_dir, self.workdir / f"replica-{name}.log", env))
        except Exception:
            self.close()
            raise

    @property
    def a(self) -> GatewayProcess:
        return self.replicas[0]

    @property
    def b(self) -> GatewayProcess:
        return self.replicas[1]

    def close(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.upstream_server.stop()
        self.cp.store.dispose()

    def _scim(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.a.url}/scim/v2{path}",
            json=body,
            headers={"authorization": f"Bearer {self.scim_token}", "content-type": SCIM_JSON},
            timeout=WAIT,
        )

    def _synced(self) -> None:
        target = self.cp.store.revision()
        deadline = time.monotonic() + WAIT
        for replica in self.replicas:
            while int(httpx.get(replica.url + "/healthz").json()["revision"]) < target:
                if time.monotonic() > deadline:
                    raise AssertionError("a replica did not pick up the new member")
                time.sleep(0.02)

    def provision(self) -> tuple[str, str, str, str]:
        """A member created over SCIM on A, with a key and an admin token: (SCIM id, member id, key, admin token)."""
        name = "leaver-" + secrets.token_hex(4)
        created = self._scim("POST", "/Users", {"schemas": [USER_SCHEMA], "userName": name, "active": True})
        assert created.status_code == 201, created.text
        key = keys.create(self.cp, LOCAL_OPERATOR, name).token
        token = admin_tokens.create(self.cp, LOCAL_OPERATOR, name)[1]
        with self.cp.store.session() as session:
            member_id = str(session.scalar(select(Member.id).where(Member.name == name)))
        self._synced()
        return str(created.json()["id"]), member_id, key, token

    def run(self) -> LeaverRun:
        """One leaver: provision, stream through B, deactivate on A, measure."""
        user_id, member_id, key, admin_token = self.provision()
        flowing = threading.Event()
        ended: dict[str, Any] = {}

        def stream() -> None:
            client = openai.OpenAI(base_url=self.b.url + "/v1", api_key=key, max_retries=0, timeout=WAIT * 5)
            count = 0
            try:
                with client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "go on"}], stream=True
                ) as chunks:
                    for _ in chunks:
                        count += 1
                        if count == 3:
                            flowing.set()
                ended["error"] = None
            except openai.APIError as exc:
                ended["error"] = exc.body.get("code") if isinstance(exc.body, dict) else type(exc).__name__
            finally:
                ended["at"] = time.monotonic()
                ended["chunks"] = count
                flowing.set()

        reader = threading.Thread(target=stream, daemon=True)
        reader.start()
        assert flowing.wait(WAIT) and "at" not in ended, "the stream never flowed"
        chunks_before = ended.get("chunks", 3)
        start = time.monotonic()
        answer = self._scim(
            "PATCH",
            f"/Users/{user_id}",
            {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        )
        assert answer.status_code in (200, 204), answer.text
        key_b, status_b = _refused(lambda: _models(self.b.url, key), start)
        key_a, status_a = _refused(lambda: _models(self.a.url, key), start)
        admin_at, admin_status = _refused(lambda: _me(self.a.url, admin_token), start)
        reader.join(WAIT)
        assert "at" in ended, "the stream on B did not end"
        run = LeaverRun(
            member_id,
            ended["at"] - start,
            key_b,
            key_a,
            admin_at,
            ended["error"],
            status_b,
            status_a,
            admin_status,
            chunks_before,
        )
        run.audited_ms, run.audited_replica = self.audited(member_id)
        return run

    def audited(self, member_id: str) -> tuple[float | None, str | None]:
        """The ``identity.revocation_effective`` record of the member, once A has written it (or None, None)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.cp.store.session() as session:
                record = session.scalar(
                    select(AuditEvent).where(
                        AuditEvent.action == "identity.revocation_effective",
                        AuditEvent.target == member_id,
                        AuditEvent.outcome == "ok",  # not "timeout": the swap came
                    )
                )
                if record is not None:
                    return float(record.details["elapsed_ms"]), str(record.details["replica"])
            time.sleep(0.05)
        return None, None


def _models(url: str, key: str) -> int:
    return httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=WAIT).status_code


def _me(url: str, token: str) -> int:
    return httpx.get(url + "/admin/me", headers={"authorization": f"Bearer {token}"}, timeout=WAIT).status_code


def _refused(call: Any, start: float) -> tuple[float, int]:
    """Seconds from ``start`` until ``call()`` answers 401 or 403, and that status (polled every 10 ms)."""
    deadline = time.monotonic() + WAIT
    while True:
        status = int(call())
        if status in (401, 403):
            return time.monotonic() - start, status
        if time.monotonic() > deadline:
            raise AssertionError(f"still answered {status} after {WAIT} s")
        time.sleep(0.01)
