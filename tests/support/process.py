"""vaultgate as users run it: ``python -m vaultgate serve`` in a subprocess, and a data dir ready for it."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port
from vaultgate.config import Settings
from vaultgate.services import bootstrap, providers
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane


def initialised(settings: Settings, upstream_url: str, api_key: str = "sk-upstream-test") -> ControlPlane:
    """Init the data dir and register the capturing upstream as the default provider."""
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "capture",
        kind="compatible",
        base_url=upstream_url + "/v1",
        api_key=api_key,
        allow_insecure_http=True,
    )
    return cp


class GatewayProcess:
    """``vaultgate serve`` on a free port, its output in ``log``; started ready (``/healthz`` answers)."""

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        env: dict[str, str] | None = None,
        *,
        args: tuple[str, ...] = (),
        tls_ca: Path | None = None,
    ) -> None:
        """``args`` go to ``serve``; with ``tls_ca`` the server speaks HTTPS with a certificate that CA signed."""
        self.port = free_port()
        self.log = log
        command = [sys.executable, "-m", "vaultgate", "serve", "--data-dir", str(data_dir), "--port", str(self.port)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, *args],
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{self.port}"
        verify = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else True
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", verify=verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"vaultgate serve did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, then wait for the graceful shutdown; the exit code (uvicorn re-raises SIGTERM: -15)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=30)

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text()
