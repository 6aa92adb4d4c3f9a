"""vaultgate exec and env: a command gets a short-lived token and the gateway's URL, never the stored key."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import textwrap
import time
from subprocess import Popen

import httpx
import pytest

from tests.client.conftest import NO_KEYRING, Home, Served, login
from vaultgate.keys import tokens

PY = sys.executable
SDK_CHILD = (
    "import openai; print(openai.OpenAI(max_retries=0).chat.completions.create(model='gpt-4o-mini', "
    "messages=[{'role': 'user', 'content': 'hello from exec'}]).choices[0].message.content)"
)
ENV_CHILD = "import json, os; print(json.dumps(dict(os.environ)))"


def logged_in(home: Home, served: Served) -> str:
    key, _ = served.member_key()
    assert login(home, served, key).returncode == 0
    return key


def whoami_of(served: Served, credential: str) -> httpx.Response:
    return httpx.get(served.url + "/v1/vaultgate/whoami", headers={"authorization": f"Bearer {credential}"})


def test_a_child_calls_the_gateway_with_the_official_sdk_and_only_the_injected_environment(
    home: Home, served: Served
) -> None:
    key = logged_in(home, served)
    result = home.run_process("exec", "--ttl", "5m", "--", PY, "-c", SDK_CHILD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upstream says: hello from exec"
    assert key not in result.stdout + result.stderr
    assert key not in served.gateway.output()


def test_the_childs_environment_is_the_parents_plus_exactly_two_variables(home: Home, served: Served) -> None:
    key = logged_in(home, served)
    result = home.run_process("exec", "--model", "gpt-4o-mini", "--scope", "embeddings=none", "--", PY, "-c", ENV_CHILD)
    assert result.returncode == 0, result.stderr
    child = json.loads(result.stdout)
    parent = home.full_env()
    added = {name: child[name] for name in set(child) - set(parent)}
    assert set(added) == {"OPENAI_BASE_URL", "OPENAI_API_KEY"}
    assert {name: child[name] for name in parent} == parent
    assert added["OPENAI_BASE_URL"] == served.url + "/v1"
    token = added["OPENAI_API_KEY"]
    parsed = tokens.parse(token)
    assert parsed is not None and parsed.kind is tokens.TokenKind.SHORT_LIVED
    assert all(key not in value for value in child.values())
    identity = whoami_of(served, token).json()
    assert identity["credential"] == "token" and identity["models"] == ["gpt-4o-mini"]
    assert identity["scopes"]["embeddings"] == "none"
    # A variable the parent already had is replaced, not duplicated.
    replaced = home.run_process("exec", "--", PY, "-c", ENV_CHILD, stdin=None)
    assert json.loads(replaced.stdout)["OPENAI_API_KEY"] != token


def test_exit_codes_like_a_shell(home: Home, served: Served) -> None:
    logged_in(home, served)
    missing = home.run_process("exec", "--", "no-such-command-vaultgate-test", "arg")
    assert missing.returncode == 127
    assert missing.stderr.strip() == "vaultgate: error: no-such-command-vaultgate-test: command not found"
    not_executable = home.root / "script.sh"
    not_executable.write_text("echo hi\n")
    refused = home.run_process("exec", "--", str(not_executable))
    assert refused.returncode == 126 and "Permission denied" in refused.stderr
    assert home.run_process("exec", "--", PY, "-c", "import sys; sys.exit(7)").returncode == 7
    # Without "--" the command's own options stay its own.
    assert home.run_process("exec", PY, "-c", "import sys; sys.exit(3)").returncode == 3
    usage = home.run_process("exec", "--ttl", "2h", "--", PY, "-c", "pass")
    assert usage.returncode == 2 and "--ttl must be between 1s and 1h" in usage.stderr


def _started(process: Popen[str], marker: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == marker, (line, process.stderr.read() if process.stderr else "")


def test_signals_reach_the_child_and_its_end_is_the_exit_code(home: Home, served: Served) -> None:
    logged_in(home, served)
    trapping = textwrap.dedent(
        """
        import signal, sys, time
        def stop(number, frame):
            print("child got", signal.Signals(number).name, flush=True)
            sys.exit(42)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    process = home.spawn("exec", "--", PY, "-c", trapping)
    _started(process, "ready")
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 42 and "child got SIGTERM" in out

    for number in (signal.SIGHUP, signal.SIGINT):
        waiting = "import time; print('ready', flush=True); time.sleep(120)"
        process = home.spawn("exec", "--", PY, "-c", waiting)
        _started(process, "ready")
        process.send_signal(number)
        process.communicate(timeout=60)
        assert process.returncode == 128 + number, (number, process.returncode)


REFRESHING_CHILD = textwrap.dedent(
    """
    import hashlib, time
    import httpx, openai
    from vaultgate.client import ClientError, connect, openai_client
    connection = connect()
    client = openai_client(connection, max_retries=0)
    seen = []
    first_ends = None
    while True:
        try:
            token = connection.source.token()
        except ClientError as exc:
            print("ERROR", exc, flush=True)
            break
        if token not in seen:
            seen.append(token)
            first_ends = first_ends or connection.source.expires_at
            try:
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {len(seen)}"}]
                ).choices[0].message.content
            except openai.AuthenticationError:  # a token handed out as its key was being revoked
                reply = "refused"
            print("TOKEN", len(seen), hashlib.sha256(token.encode()).hexdigest()[:12], reply, flush=True)
        if len(seen) >= 2 and first_ends is not None and time.time() > first_ends + 1:
            old = httpx.get(connection.base_url + "/vaultgate/whoami", headers={"authorization": "Bearer " + seen[0]})
            print("OLD", old.status_code, flush=True)
            first_ends = float("inf")
        time.sleep(0.1)
    """
)


def _lines_until(process: Popen[str], predicate: str, seen: list[str], deadline: float = 60) -> str:
    assert process.stdout is not None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.startswith(predicate):
            return line.strip()
    if process.poll() is not None and process.stderr is not None:
        seen.append("stderr: " + process.stderr.read())
    raise AssertionError(f"no line starting with {predicate!r}: {seen}")


def test_exec_refresh_serves_fresh_tokens_across_expiry_until_the_key_is_revoked(home: Home, served: Served) -> None:
    key, key_id = served.member_key()
    assert login(home, served, key).returncode == 0
    process = home.spawn("exec", "--refresh", "--ttl", "2s", "--", PY, "-c", REFRESHING_CHILD)
    seen: list[str] = []
    try:
        first = _lines_until(process, "TOKEN 1", seen)
        second = _lines_until(process, "TOKEN 2", seen)
        assert first.split()[2] != second.split()[2]
        assert first.endswith("upstream says: call 1") and second.endswith("upstream says: call 2")
        assert _lines_until(process, "OLD", seen) == "OLD 401"  # the first token did expire
        served.revoke(key_id)
        error = _lines_until(process, "ERROR", seen)
        assert "the stored key is expired, revoked or unknown: run `vaultgate login` again" in error
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert key not in "\n".join(seen) + out + err and key not in served.gateway.output()


def test_exec_refresh_adds_exactly_one_more_variable_and_its_endpoint_answers_only_its_path(
    home: Home, served: Served
) -> None:
    logged_in(home, served)
    probe = textwrap.dedent(
        """
        import json, os, httpx
        url = os.environ["VAULTGATE_TOKEN_URL"]
        base = url.rsplit("/", 1)[0]
        answer = httpx.get(url).json()
        print(json.dumps({
            "env": dict(os.environ),
            "token_ok": answer["token"] == os.environ["OPENAI_API_KEY"],
            "other_path": httpx.get(base + "/guess").status_code,
            "browser": httpx.get(url, headers={"origin": "https://evil.example"}).status_code,
        }))
        """
    )
    result = home.run_process("exec", "--refresh", "--", PY, "-c", probe)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    parent = home.full_env()
    assert set(report["env"]) - set(parent) == {"OPENAI_BASE_URL", "OPENAI_API_KEY", "VAULTGATE_TOKEN_URL"}
    assert report["env"]["VAULTGATE_TOKEN_URL"].startswith("http://127.0.0.1:")
    assert report["token_ok"] and report["other_path"] == 404 and report["browser"] == 403
    path = report["env"]["VAULTGATE_TOKEN_URL"].rsplit("/", 1)[1]
    assert path not in result.stderr  # the endpoint logs nothing: its path is the capability


def test_env_prints_export_lines_with_a_token_never_the_key(home: Home, served: Served) -> None:
    key = logged_in(home, served)
    result = home.vaultgate("env", "--ttl", "10m")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("export OPENAI_") for line in lines)
    values = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in lines)
    assert values["OPENAI_BASE_URL"] == served.url + "/v1"
    assert whoami_of(served, values["OPENAI_API_KEY"]).json()["credential"] == "token"
    assert key not in result.stdout + result.stderr
    fish = home.vaultgate("env", "--shell", "fish")
    assert fish.stdout.startswith("set -gx OPENAI_BASE_URL ") and key not in fish.stdout
    assert home.vaultgate("env", "--shell", "csh").returncode == 2


def test_ci_key_from_stdin_without_any_keyring(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    ci = home.with_keyring(NO_KEYRING)
    common = ("--gateway", served.url, "--allow-insecure-http", "--with-token")
    result = ci.run_process("exec", *common, "--", PY, "-c", SDK_CHILD, stdin=key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upstream says: hello from exec" and key not in result.stdout + result.stderr
    exported = ci.vaultgate("env", *common, stdin=key)
    assert exported.returncode == 0 and "vgt_" in exported.stdout and key not in exported.stdout


@pytest.mark.parametrize("problem", ["revoked", "unreachable"])
def test_exec_says_what_is_wrong_and_runs_nothing(home: Home, served: Served, problem: str) -> None:
    key, key_id = served.member_key()
    assert login(home, served, key).returncode == 0
    marker = home.root / "ran"
    if problem == "revoked":
        served.revoke(key_id)
        served.wait_until(key, 401)
        args: tuple[str, ...] = ()
        said = "the stored key is expired, revoked or unknown: run `vaultgate login` again"
    else:
        from tests.support.servers import free_port

        args = ("--gateway", f"http://127.0.0.1:{free_port()}", "--allow-insecure-http", "--with-token")
        said = "cannot reach the vaultgate gateway"
    result = home.run_process("exec", *args, "--", PY, "-c", f"open({str(marker)!r}, 'w')", stdin=key)
    assert result.returncode == 1 and said in result.stderr
    assert not marker.exists() and key not in result.stderr
