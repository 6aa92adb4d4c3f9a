"""The leaver test (issue 14): a member streams through replica B while the identity provider deactivates them
over SCIM on replica A. The stream on B ends, the key is refused by B and by A, the admin token is refused, with
no other action; replica A audits the time to effective revocation. PostgreSQL, two ``vaultgate serve``.

No duration is asserted (project rule): the measured times are printed and recorded as properties; the
one-second claim is checked by ``make bench-leaver`` (bench/leaver.py) over many runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.identity.leaver_scenario import LeaverStage


@pytest.mark.postgres
def test_a_leaver_deactivated_over_scim_loses_a_running_stream_and_every_credential(
    tmp_path: Path, postgres_url: str, record_property: Callable[[str, object], None]
) -> None:
    stage = LeaverStage(tmp_path, postgres_url)
    try:
        run = stage.run()
        print(
            f"\nleaver: stream ended on B after {run.stream_ended * 1000:.0f} ms, key refused by B after "
            f"{run.key_refused_b * 1000:.0f} ms and by A after {run.key_refused_a * 1000:.0f} ms, admin token "
            f"after {run.admin_refused * 1000:.0f} ms; audited time to effective revocation on A: {run.audited_ms} ms"
        )
        record_property("stream_ended_ms", round(run.stream_ended * 1000, 1))
        record_property("key_refused_b_ms", round(run.key_refused_b * 1000, 1))
        record_property("key_refused_a_ms", round(run.key_refused_a * 1000, 1))
        record_property("audited_revocation_effective_ms", run.audited_ms)

        # The stream ended by itself, with the gateway's SSE error event (the SDK raises APIError on it).
        assert run.stream_error == "stream_revoked"
        # A revoked key is an unknown key: 401 invalid_api_key on both replicas (docs/ERRORS.md, one answer).
        assert (run.key_status_b, run.key_status_a) == (401, 401)
        assert run.admin_status == 401  # invalid_admin_token: revoked with the rest
        # Replica A recorded when its own snapshot stopped serving the member's keys.
        assert run.audited_ms is not None and run.audited_ms > 0
        assert run.audited_replica is not None
        assert stage.upstream.hang_ups >= 1  # the upstream request was abandoned, not left running
    finally:
        stage.close()
