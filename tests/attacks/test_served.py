"""The attack suite's own fixture works: a member key reaches the recording upstream through ``vaultgate serve``."""

from __future__ import annotations

from tests.attacks.conftest import RecordingUpstream, Served


def test_a_request_reaches_the_recording_upstream_with_the_provider_key(
    served: Served, upstream: RecordingUpstream
) -> None:
    team = served.team()
    key = served.key(served.member(team=team))
    response = served.post(
        "/chat/completions", key, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert upstream.last.path == "/v1/chat/completions"
    assert upstream.last.headers["authorization"] == f"Bearer {served.upstream_key}"
