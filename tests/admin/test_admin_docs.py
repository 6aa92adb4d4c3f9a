"""``/admin/docs``: off by default; when enabled, every asset comes from the package, none from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vaultgate.admin.api import build_admin_app
from vaultgate.config import Settings
from vaultgate.services import bootstrap
from vaultgate.services.context import ControlPlane


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    settings = Settings(data_dir=tmp_path / "data")
    bootstrap.init(settings)
    control_plane = bootstrap.open_control_plane(settings)
    yield control_plane
    control_plane.store.dispose()


def test_docs_are_off_unless_enabled(cp: ControlPlane) -> None:
    client = TestClient(build_admin_app(cp))
    for path in ("/admin/docs", "/admin/docs/assets/swagger-ui-bundle.js", "/admin/redoc"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json")
    assert client.get("/admin/openapi.json").status_code == 200


def test_enabled_docs_load_only_packaged_assets(cp: ControlPlane) -> None:
    client = TestClient(build_admin_app(cp, docs=True))
    page = client.get("/admin/docs")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert all(u.startswith("/admin/") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
    assert client.get("/admin/docs/assets/swagger-ui-bundle.js").content.startswith(b"/*")


@pytest.mark.parametrize("name", ["..%2F..%2Fconfig.py", "index.html", "swagger-ui.js.map", "%2Fetc%2Fpasswd"])
def test_only_the_listed_assets_are_served(cp: ControlPlane, name: str) -> None:
    client = TestClient(build_admin_app(cp, docs=True))
    assert client.get(f"/admin/docs/assets/{name}").status_code == 404
