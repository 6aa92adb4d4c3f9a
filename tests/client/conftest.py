"""A member's machine against a real ``vaultgate serve``: a home directory of its own and a headless keyring.

The keyring is real: keyrings.alt's plain-text backend, chosen through keyring's own mechanism
(``PYTHON_KEYRING_BACKEND``), with ``HOME``, ``XDG_CONFIG_HOME`` and ``XDG_DATA_HOME`` in a temporary
directory, so it works the same in this process and in the child processes ``vaultgate exec`` starts.
"""

from __future__ import annotations

import base64
import configparser
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.support import cli
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
NO_KEYRING = "keyring.backends.fail.Keyring"
LOCKED = "tests.support.locked_keyring.LockedKeyring"
# Variables a member's own shell might have that would change what the client does.
_CLIENT_VARIABLES = ("VAULTGATE_GATEWAY_URL", "VAULTGATE_TOKEN_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")


@dataclass
class Served:
    """``vaultgate serve`` (a child process) in front of a capturing upstream, and its control plane."""

    settings: Settings
    cp: ControlPlane
    gateway: GatewayProcess
    upstream: CaptureUpstream
    names: Iterator[int] = field(default_factory=lambda: iter(range(1_000_000)))

    @property
    def url(self) -> str:
        return self.gateway.url

    def member_key(self, **policy: Any) -> tuple[str, str]:
        """A new member with a key the gateway already serves: (key, key id)."""
        name = f"member{next(self.names)}"
        members.add(self.cp, LOCAL_OPERATOR, name)
        created = keys.create(self.cp, LOCAL_OPERATOR, name, policy=policy)
        self.wait_until(created.token, 200)
        return created.token, created.info.id

    def revoke(self, key_id: str) -> None:
        """``vaultgate key revoke KEY_ID``, as an admin would."""
        result = cli.run_for(self.settings, "key", "revoke", key_id)
        assert result.returncode == 0, result.stderr

    def wait_until(self, credential: str, status: int) -> None:
        """Poll whoami until the gateway answers ``status`` for ``credential`` (a generous deadline)."""
        deadline = time.monotonic() + 30
        while True:
            got = httpx.get(
                self.url + "/v1/vaultgate/whoami", headers={"authorization": f"Bearer {credential}"}
            ).status_code
            if got == status:
                return
            assert time.monotonic() < deadline, f"whoami answered {got}, not {status}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    upstream = CaptureUpstream()
    upstream_server = ThreadedServer(upstream).start()
    settings = make_settings(root, f"sqlite:///{root / 'vaultgate.db'}")
    cp = initialised(settings, upstream_server.url)
    gateway = GatewayProcess(settings.data_dir, root / "gateway.log", {"VAULTGATE_DATABASE_URL": settings.database_url})
    yield Served(settings, cp, gateway, upstream)
    gateway.stop()
    upstream_server.stop()
    cp.store.dispose()


@dataclass(frozen=True)
class Home:
    """A member's home directory and the environment their shell runs commands with."""

    root: Path
    env: dict[str, str]

    @property
    def config_dir(self) -> Path:
        return self.root / "config" / "vaultgate"

    @property
    def keyring_file(self) -> Path:
        return self.root / "data" / "python_keyring" / "keyring_pass.cfg"

    def keyring_secrets(self) -> list[str]:
        """What the plain-text test keyring holds (base64 in its file), decoded."""
        if not self.keyring_file.exists():
            return []
        parser = configparser.RawConfigParser()
        parser.read(self.keyring_file)
        return [base64.b64decode(v).decode() for section in parser.sections() for _, v in parser.items(section)]

    def with_keyring(self, backend: str) -> Home:
        return replace(self, env={**self.env, "PYTHON_KEYRING_BACKEND": backend})

    def full_env(self) -> dict[str, str]:
        """This process's environment as the member's shell would have it."""
        dropped = {*_CLIENT_VARIABLES, "VAULTGATE_MASTER_KEY", "PYTHON_KEYRING_BACKEND"}
        base = {k: v for k, v in os.environ.items() if k not in dropped}
        return {**base, **self.env}

    def vaultgate(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``vaultgate ARGS`` run in this process (login, whoami, logout, env)."""
        return cli.run(list(args), env=self.env, stdin=stdin)

    def spawn(self, *args: str, **options: Any) -> subprocess.Popen[str]:
        """``python -m vaultgate ARGS`` as a child process (exec: it forwards signals, waits for a child)."""
        return subprocess.Popen(
            [sys.executable, "-m", "vaultgate", *args],
            env=self.full_env(),
            text=True,
            stdout=options.pop("stdout", subprocess.PIPE),
            stderr=options.pop("stderr", subprocess.PIPE),
            stdin=options.pop("stdin", subprocess.DEVNULL),
            **options,
        )

    def run_process(
        self, *args: str, stdin: str | None = None, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """``python -m vaultgate ARGS`` to its end."""
        return subprocess.run(
            [sys.executable, "-m", "vaultgate", *args],
            env=self.full_env(),
            text=True,
            capture_output=True,
            input=stdin,
            timeout=timeout,
        )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    root.mkdir()
    env = {
        "HOME": str(root),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "PYTHON_KEYRING_BACKEND": PLAINTEXT,
    }
    for name in _CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Home(root, env)


def login(home: Home, served: Served, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``vaultgate login --gateway URL --with-token --allow-insecure-http`` with ``key`` on stdin."""
    return home.vaultgate("login", "--gateway", served.url, "--with-token", "--allow-insecure-http", *extra, stdin=key)
