"""--revoke and --verify against real HTTP servers on loopback (never the internet)."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from conftest import openai_key, write
from vaultgate.keys.tokens import TokenKind, mint, parse


class Recorder:
    """A loopback server that records every request and answers from a script."""

    def __init__(self, answer: dict[str, tuple[int, dict[str, Any]]]) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                token = self.headers.get("Authorization", "")
                status, payload = answer.get(token, answer.get("*", (404, {})))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def admin_api() -> Iterator[Recorder]:
    answer = {
        "Bearer adm-secret": (
            200,
            {"revoked": [{"id": "key_1", "display": "vgk_AbCd…wxyz"}], "unknown": 1},
        )
    }
    server = Recorder(answer)
    yield server
    server.close()


def test_revoke_sends_fingerprints_never_plaintext(
    admin_api: Recorder,
    runner: CliRunner,
    cli: typer.Typer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = [mint(TokenKind.MEMBER_KEY), mint(TokenKind.ADMIN_TOKEN)]
    write(tmp_path / "a.env", f"K={tokens[0]}\nA={tokens[1]}\nB={tokens[0]}\n")
    monkeypatch.setenv("VAULTGATE_ADMIN_TOKEN", "adm-secret")
    monkeypatch.setenv("VAULTGATE_ADMIN_URL", admin_api.url)
    result = runner.invoke(cli, ["scan", str(tmp_path), "--revoke", "-f", "json"])
    assert result.exit_code == 1  # the leaked tokens are still in the file
    [request] = admin_api.requests
    assert (request["method"], request["path"]) == ("POST", "/admin/keys/leaked")
    assert request["headers"]["Authorization"] == "Bearer adm-secret"
    sent = json.loads(request["body"])
    assert sent == {
        "fingerprints": sorted(hashlib.sha256(t.encode()).hexdigest() for t in tokens),
        "source": "scan",
    }
    wire = request["body"].decode() + json.dumps(request["headers"])
    for token in tokens:
        assert token not in wire and parse(token) is not None
        assert token[4:36] not in wire
        assert token not in result.output
    document = json.loads(result.stdout)
    assert document["revoke"] == {
        "revoked": [{"id": "key_1", "display": "vgk_AbCd…wxyz"}],
        "unknown": 1,
    }
    assert "revoked vgk_AbCd…wxyz" in result.stderr


def test_revoke_failures_exit_2(
    admin_api: Recorder,
    runner: CliRunner,
    cli: typer.Typer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(tmp_path / "a.env", f"K={mint(TokenKind.MEMBER_KEY)}\n")
    args = ["scan", str(tmp_path), "--revoke", "--admin-url", admin_api.url]
    monkeypatch.delenv("VAULTGATE_ADMIN_TOKEN", raising=False)
    assert runner.invoke(cli, args).exit_code == 2  # no admin token
    monkeypatch.setenv("VAULTGATE_ADMIN_TOKEN", "wrong")
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2 and "404" in refused.stderr


def test_verify_marks_live_and_dead_keys(
    runner: CliRunner, cli: typer.Typer, tmp_path: Path, make: random.Random
) -> None:
    live, dead = openai_key(make), openai_key(make)
    server = Recorder({f"Bearer {live}": (200, {"data": []}), "*": (401, {"error": {}})})
    try:
        write(tmp_path / "a.py", f'A = "{live}"\nB = "{dead}"\nC = "{live}"\n')
        result = runner.invoke(
            cli,
            [
                "scan",
                str(tmp_path),
                "--verify",
                "--verify-base-url",
                server.url + "/v1",
                "-f",
                "json",
            ],
        )
    finally:
        server.close()
    assert result.exit_code == 1
    verdicts = [(f["line"], f["verified"]) for f in json.loads(result.stdout)["findings"]]
    assert verdicts == [(1, "live"), (2, "dead"), (3, "live")]
    assert [r["path"] for r in server.requests] == ["/v1/models", "/v1/models"]
    assert live not in result.output and dead not in result.output


def test_verify_refuses_plain_http_off_loopback(runner: CliRunner, cli: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["scan", str(tmp_path), "--verify", "--verify-base-url", "http://api.example.com/v1"])
    assert result.exit_code == 2
