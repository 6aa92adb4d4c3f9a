"""Rotating the master key under a running gateway: no request fails, and new secrets open afterwards."""

from __future__ import annotations

import threading

import openai
from tests.conftest import Stack

from vaultgate.services import providers, vault_ops
from vaultgate.services.bootstrap import open_control_plane
from vaultgate.services.context import LOCAL_OPERATOR

CHAT = [{"role": "user", "content": "hi"}]


def test_rotate_master_without_downtime(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    failures: list[BaseException] = []
    done = threading.Event()

    def traffic() -> None:
        c = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
        while not done.is_set():
            try:
                c.chat.completions.create(model="gpt-4o", messages=CHAT)
            except Exception as exc:
                failures.append(exc)

    worker = threading.Thread(target=traffic)
    worker.start()
    result = vault_ops.rotate_master(stack.cp)
    # A provider sealed under the new master key after the gateway started: the gateway must
    # re-read the key file to open it, and keep serving meanwhile.
    cp = open_control_plane(stack.settings)
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "later",
        kind="compatible",
        base_url=stack.upstream_server_url + "/v1",
        api_key="sk-upstream-later",
        allow_insecure_http=True,
        make_default=True,
    )
    stack.sync()
    before = len(stack.upstream.requests)
    openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=CHAT
    )
    done.set()
    worker.join()
    assert result.rewrapped >= 2
    assert failures == []
    assert any(r.headers["authorization"] == "Bearer sk-upstream-later" for r in stack.upstream.requests[before:])
    cp.store.dispose()
