"""The credential scrubber: every spelling of a held credential is cut out; nothing else is touched."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import make_settings

from vaultgate.gateway.scrub import REMOVED, CredentialScrubber, ScrubberCache
from vaultgate.services import bootstrap, credentials, providers, snapshot_loader
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.upstream.config import ProviderConfig, ProviderKind

KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8xYz"
HEX = "0123456789abcdef0123456789abcdef"  # an Azure-style key: no public prefix
SCRUB = CredentialScrubber([KEY, HEX, "sk-short"])


@pytest.mark.parametrize(
    "spelling",
    [
        KEY,
        f"Bearer {KEY}",
        quote(f"Bearer {KEY}", safe=""),
        json.dumps({"auth": f"Bearer {KEY}"}),
        base64.b64encode(f"Bearer {KEY}".encode()).decode(),
        base64.b64encode(KEY.encode()).decode(),
        base64.b64encode(f"user:{KEY}".encode()).decode(),
        base64.urlsafe_b64encode(f"x{KEY}".encode()).decode(),
        json.dumps(base64.b64encode(f"Bearer {KEY}".encode()).decode()).replace("/", "\\/"),
        KEY[:20],  # a truncated echo: 12 characters of the secret part
        KEY[-12:],
        KEY[30:42],
        HEX,
        HEX[5:17],
        "sk-short",
    ],
)
def test_every_spelling_is_cut_out(spelling: str) -> None:
    text = f"before {spelling} after".encode()
    scrubbed = SCRUB.scrub(text)
    assert REMOVED in scrubbed
    assert scrubbed.startswith(b"before ")
    for secret in (KEY[8:], HEX):
        assert not any(secret[i : i + 12].encode() in scrubbed for i in range(len(secret) - 11))


def test_a_truncated_key_is_cut_with_its_public_prefix() -> None:
    assert SCRUB.scrub(f"Incorrect API key provided: {KEY[:24]}...".encode()) == (
        b"Incorrect API key provided: " + REMOVED + b"..."
    )


@pytest.mark.parametrize(
    "harmless",
    [
        "sk-proj-" + KEY[8:19],  # the public prefix and 11 secret characters: a guess must not be confirmed
        "sk-proj-****" + KEY[-4:],  # OpenAI's masked form shows what its dashboard shows
        "sk-shor",
        "plain English text about keys and sk-proj- prefixes",
    ],
)
def test_what_is_not_a_credential_is_left_alone(harmless: str) -> None:
    text = f"<{harmless}>".encode()
    assert SCRUB.scrub(text) is text


def test_overlapping_hits_become_one_marker_and_the_rest_is_kept() -> None:
    text = f"a {KEY} b {KEY}{KEY} c".encode()
    assert SCRUB.scrub(text) == b"a " + REMOVED + b" b " + REMOVED + b" c"


def test_no_credentials_scrubs_nothing() -> None:
    text = f"{KEY}".encode()
    assert CredentialScrubber([]).scrub(text) is text


def test_the_cache_holds_every_secret_of_every_provider_and_rebuilds_only_on_change() -> None:
    def providers(*secrets: str) -> dict[str, ProviderConfig]:
        return {
            "a": ProviderConfig("a", ProviderKind.COMPATIBLE, "http://127.0.0.1", api_key=secrets[0], secrets=secrets),
            "b": ProviderConfig("b", ProviderKind.AZURE, "https://x", api_key=HEX),
        }

    cache = ScrubberCache()
    first = cache.for_providers(providers(KEY, "sk-draining-" + "z" * 20))
    assert first.secrets == {KEY, HEX, "sk-draining-" + "z" * 20}
    assert cache.for_providers(providers(KEY, "sk-draining-" + "z" * 20)) is first
    assert cache.for_providers(providers(KEY)).secrets == {KEY, HEX}


def test_the_snapshot_carries_the_secrets_of_active_and_draining_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}")
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    try:
        providers.add(cp, LOCAL_OPERATOR, "p", kind="openai", base_url="https://api.openai.com/v1", api_key=KEY)
        (old,) = credentials.list_credentials(cp, LOCAL_OPERATOR, "p")
        credentials.add(cp, LOCAL_OPERATOR, "p", HEX)
        credentials.drain(cp, LOCAL_OPERATOR, "p", old.id)
        provider = snapshot_loader.load(cp).providers["p"]
        assert provider.api_key == HEX  # new requests use the active one...
        assert set(provider.secrets) == {KEY, HEX}  # ...answers are scrubbed of both
        credentials.remove(cp, LOCAL_OPERATOR, "p", old.id)
        assert snapshot_loader.load(cp).providers["p"].secrets == (HEX,)
    finally:
        cp.store.dispose()


@settings(max_examples=300, deadline=None)
@given(
    before=st.binary(max_size=300),
    after=st.binary(max_size=300),
    spelling=st.sampled_from([KEY, f"Bearer {KEY}", base64.b64encode(f"Bearer {KEY}".encode()).decode(), HEX]),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=8),
)
def test_a_byte_stream_scrubbed_piece_by_piece_loses_every_credential_split_across_pieces(
    before: bytes, after: bytes, spelling: str, cuts: list[int]
) -> None:
    """relay_bytes holds back what a credential split across two pieces could start in (scrub_prefix)."""
    data = before + b" " + spelling.encode() + b" " + after
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    out, held = b"", b""
    for start, end in itertools.pairwise(bounds):
        ready, held = SCRUB.scrub_prefix(held + data[start:end])
        out += ready
        assert len(held) < 2 * SCRUB.longest  # bounded, whatever the piece sizes
    out += SCRUB.scrub(held)
    assert out == SCRUB.scrub(data)
    assert KEY.encode() not in out and HEX.encode() not in out
