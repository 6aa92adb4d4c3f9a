"""deploy/nginx.conf in front of two real `vaultgate serve` replicas, driven by the official SDK.

Optional: runs only where nginx is installed (`apt-get install nginx-light`); CI does not install it.
Compose's service names and nginx's port are replaced by loopback addresses, nothing else.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import make_settings, require_service
from tests.deploy import files
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer, free_port
from tests.support.upstream import CaptureUpstream
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "through nginx"}]


@dataclass
class Proxied:
    url: str
    replicas: list[GatewayProcess]
    key: str


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        require_service("nginx", "not installed (`make test` installs nginx-light)")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """One nginx and two replicas for the module (starting them is most of its time); the last test stops
    the replicas."""
    nginx = nginx_binary()
    tmp_path = tmp_path_factory.mktemp("nginx")
    upstream = ThreadedServer(CaptureUpstream()).start()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}")
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    # Only loopback may use this key: a client-written X-Forwarded-For must not change what vaultgate sees.
    key = keys.create(cp, LOCAL_OPERATOR, "alice", policy={"ip_allow": ["127.0.0.1/32"]}).token
    env = {"VAULTGATE_DATABASE_URL": settings.resolved_database_url, "VAULTGATE_TRUSTED_PROXIES": "127.0.0.1"}
    with ThreadPoolExecutor(2) as starting:  # both at once: each start is seconds of Python imports
        replicas = list(starting.map(lambda i: GatewayProcess(settings.data_dir, tmp_path / f"r{i}.log", env), (1, 2)))
    port = free_port()
    site = files.NGINX.read_text().replace("listen 8080;", f"listen 127.0.0.1:{port};")
    for i, replica in enumerate(replicas, start=1):
        site = site.replace(f"vaultgate-{i}:8080", f"127.0.0.1:{replica.port}")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
        f"include {tmp_path}/site.conf; }}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield Proxied(f"http://127.0.0.1:{port}", replicas, key)
    process.terminate()
    process.wait(timeout=30)
    for replica in replicas:
        replica.stop()
    upstream.stop()
    cp.store.dispose()


def served_requests(replica: GatewayProcess) -> int:
    return replica.output().count("chat/completions 200")


def test_nginx_spreads_json_and_streams_over_both_replicas_and_writes_the_client_address(proxied: Proxied) -> None:
    # The client claims another address; nginx replaces the header, so the loopback-only key still works.
    client = openai.OpenAI(
        base_url=proxied.url + "/v1",
        api_key=proxied.key,
        max_retries=0,
        default_headers={"x-forwarded-for": "203.0.113.9"},
    )
    for _ in range(4):
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices[0].message.content == "upstream says: through nginx"
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
        assert len(chunks) > 2
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "upstream says: through nginx"
    deadline = time.monotonic() + 10  # the access log line follows the answer
    while not all(served_requests(r) > 0 for r in proxied.replicas) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [served_requests(r) > 0 for r in proxied.replicas] == [True, True]


def test_nginx_refuses_an_oversized_body_in_openais_shape(proxied: Proxied) -> None:
    client = openai.OpenAI(base_url=proxied.url + "/v1", api_key=proxied.key, max_retries=0)
    limit = files.nginx_bytes(files.nginx_values("client_max_body_size")[0])
    huge: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "x" * limit}]
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=huge)
    assert refused.value.status_code == 413
    assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "request_too_large"
    assert refused.value.response.headers["x-request-id"]


def test_nginx_answers_json_when_no_replica_does(proxied: Proxied) -> None:
    """Last in this module: it stops the replicas."""
    for replica in proxied.replicas:
        replica.stop()
    answer = httpx.post(proxied.url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "replica_unavailable"
