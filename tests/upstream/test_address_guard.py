"""The upstream address rules: base-URL checks, and the connect-time guard against names that resolve
to link-local or metadata addresses (DNS rebinding). Resolution is faked: no test here needs a network."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from vaultgate.upstream.addresses import host_address, host_refusal, is_loopback_host
from vaultgate.upstream.config import ProviderKind, UnsafeURLError, check_base_url
from vaultgate.upstream.http import ForbiddenAddress, GuardedResolver, UpstreamClient
from vaultgate.upstream.interface import UpstreamUnavailable


class FixedResolver(AbstractResolver):
    """Answers every name with the given addresses, and remembers what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def loopback_upstream() -> Iterator[ThreadedServer]:
    server = ThreadedServer(CaptureUpstream()).start()
    yield server
    server.stop()


def _get(client: UpstreamClient, url: str) -> int:
    async def run() -> int:
        await client.start()
        try:
            response = await client.request("GET", url, [], b"")
            await response.read()
            return response.status
        finally:
            await client.stop()

    return asyncio.run(run())


def _forbidden(exc: BaseException) -> bool:
    """Whether the failure was the address guard (not a timeout or a refused connection)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ForbiddenAddress) or isinstance(getattr(seen, "os_error", None), ForbiddenAddress):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def test_a_name_resolving_to_metadata_is_refused_at_connect() -> None:
    resolver = FixedResolver("169.254.169.254")
    with pytest.raises(UpstreamUnavailable) as caught:
        _get(UpstreamClient(resolver=resolver), "https://rebound.example/v1/models")
    assert resolver.asked == ["rebound.example"]
    assert _forbidden(caught.value)


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.1.2", "fe80::1", "fd00:ec2::254", "0.0.0.0"])
def test_the_guarded_resolver_drops_forbidden_addresses(address: str) -> None:
    guarded = GuardedResolver(FixedResolver(address))
    with pytest.raises(OSError, match="no upstream may have"):
        asyncio.run(guarded.resolve("rebound.example", 443))


def test_the_guarded_resolver_keeps_the_allowed_addresses_of_a_mixed_answer() -> None:
    guarded = GuardedResolver(FixedResolver("169.254.169.254", "203.0.113.7"))
    assert [r["host"] for r in asyncio.run(guarded.resolve("mixed.example", 443))] == ["203.0.113.7"]


def test_the_setting_lets_link_local_through_but_never_unspecified() -> None:
    allowed = GuardedResolver(FixedResolver("169.254.169.254"), allow_link_local=True)
    assert [r["host"] for r in asyncio.run(allowed.resolve("imds.example", 80))] == ["169.254.169.254"]
    with pytest.raises(OSError):
        asyncio.run(GuardedResolver(FixedResolver("0.0.0.0"), allow_link_local=True).resolve("x.example", 80))


def test_a_literal_link_local_address_is_refused_at_connect() -> None:
    """aiohttp never asks the resolver about an IP literal: the socket factory refuses it (no packet sent)."""
    resolver = FixedResolver("127.0.0.1")
    with pytest.raises(UpstreamUnavailable) as caught:
        _get(UpstreamClient(resolver=resolver), "http://169.254.169.254/latest/meta-data/")
    assert resolver.asked == []
    assert _forbidden(caught.value)


def test_a_name_resolving_to_loopback_still_connects(loopback_upstream: ThreadedServer) -> None:
    status = _get(
        UpstreamClient(resolver=FixedResolver("169.254.169.254", "127.0.0.1")),
        f"http://upstream.example:{loopback_upstream.port}/v1/models",
    )
    assert status == 200


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("[::ffff:169.254.169.254]", "169.254.169.254"),
        ("api.example.com", None),
        ("1e100.net", None),
    ],
)
def test_host_address_reads_the_forms_the_resolver_would(host: str, expected: str | None) -> None:
    address = host_address(host)
    assert (str(address) if address else None) == expected


def test_ordinary_hosts_are_not_refused() -> None:
    for host in ("api.openai.com", "10.0.0.5", "192.168.1.10", "[2001:db8::1]", "localhost", "127.0.0.1"):
        assert host_refusal(host, allow_link_local=False) is None, host
    assert is_loopback_host("LOCALHOST.") and is_loopback_host("[::1]") and not is_loopback_host("10.0.0.1")


def test_check_base_url_is_the_one_rule() -> None:
    assert check_base_url("https://api.example.com/v1/") == "https://api.example.com/v1"
    assert check_base_url("", kind=ProviderKind.ECHO) == "echo://local"
    assert check_base_url("https://169.254.169.254/v1", allow_link_local=True) == "https://169.254.169.254/v1"
    for url, allow_http in [
        ("http://api.example.com/v1", False),
        ("http://10.0.0.1/v1", True),
        ("https://user:pw@api.example.com/v1", False),
        ("ftp://api.example.com", False),
        ("https://[fe80::1", False),
        ("https://metadata.google.internal/", False),
        ("https://[ff02::1]/", False),
    ]:
        with pytest.raises(UnsafeURLError) as caught:
            check_base_url(url, allow_insecure_http=allow_http)
        assert "--" not in str(caught.value), "service-layer messages name fields, not CLI flags"


def test_the_refusal_names_the_switch_only_where_it_would_help() -> None:
    with pytest.raises(UnsafeURLError, match="VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS=true allows it"):
        check_base_url("https://169.254.169.254/")
    with pytest.raises(UnsafeURLError) as caught:
        check_base_url("https://0.0.0.0/")
    assert "VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS" not in str(caught.value)
    with pytest.raises(UnsafeURLError):
        check_base_url("https://[ff02::1]/", allow_link_local=True)
