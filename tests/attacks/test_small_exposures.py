"""Class 12, small exposures: admin docs from a CDN, world-readable database files, providers on
link-local and cloud metadata addresses (server-side request forgery with the provider key)."""

from __future__ import annotations

import stat

import httpx
import pytest
from openai import OpenAI

from tests.attacks.conftest import RecordingUpstream, Served

CDN_MARKERS = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs", "fastapi.tiangolo.com", "https://")


def test_admin_docs_are_off_by_default_and_load_nothing_from_a_cdn(served: Served) -> None:
    response = httpx.get(served.url + "/admin/docs")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert not any(marker in response.text for marker in CDN_MARKERS)
    # the schema stays: tooling and schemathesis read it
    assert httpx.get(served.url + "/admin/openapi.json").status_code == 200


def test_database_files_are_owner_only_after_traffic(served: Served, upstream: RecordingUpstream) -> None:
    member = served.member()
    client = OpenAI(base_url=served.base_url, api_key=served.key(member), max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    served.sync()  # a control-plane write and the usage batch: the WAL is in use

    database = served.data_dir / "vaultgate.db"
    files = [database, database.with_name("vaultgate.db-wal"), database.with_name("vaultgate.db-shm")]
    assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
    modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
    assert modes == dict.fromkeys(modes, oct(0o600))
    assert stat.S_IMODE(served.data_dir.stat().st_mode) == 0o700


FORBIDDEN_BASE_URLS = [
    "https://169.254.169.254/v1",  # AWS, GCP, Azure instance metadata
    "https://[fe80::1]/",  # IPv6 link-local
    "https://metadata.google.internal/",
    "https://metadata.google.internal./computeMetadata/v1",  # trailing dot, same host
    "https://METADATA/",
    "https://[::ffff:169.254.169.254]/v1",  # IPv4-mapped IPv6
    "https://2852039166/v1",  # 169.254.169.254 as one decimal number
    "https://100.100.100.200/v1",  # Alibaba Cloud metadata
    "https://168.63.129.16/v1",  # Azure wire server
    "https://[fd00:ec2::254]/v1",  # AWS IPv6 metadata
    "https://169.254.10.1/v1",  # anywhere link-local
    "https://0.0.0.0/v1",  # unspecified: the local host on Linux
]


@pytest.mark.parametrize("base_url", FORBIDDEN_BASE_URLS)
def test_owner_cannot_register_a_provider_on_a_metadata_or_link_local_address(
    served: Served, upstream: RecordingUpstream, base_url: str
) -> None:
    owner = served.member(role="owner")
    token = served.admin_token(owner)
    headers = {"Authorization": f"Bearer {token}"}
    name = "ssrf-" + owner[-6:]
    response = httpx.post(
        served.url + "/admin/providers",
        headers=headers,
        json={"name": name, "kind": "compatible", "base_url": base_url, "api_key": "sk-test"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("'base_url': host refused: "), error["message"]
    listed = httpx.get(served.url + "/admin/providers", headers=headers).json()
    assert name not in [p["name"] for p in listed]


def test_plain_http_to_link_local_is_refused_too(served: Served, upstream: RecordingUpstream) -> None:
    owner = served.member(role="owner")
    response = httpx.post(
        served.url + "/admin/providers",
        headers={"Authorization": f"Bearer {served.admin_token(owner)}"},
        json={
            "name": "ll-" + owner[-6:],
            "kind": "compatible",
            "base_url": "http://[fe80::1]/",
            "api_key": "sk-test",
            "allow_insecure_http": True,
        },
    )
    assert response.status_code == 400
    # the field is named, not a CLI flag: this is the admin API
    assert "--" not in response.json()["error"]["message"]
