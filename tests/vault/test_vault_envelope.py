"""Envelope encryption: round trip, record binding, tamper evidence, unknown keys, re-wrap, reload."""

from __future__ import annotations

import base64
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.vault import Keyring, MasterKey, SealError, Vault
from vaultgate.vault.masterkey import MasterKeySource, write_key_file


def env_vault(*keys: MasterKey) -> Vault:
    return Vault(MasterKeySource(env_value=",".join(k.encoded() for k in keys)))


@pytest.fixture(scope="module")
def old_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture(scope="module")
def new_key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture(scope="module")
def vault(old_key: MasterKey) -> Vault:
    return env_vault(old_key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@given(plaintext=st.binary(max_size=300), record_id=st.text(min_size=1, max_size=40))
@settings(max_examples=100)
def test_seal_open_round_trip(vault: Vault, plaintext: bytes, record_id: str) -> None:
    sealed = vault.seal(record_id, plaintext)
    assert vault.open(record_id, sealed) == plaintext


def test_sealed_value_is_text_naming_the_key_and_hiding_the_secret(vault: Vault, old_key: MasterKey) -> None:
    secret = b"sk-proj-supersecretvalue"
    sealed = vault.seal("provider:openai", secret)
    assert sealed.startswith(f"v1.{old_key.key_id}.")
    assert vault.key_id_of(sealed) == old_key.key_id
    assert "supersecret" not in sealed
    assert secret not in base64.urlsafe_b64decode(sealed.split(".")[3] + "==")
    # A fresh data key and nonce each time: sealing twice never repeats.
    assert vault.seal("provider:openai", secret) != sealed


def test_record_id_is_associated_data(vault: Vault) -> None:
    sealed = vault.seal("provider:a", b"secret")
    for other in ("provider:b", "provider:a ", "", "provider:A"):
        with pytest.raises(SealError):
            vault.open(other, sealed)


def test_record_id_binds_both_layers(vault: Vault) -> None:
    # Wrapped key from one record with body from another: neither layer may accept it.
    a = vault.seal("a", b"secret-a").split(".")
    b = vault.seal("b", b"secret-b").split(".")
    mixed = ".".join((a[0], a[1], a[2], b[3]))
    with pytest.raises(SealError):
        vault.open("a", mixed)
    with pytest.raises(SealError):
        vault.open("b", mixed)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


@pytest.mark.parametrize("part", [2, 3])
def test_flipping_any_byte_of_wrapped_key_or_body_fails(vault: Vault, part: int) -> None:
    sealed = vault.seal("r", b"the provider key")
    parts = sealed.split(".")
    blob = _unb64(parts[part])
    for index in range(len(blob)):
        tampered = list(parts)
        tampered[part] = _b64(_flip(blob, index))
        with pytest.raises(SealError):
            vault.open("r", ".".join(tampered))


@pytest.mark.parametrize("plaintext", [b"", b"x", b"ab", b"the provider key", b"0123456789"])
def test_every_single_character_substitution_of_sealed_text_fails(vault: Vault, plaintext: bytes) -> None:
    sealed = vault.seal("r", plaintext)
    alphabet = string.ascii_letters + string.digits + "-_.=!+/ "
    for index in range(len(sealed)):
        for char in alphabet:
            if char == sealed[index]:
                continue
            tampered = sealed[:index] + char + sealed[index + 1 :]
            with pytest.raises(SealError):
                vault.open("r", tampered)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: ["v2", *p[1:]],
        lambda p: p[:3],
        lambda p: [*p, "extra"],
        lambda p: [p[0], p[1], "", p[3]],
        lambda p: [p[0], p[1], p[2], ""],
        lambda p: [p[0], p[1], p[2][:10], p[3]],
        lambda p: [p[0], p[1], p[2], p[3][:10]],
        lambda p: [p[0], p[1], p[2], p[3][:20]],
        lambda p: [p[0], p[1], p[2] + "AAAA", p[3]],
        lambda p: [p[0], p[1], p[2], p[3] + "AAAA"],
        lambda p: [p[0], p[1], p[3], p[2]],
        lambda p: [p[0], "", p[2], p[3]],
    ],
    ids=[
        "version",
        "missing-part",
        "extra-part",
        "empty-wrapped",
        "empty-body",
        "short-wrapped",
        "short-body",
        "body-without-tag",
        "longer-wrapped",
        "longer-body",
        "parts-swapped",
        "empty-key-id",
    ],
)
def test_structurally_tampered_values_raise_seal_error(
    old_key: MasterKey, new_key: MasterKey, mutate: Callable[[list[str]], list[str]]
) -> None:
    vault = env_vault(old_key)
    parts = vault.seal("r", b"secret").split(".")
    tampered = ".".join(mutate(parts))
    with pytest.raises(SealError):
        vault.open("r", tampered)
    # Re-wrapping after a rotation must not launder a tampered value either: it refuses,
    # or (the body is not decrypted by rewrap) its result still does not open.
    rotated = env_vault(new_key, old_key)
    with pytest.raises(SealError):
        rotated.open("r", rotated.rewrap("r", tampered))


@pytest.mark.parametrize("garbage", ["", "v1", "v1...", "not a sealed value", "v1.a.b.c", "v1.a.!!!!.????"])
def test_garbage_raises_seal_error(vault: Vault, garbage: str) -> None:
    with pytest.raises(SealError):
        vault.open("r", garbage)


def test_unknown_master_key_id_is_seal_error(old_key: MasterKey, new_key: MasterKey) -> None:
    sealed = env_vault(new_key).seal("r", b"secret")
    with pytest.raises(SealError) as info:
        env_vault(old_key).open("r", sealed)
    assert new_key.encoded() not in str(info.value)


def test_rewrap_switches_key_id_and_keeps_plaintext(old_key: MasterKey, new_key: MasterKey) -> None:
    before = env_vault(old_key)
    sealed = before.seal("provider:openai", b"sk-secret")
    rotated = env_vault(new_key, old_key)
    rewrapped = rotated.rewrap("provider:openai", sealed)
    assert rotated.key_id_of(rewrapped) == new_key.key_id
    assert rewrapped.split(".")[3] == sealed.split(".")[3]  # the body is not re-encrypted
    assert rotated.open("provider:openai", rewrapped) == b"sk-secret"
    # Once everything is re-wrapped the old key can be dropped from the ring.
    assert env_vault(new_key).open("provider:openai", rewrapped) == b"sk-secret"
    with pytest.raises(SealError):
        env_vault(old_key).open("provider:openai", rewrapped)


def test_rewrap_leaves_current_values_unchanged(old_key: MasterKey, new_key: MasterKey) -> None:
    rotated = env_vault(new_key, old_key)
    current = rotated.seal("r", b"secret")
    assert rotated.rewrap("r", current) == current


def test_rewrap_under_another_record_fails(old_key: MasterKey, new_key: MasterKey) -> None:
    sealed = env_vault(old_key).seal("a", b"secret")
    with pytest.raises(SealError):
        env_vault(new_key, old_key).rewrap("b", sealed)


def test_open_reloads_ring_when_another_process_rotated_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first, second = MasterKey.generate(), MasterKey.generate()
    write_key_file(path, Keyring((first,)))
    ours = Vault(MasterKeySource(file=path))
    old_value = ours.seal("r", b"old")

    # Another process rotates the key file and seals with the new primary.
    write_key_file(path, Keyring((second, first)))
    theirs = Vault(MasterKeySource(file=path))
    new_value = theirs.seal("r", b"new")
    assert theirs.key_id_of(new_value) == second.key_id

    assert ours.open("r", new_value) == b"new"
    assert ours.open("r", old_value) == b"old"
    # After the reload we seal with the new primary too.
    assert ours.key_id_of(ours.seal("r", b"x")) == second.key_id


def test_open_with_unknown_key_after_reload_is_still_seal_error(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, Keyring((MasterKey.generate(),)))
    ours = Vault(MasterKeySource(file=path))
    stranger = env_vault(MasterKey.generate()).seal("r", b"x")
    with pytest.raises(SealError):
        ours.open("r", stranger)
    # The key file vanishing is reported as a SealError on open, not a crash.
    path.unlink()
    with pytest.raises(SealError):
        ours.open("r", stranger)
