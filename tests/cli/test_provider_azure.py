"""``vaultgate provider add --kind azure`` with a surface and Microsoft Entra ID, and the same through the admin API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.conftest import Stack
from tests.support import cli

from vaultgate.config import Settings
from vaultgate.services import bootstrap
from vaultgate.store.models import Provider, ProviderCredential

SECRET = "cs~" + "Q7v" * 12
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0b6b5c2e-1111-4222-8333-944455556666"
ENTRA = ["--api-version", "1", "--auth", "entra", "--tenant-id", TENANT, "--client-id", CLIENT]
BASE = ["--kind", "azure", "--base-url", "https://x.openai.azure.com", "--deployment", "gpt-4o=prod-4o"]


def vg(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.run(["--data-dir", str(data_dir), "provider", *args], env={"AZ_SECRET": SECRET})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    settings = Settings(data_dir=tmp_path / "data")
    bootstrap.init(settings)
    return settings.data_dir


def test_entra_provider_on_the_v1_surface(data_dir: Path) -> None:
    entra = ["--auth", "entra", "--tenant-id", TENANT, "--client-id", CLIENT, "--client-secret-env", "AZ_SECRET"]
    result = vg(data_dir, "add", "az", *BASE, "--azure-surface", "v1", *entra, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["settings"] == {"surface": "v1", "auth": "entra", "tenant_id": TENANT, "client_id": CLIENT}
    assert info["api_version"] is None and info["has_key"] is True
    assert SECRET not in result.stdout + result.stderr
    listed = vg(data_dir, "list", "--json")
    assert json.loads(listed.stdout)[0]["settings"]["auth"] == "entra"

    cp = bootstrap.open_control_plane(Settings(data_dir=data_dir))
    try:
        with cp.store.session() as session:
            provider = session.query(Provider).one()
            sealed = session.query(ProviderCredential).one()
            assert cp.vault.open(sealed.id, sealed.sealed).decode() == SECRET  # the secret, sealed like a key
            assert provider.settings["surface"] == "v1"
    finally:
        cp.store.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-version", "2024-10-21", "--auth", "entra", "--client-id", CLIENT], "--tenant-id"),
        (["--api-version", "2024-10-21", "--auth", "entra", "--tenant-id", TENANT], "--client-id"),
        (["--api-version", "2024-10-21", "--auth", "oauth"], "--auth must be api-key or entra"),
        (["--api-version", "2024-10-21", "--azure-surface", "v2"], "--azure-surface must be deployments or v1"),
        (["--azure-surface", "deployments"], "--api-version"),
        (
            [*ENTRA, "--token-url", "http://login.example.com/t/oauth2/v2.0/token"],
            "--token-url: plain http:// is refused",
        ),
        (
            [*ENTRA, "--token-url", "https://169.254.169.254/metadata/identity/oauth2/token"],
            "--token-url: host refused",
        ),
        (["--api-version", "1", "--tenant-id", TENANT], "are for Entra ID"),
    ],
)
def test_bad_azure_settings_are_refused_naming_the_flag(data_dir: Path, args: list[str], message: str) -> None:
    result = vg(data_dir, "add", "az", *BASE, "--client-secret-env", "AZ_SECRET", *args)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr, result.stderr


def test_admin_api_takes_the_same_fields(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway.url, headers={"Authorization": f"Bearer {stack.admin_token}"}) as admin:
        body = {
            "name": "az",
            "kind": "azure",
            "base_url": "https://x.openai.azure.com",
            "deployments": {"gpt-4o": "prod-4o"},
            "api_version": "2024-10-21",
            "auth": "entra",
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret": SECRET,
        }
        created = admin.post("/admin/providers", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["settings"]["auth"] == "entra" and SECRET not in created.text
        both = admin.post("/admin/providers", json={**body, "name": "az2", "api_key": "x"})
        assert both.status_code == 400 and "not both" in both.text
        listed = admin.get("/admin/providers")
        assert {p["name"]: p["settings"] for p in listed.json()}["az"]["tenant_id"] == TENANT
