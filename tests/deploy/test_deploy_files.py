"""The deployment files hold together: what docker-compose.yml names exists, the numbers that must agree
across files agree, the systemd unit passes ``systemd-analyze``, and nginx accepts its configuration.

No container engine runs on the development and CI machines: nothing here builds or starts an image.
What the files make vaultgate *do* (their commands and environment really serve) is in
test_deploy_commands.py.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import require_service
from tests.deploy import files
from tests.deploy.files import ROOT
from vaultgate.config import Settings
from vaultgate.vault.masterkey import read_key_file


def ignored_by_dockerignore(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, / separators) out of the build context."""
    ignored = False
    for line in files.DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes):
            ignored = not negate
    return ignored


def test_compose_builds_the_image_from_this_tree_and_installs_nothing_at_start() -> None:
    services = files.vaultgate_services()
    assert {"migrate", "vaultgate-1", "vaultgate-2"} <= set(services)
    for name, service in services.items():
        assert service["build"] == ".", name
        command = " ".join(service.get("command", []))
        assert "pip" not in command, f"{name} installs at start: {command}"
    assert (ROOT / files.compose()["services"]["migrate"]["build"] / "Dockerfile").is_file()


def test_every_file_compose_mounts_exists_and_every_secret_is_made_by_the_documented_steps(tmp_path: Path) -> None:
    document = files.compose()
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in document["volumes"], f"{name} uses the undeclared volume {source}"
        for secret in service.get("secrets", []):
            assert secret in document["secrets"], f"{name} uses the undeclared secret {secret}"

    # The secret files are the operator's to make (never in the repository): the block in
    # docs/DEPLOYMENT.md must make each one, in a form its reader accepts.
    secret_files = {name: spec["file"] for name, spec in document["secrets"].items()}
    for path in secret_files.values():
        assert path.startswith("./secrets/"), path
    assert "/secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    assert ignored_by_dockerignore("secrets/master.key")
    # Outside root, the documented `sudo chown` cannot run; everything else does.
    prelude = 'sudo() { if [ "$(id -u)" = 0 ]; then "$@"; fi; }\n'
    subprocess.run(["bash", "-euc", prelude + files.secrets_script()], cwd=tmp_path, check=True, timeout=30)
    for name, path in secret_files.items():
        made = tmp_path / path
        assert made.is_file(), f"the documented steps do not make {path} (secret {name})"
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, path
    read_key_file(tmp_path / secret_files["vaultgate_master_key"])  # vaultgate's own check: mode and format
    password = (tmp_path / secret_files["pg_password"]).read_text().strip()
    env = document["services"]["vaultgate-1"]["environment"]
    url = re.fullmatch(r"postgresql://(\w+)@(\w+):(\d+)/(\w+)", env["VAULTGATE_DATABASE_URL"])
    assert url is not None
    user, host, port, database = url.groups()
    assert (tmp_path / secret_files["pgpass"]).read_text() == f"{host}:{port}:{database}:{user}:{password}\n"
    postgres = document["services"]["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == (user, database)
    if shutil.which("id") and subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0":
        uid = files.compose()["services"]["vaultgate-1"]["user"].split(":")[0]
        for name in ("vaultgate_master_key", "pgpass"):
            assert str((tmp_path / secret_files[name]).stat().st_uid) == uid, name


def test_the_dockerfile_runs_as_a_fixed_non_root_user_and_writes_only_its_data_volume() -> None:
    stages = files.dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    runtime = files.runtime_stage()
    user = files.last(runtime, "USER").arguments
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"USER {user}: a fixed numeric uid:gid, not root"
    assert f"--uid {user.split(':')[0]}" in " ".join(i.arguments for i in runtime if i.keyword == "RUN")
    env = files.image_environment(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["TIKTOKEN_CACHE_DIR"] == ""  # else tiktoken copies its table to /tmp
    data_dir = env["VAULTGATE_DATA_DIR"]
    assert files.last(runtime, "VOLUME").exec_form() == [data_dir]
    assert files.last(runtime, "WORKDIR").arguments == data_dir
    assert files.last(runtime, "EXPOSE").arguments == env["VAULTGATE_PORT"] == "8080"
    assert files.last(runtime, "ENTRYPOINT").exec_form() == ["vaultgate"]
    assert files.last(runtime, "CMD").exec_form() == ["serve", "--host", "0.0.0.0"]
    assert files.last(runtime, "HEALTHCHECK").exec_form()[0] == "python"
    # Every file the build copies exists and is in the build context.
    for stage in stages:
        for instruction in stage:
            if instruction.keyword == "COPY" and "--from=" not in instruction.arguments:
                for source in instruction.arguments.split()[:-1]:
                    assert (ROOT / source).exists(), f"COPY {source}: no such file"
                    assert not ignored_by_dockerignore(source), f"COPY {source}: excluded by .dockerignore"


def test_compose_volumes_are_the_images_data_dir_and_the_root_filesystem_is_read_only() -> None:
    data_dir = files.image_environment(files.runtime_stage())["VAULTGATE_DATA_DIR"]
    for name, service in files.vaultgate_services().items():
        assert service["environment"]["VAULTGATE_DATA_DIR"] == data_dir, name
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert [v.split(":", 1)[1] for v in service["volumes"]] == [data_dir], name
        assert service["user"] == files.last(files.runtime_stage(), "USER").arguments, name


def test_nginx_and_compose_agree_on_addresses_body_limit_and_trusted_proxy() -> None:
    document = files.compose()
    replicas = {
        name: service for name, service in files.vaultgate_services().items() if service["command"][0] == "serve"
    }
    assert sorted(replicas) == ["vaultgate-1", "vaultgate-2"]
    upstreams = [value.split()[0] for value in files.nginx_values("server")]
    assert upstreams == [f"{name}:{s['command'][s['command'].index('--port') + 1]}" for name, s in replicas.items()]
    nginx = document["services"]["nginx"]
    assert nginx["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert [f"{p}:{p}" for p in files.nginx_values("listen")] == nginx["ports"]
    for name, service in replicas.items():
        env = service["environment"]
        limit = int(env["VAULTGATE_MAX_BODY_BYTES"])
        assert files.nginx_bytes(files.nginx_values("client_max_body_size")[0]) == limit, name
        assert f"exceeds the limit of {limit} bytes" in files.NGINX.read_text()
        # Only nginx's X-Forwarded-For is believed, and nginx writes it itself.
        assert env["VAULTGATE_TRUSTED_PROXIES"] == nginx["networks"]["front"]["ipv4_address"], name
    assert "X-Forwarded-For $remote_addr" in files.nginx_values("proxy_set_header")
    assert files.nginx_values("proxy_buffering") == ["off"]
    assert "Upgrade $http_upgrade" in files.nginx_values("proxy_set_header")


def test_stop_grace_periods_cover_the_drain_time() -> None:
    default_drain = Settings().drain_timeout
    for name, service in files.vaultgate_services().items():
        if service["command"][0] != "serve":
            continue
        drain = float(service["environment"].get("VAULTGATE_DRAIN_TIMEOUT", default_drain))
        assert files.seconds(service["stop_grace_period"]) >= drain + 10, name
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM", name
    drain = float(files.unit_environment().get("VAULTGATE_DRAIN_TIMEOUT", default_drain))
    assert files.seconds(files.unit_value("Service", "TimeoutStopSec")) >= drain + 10
    assert files.unit_value("Service", "KillSignal") == "SIGTERM"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        require_service("systemd-analyze", "not installed (Debian: the systemd package)")
    assert found is not None
    return found


def unit_with_an_existing_command(tmp_path: Path) -> Path:
    """The unit, its ExecStart pointed at a file that exists here: `verify` checks the program exists."""
    program = tmp_path / "vaultgate"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "vaultgate.service"
    text = files.UNIT.read_text()
    assert "ExecStart=/opt/vaultgate/bin/vaultgate " in text
    unit.write_text(text.replace("ExecStart=/opt/vaultgate/bin/vaultgate ", f"ExecStart={program} "))
    return unit


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    unit = unit_with_an_existing_command(tmp_path)
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    # An unknown or malformed setting is only a warning (exit 0), so any output fails the test.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    unit = unit_with_an_existing_command(tmp_path)
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=20", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    service = dict(files.unit_entries()["Service"])
    assert service["User"] == "vaultgate" and service["EnvironmentFile"] == "/etc/vaultgate/env"
    assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/var/lib/vaultgate"
    assert service["CapabilityBoundingSet"] == "" and service["NoNewPrivileges"] == "yes"
    assert service["Restart"] == "on-failure"


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    """Optional: only where nginx is installed (CI does not install it; `apt-get install nginx-light`)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        require_service("nginx", "not installed (`make test` installs nginx-light)")
    # Compose's service names do not resolve here, and nginx resolves them while loading.
    site = files.NGINX.read_text().replace("vaultgate-1:8080", "127.0.0.1:1").replace("vaultgate-2:8080", "127.0.0.1:2")
    (tmp_path / "site.conf").write_text(site.replace("listen 8080;", "listen 127.0.0.1:1;"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
        f"include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
