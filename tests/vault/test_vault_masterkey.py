"""Master key sources: key file mode, environment ring, malformed keys."""

from __future__ import annotations

import base64
import os
import stat
import traceback
from pathlib import Path

import pytest

from vaultgate.vault import Keyring, MasterKey, MasterKeyError, Vault
from vaultgate.vault.masterkey import MasterKeySource, read_key_file, write_key_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_written_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    ring = Keyring((MasterKey.generate(), MasterKey.generate()))
    old_umask = os.umask(0)
    try:
        write_key_file(path, ring)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert read_key_file(path) == ring
    assert not list(path.parent.glob("*.tmp"))


def test_rewriting_a_loose_key_file_makes_it_0600(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(MasterKey.generate().encoded() + "\n")
    path.chmod(0o644)
    (tmp_path / "master.key.tmp").write_text("left over")
    (tmp_path / "master.key.tmp").chmod(0o666)
    ring = Keyring((MasterKey.generate(),))
    write_key_file(path, ring)
    assert _mode(path) == 0o600
    assert read_key_file(path) == ring


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o620, 0o610, 0o601, 0o777])
def test_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, Keyring((MasterKey.generate(),)))
    path.chmod(mode)
    with pytest.raises(MasterKeyError) as info:
        read_key_file(path)
    assert f"chmod 600 {path}" in str(info.value)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        MasterKeySource(file=path).load()


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_key_file_private_to_owner_is_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    ring = Keyring((MasterKey.generate(),))
    write_key_file(path, ring)
    path.chmod(mode)
    assert read_key_file(path) == ring


def test_missing_key_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="vaultgate init"):
        MasterKeySource(file=tmp_path / "nope.key").load()


def test_no_source_at_all_is_master_key_error() -> None:
    with pytest.raises(MasterKeyError):
        MasterKeySource().load()


def test_environment_ring_wins_over_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    file_key = MasterKey.generate()
    write_key_file(path, Keyring((file_key,)))
    primary, older = MasterKey.generate(), MasterKey.generate()
    source = MasterKeySource(env_value=f"{primary.encoded()}, {older.encoded()}", file=path)
    ring = source.load()
    assert ring.primary == primary
    assert ring.keys == (primary, older)
    assert ring.find(older.key_id) == older
    assert ring.find(file_key.key_id) is None
    assert not source.writable
    assert MasterKeySource(file=path).writable
    # A vault on that source seals with the environment's primary and opens old seals.
    old_seal = Vault(MasterKeySource(env_value=older.encoded())).seal("r", b"x")
    vault = Vault(source)
    assert vault.key_id_of(vault.seal("r", b"y")) == primary.key_id
    assert vault.open("r", old_seal) == b"x"


def test_empty_environment_value_falls_back_to_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    ring = Keyring((MasterKey.generate(),))
    write_key_file(path, ring)
    assert MasterKeySource(env_value="", file=path).load() == ring


def test_key_file_ring_one_per_line_primary_first(tmp_path: Path) -> None:
    a, b = MasterKey.generate(), MasterKey.generate()
    path = tmp_path / "master.key"
    write_key_file(path, Keyring((a, b)))
    assert path.read_text() == f"{a.encoded()}\n{b.encoded()}\n"
    assert read_key_file(path).primary == a


def test_key_ids_are_stable_distinct_and_not_the_key() -> None:
    a, b = MasterKey.generate(), MasterKey.generate()
    assert a.key_id == MasterKey(a.material).key_id
    assert a.key_id != b.key_id
    assert a.encoded() not in a.key_id and a.key_id not in a.encoded()
    assert a.encoded() not in repr(a)
    assert MasterKey.decode(a.encoded()) == a


MALFORMED = [
    "tooshort",
    base64.urlsafe_b64encode(b"x" * 31).decode(),
    base64.urlsafe_b64encode(b"x" * 33).decode(),
    "A" * 43 + "!",
    "ключключключключключключключключключключключ",
    "not base64 at all, and long enough to matter!!",
    "QUFB" * 10 + "Q",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(MasterKeyError) as info:
        MasterKeySource(env_value=text).load()
    rendered = "".join(traceback.format_exception(info.value))
    for piece in {text, text[:8], text[-8:]}:
        assert piece not in rendered


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_key_in_ring_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "master.key"
    good = MasterKey.generate().encoded()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f"{good}\n{text}\n".encode())
    os.close(fd)
    with pytest.raises(MasterKeyError) as info:
        read_key_file(path)
    assert text not in str(info.value)
    assert good not in str(info.value)


@pytest.mark.parametrize("text", ["", " ", ",", "\n\n", " , \n"])
def test_empty_ring_is_refused(text: str) -> None:
    with pytest.raises(MasterKeyError, match="empty"):
        Keyring.parse(text)
