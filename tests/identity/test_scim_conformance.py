"""SCIM conformance: scim2-tester's checks over the running gateway's /scim/v2, Users and Groups."""

from __future__ import annotations

from scim2_tester import check_server
from scim2_tester.utils import Status

from tests.conftest import Stack
from tests.identity.scim_support import client, scim_token


def test_scim2_tester_finds_no_failure(stack: Stack) -> None:
    scim = client(stack, scim_token(stack))
    results = check_server(scim, raise_exceptions=False)
    failures = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    for r in failures:
        print(r.status, r.title, r.resource_type, r.reason)
    assert results
    assert not failures
