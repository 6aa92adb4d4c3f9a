"""The admin API while its database is down: a JSON 503 ``database_unavailable``, never plain text;
and it answers again once the database is back. A real PostgreSQL, crashed by the test."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.support.postgres import PrivatePostgres
from tests.support.servers import ThreadedServer

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import bootstrap

pytestmark = pytest.mark.postgres


def test_admin_api_answers_json_503_while_the_database_is_down(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=private_postgres.url)
    token = bootstrap.init(settings).admin_token
    gateway = ThreadedServer(build(settings)).start()
    admin = httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {token}"})
    try:
        assert admin.get("/admin/members").status_code == 200
        private_postgres.crash()
        for method, path, body in (("GET", "/admin/members", None), ("POST", "/admin/members", {"name": "bob"})):
            answer = admin.request(method, path, json=body)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["error"]["code"] == "database_unavailable"
        private_postgres.start()
        assert admin.post("/admin/members", json={"name": "bob"}).status_code == 201
    finally:
        admin.close()
        gateway.stop()
