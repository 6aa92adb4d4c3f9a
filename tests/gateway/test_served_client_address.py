"""Through ``vaultgate serve``: a client cannot claim another address with X-Forwarded-For."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.conftest import make_settings
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    tmp_path: Path, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    _, upstream = capture_upstream
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vg.db'}")
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    remote_only = keys.create(cp, LOCAL_OPERATOR, "alice", policy={"ip_allow": ["203.0.113.0/24"]}).token
    gateway = GatewayProcess(
        settings.data_dir, tmp_path / "gateway.log", {"VAULTGATE_DATABASE_URL": settings.database_url or ""}
    )
    try:
        resp = httpx.post(
            gateway.url + "/v1/chat/completions",
            json=BODY,
            headers={"authorization": f"Bearer {remote_only}", "x-forwarded-for": "203.0.113.5"},
        )
    finally:
        gateway.stop()
        cp.store.dispose()
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "ip_not_allowed"
