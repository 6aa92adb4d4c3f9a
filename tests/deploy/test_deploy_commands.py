"""The deployment files' commands and environment really serve.

The Dockerfile's ENTRYPOINT + CMD with its ENV; docker-compose.yml's `init` (as documented:
`docker compose run --rm migrate init`), `migrate` and replica command with the replicas' environment
on PostgreSQL and Redis; the systemd unit's ExecStart with its Environment= and an EnvironmentFile.
Each runs `python -m vaultgate` (what the `vaultgate` entry point runs) in a subprocess and answers the
official SDK, JSON and streaming. Only what exists solely inside a container or on the target host is
mapped: the data volume to a temporary directory, /run/secrets to the files docs/DEPLOYMENT.md's steps
make, the listening port to a free one, the database and Redis to the test servers. No image is built
(no container engine here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import typer

from tests.deploy import files
from tests.support.servers import ThreadedServer, free_port
from tests.support.upstream import CaptureUpstream
from vaultgate import config
from vaultgate.cli.main import app
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR

# The Dockerfile's ENTRYPOINT is the `vaultgate` console script; here, the same code by module.
VAULTGATE = [sys.executable, "-m", "vaultgate"]


def base_environment() -> dict[str, str]:
    """This test run's environment without any VAULTGATE_* setting of the developer's own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("VAULTGATE_", "TIKTOKEN_", "PG"))}


@dataclass
class Place:
    """The directories a server runs with: data dir, a HOME and a TMPDIR that must stay empty."""

    data: Path
    home: Path
    tmp: Path

    @classmethod
    def make(cls, root: Path) -> Place:
        place = cls(root / "data", root / "home", root / "tmp")
        for path in (place.data, place.home, place.tmp):
            path.mkdir(mode=0o700)
        return place

    def environment(self) -> dict[str, str]:
        return {"HOME": str(self.home), "TMPDIR": str(self.tmp)}


@dataclass
class Served:
    """A ``vaultgate serve`` subprocess that answers ``/healthz``."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)


@pytest.fixture
def serve() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()


def start(started: list[Served], argv: list[str], env: dict[str, str], cwd: Path, port: int) -> Served:
    """Run ``argv`` and wait (generously) until it answers /healthz on ``port``."""
    log = cwd.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, f"http://127.0.0.1:{port}", log)
    started.append(served)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(served.url + "/healthz").status_code == 200:
                return served
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, f"{argv} did not serve:\n{log.read_text()}"
        time.sleep(0.1)


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A one-shot vaultgate command; its output (never printed by the test: init prints a token)."""
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def member_key(env: dict[str, str], upstream_url: str, *, init: bool = True) -> str:
    """(``vaultgate init`` in-process, unless done already,) a provider (the capturing upstream) and a
    member key with limits, set up as an admin would with these settings."""
    settings = config.load(env)
    if init:
        assert bootstrap.init(settings).created
    cp = bootstrap.open_control_plane(settings)
    try:
        providers.add(
            cp,
            LOCAL_OPERATOR,
            "capture",
            kind="compatible",
            base_url=upstream_url + "/v1",
            api_key="sk-upstream-deploy-test",
            allow_insecure_http=True,
        )
        members.add(cp, LOCAL_OPERATOR, "alice")
        # Limits make the gateway count tokens, loading tiktoken's table: it must not be cached in TMPDIR.
        return keys.create(cp, LOCAL_OPERATOR, "alice", limits={"rpm": 10_000, "tpm": 10_000_000}).token
    finally:
        cp.store.dispose()


def answers_the_sdk(url: str, key: str) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hello deploy"}]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert completion.choices[0].message.content == "upstream says: hello deploy"
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "upstream says: hello deploy"


@pytest.fixture
def upstream_url() -> Iterator[str]:
    server = ThreadedServer(CaptureUpstream()).start()
    yield server.url
    server.stop()


def test_the_images_command_and_environment_serve_and_write_only_the_data_dir(
    tmp_path: Path, serve: list[Served], upstream_url: str
) -> None:
    runtime = files.runtime_stage()
    image_env = files.image_environment(runtime)
    place = Place.make(tmp_path)
    port = free_port()
    env = {
        **base_environment(),
        **{k: v for k, v in image_env.items() if k != "PATH"},
        **place.environment(),  # the image sets HOME to the data dir; here it must stay empty
        "VAULTGATE_DATA_DIR": str(place.data),
        "VAULTGATE_PORT": str(port),  # as `docker run -e VAULTGATE_PORT=...`
    }
    key = member_key(env, upstream_url)
    entrypoint = files.last(runtime, "ENTRYPOINT").exec_form()
    assert entrypoint == ["vaultgate"]
    served = start(serve, [*VAULTGATE, *files.last(runtime, "CMD").exec_form()], env, place.data, port)
    answers_the_sdk(served.url, key)

    healthcheck = files.last(runtime, "HEALTHCHECK").exec_form()
    assert healthcheck[0] == "python"
    check = [sys.executable, *healthcheck[1:]]
    assert subprocess.run(check, env=env, timeout=30, capture_output=True).returncode == 0
    assert served.stop() in (0, -15)
    assert subprocess.run(check, env=env, timeout=30, capture_output=True).returncode == 1
    # A read-only root with a tmpfs /tmp works only if nothing is written elsewhere.
    assert list(place.tmp.iterdir()) == [] and list(place.home.iterdir()) == []


def compose_environment(service: str, place: Path, secrets: Path) -> dict[str, str]:
    """A compose service's environment, its container-only paths mapped to this test's files."""
    # Compose runs the image: its ENV first, the service's environment over it.
    image_env = {k: v for k, v in files.image_environment(files.runtime_stage()).items() if k != "PATH"}
    env = dict(files.vaultgate_services()[service]["environment"])
    mapped = dict(image_env)
    for name, value in env.items():
        if value.startswith("/run/secrets/"):
            secret = files.compose()["secrets"][value.removeprefix("/run/secrets/")]["file"]
            value = str(secrets / secret)
        mapped[name] = value
    mapped["VAULTGATE_DATA_DIR"] = str(place)
    return mapped


@pytest.fixture
def compose_place(tmp_path: Path) -> tuple[Place, Path]:
    """Directories, and ./secrets made by the steps docs/DEPLOYMENT.md gives."""
    prelude = 'sudo() { if [ "$(id -u)" = 0 ]; then "$@"; fi; }\n'
    subprocess.run(["bash", "-euc", prelude + files.secrets_script()], cwd=tmp_path, check=True, timeout=30)
    return Place.make(tmp_path), tmp_path


@pytest.mark.postgres
@pytest.mark.redis
def test_compose_init_and_replica_command_serve_on_postgres_and_redis(
    compose_place: tuple[Place, Path],
    serve: list[Served],
    upstream_url: str,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    place, secrets = compose_place
    services = files.vaultgate_services()
    assert services["vaultgate-1"]["command"] == services["vaultgate-2"]["command"]
    assert services["vaultgate-1"]["environment"] == services["vaultgate-2"]["environment"]

    def env(service: str) -> dict[str, str]:
        return {
            **base_environment(),
            **place.environment(),
            **compose_environment(service, place.data, secrets),
            "VAULTGATE_DATABASE_URL": postgres_url,
            "VAULTGATE_REDIS_URL": redis_url,
            "VAULTGATE_LIMITS_PREFIX": redis_prefix,
        }

    # docs: `docker compose run --rm migrate init`
    initialised = run([*VAULTGATE, "init"], env("migrate"), place.data)
    assert initialised.returncode == 0, initialised.stderr
    key = member_key(env("migrate"), upstream_url, init=False)

    command = list(services["vaultgate-1"]["command"])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    served = start(serve, [*VAULTGATE, *command], env("vaultgate-1"), place.data, port)
    answers_the_sdk(served.url, key)
    assert served.stop() in (0, -15)
    assert list(place.tmp.iterdir()) == [] and list(place.home.iterdir()) == []


def test_compose_migrate_command_is_a_vaultgate_command() -> None:
    command = files.vaultgate_services()["migrate"]["command"]
    assert command[0] in typer.main.get_command(app).commands  # type: ignore[attr-defined]
    result = subprocess.run([*VAULTGATE, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_systemd_units_command_and_environment_serve(
    tmp_path: Path, serve: list[Served], upstream_url: str
) -> None:
    place = Place.make(tmp_path)
    unit_env = files.unit_environment()
    assert unit_env["VAULTGATE_DATA_DIR"] == files.unit_value("Service", "WorkingDirectory") == "/var/lib/vaultgate"
    port = free_port()
    # What docs/DEPLOYMENT.md puts in /etc/vaultgate/env for a gateway behind a local proxy.
    env_file = {"VAULTGATE_HOST": "127.0.0.1", "VAULTGATE_PORT": str(port)}
    env = {**base_environment(), **place.environment(), **env_file, **unit_env, "VAULTGATE_DATA_DIR": str(place.data)}
    key = member_key(env, upstream_url)
    program, *args = files.unit_value("Service", "ExecStart").split()
    assert program == "/opt/vaultgate/bin/vaultgate"
    served = start(serve, [*VAULTGATE, *args], env, place.data, port)
    answers_the_sdk(served.url, key)
    assert served.stop() in (0, -15)
    assert list(place.tmp.iterdir()) == [] and list(place.home.iterdir()) == []
