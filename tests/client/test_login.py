"""vaultgate login / whoami / logout against a real gateway, with a real (headless) keyring."""

from __future__ import annotations

import json
import stat

from tests.client.conftest import LOCKED, NO_KEYRING, Home, Served, login
from vaultgate.keys import tokens
from vaultgate.services import members
from vaultgate.services.context import LOCAL_OPERATOR


def test_login_stores_the_key_in_the_keyring_and_whoami_shows_it_without_the_secret(home: Home, served: Served) -> None:
    key, key_id = served.member_key(models=["gpt-4o-mini"], scopes={"embeddings": "none"})
    result = login(home, served, key)
    assert result.returncode == 0, result.stderr
    parsed = tokens.parse(key)
    assert parsed is not None
    assert parsed.display in result.stderr and "Logged in to" in result.stderr
    assert home.keyring_secrets() == [key]  # the (test) keyring holds it
    profile = json.loads((home.config_dir / "client.json").read_text())
    assert profile == {"default_gateway": served.url, "gateways": {served.url: {"storage": "keyring"}}}
    assert not (home.config_dir / "credentials.json").exists()

    shown = home.vaultgate("whoami")
    assert shown.returncode == 0, shown.stderr
    assert parsed.display in shown.stdout and key_id in shown.stdout
    assert "embeddings=none" in shown.stdout and "gpt-4o-mini" in shown.stdout and "never" in shown.stdout
    as_json = home.vaultgate("whoami", "--json")
    document = json.loads(as_json.stdout)
    assert document["gateway"] == served.url and document["key"] == parsed.display
    assert document["credential"] == "key" and document["scopes"]["embeddings"] == "none"
    for output in (result, shown, as_json):
        assert key not in output.stdout + output.stderr and parsed.random not in output.stdout + output.stderr

    out = home.vaultgate("logout")
    assert out.returncode == 0 and "removed" in out.stderr
    assert home.keyring_secrets() == []
    again = home.vaultgate("whoami")
    assert again.returncode == 1 and "no key is stored" in again.stderr and "vaultgate login" in again.stderr
    assert "nothing to remove" in home.vaultgate("logout").stderr


def test_login_refuses_what_is_not_a_member_key_before_asking_the_gateway(home: Home, served: Served) -> None:
    short = tokens.mint(tokens.TokenKind.SHORT_LIVED)
    admin = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
    for given, said in (
        ("", "no key given"),
        ("sk-proj-not-ours-at-all", "not a vaultgate member key"),
        (short, "short-lived token"),
        (admin, "admin token"),
    ):
        result = login(home, served, given)
        assert result.returncode == 2, result
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert (given == "" or given not in result.stderr) and result.stdout == ""
    assert not home.keyring_file.exists()
    # Without --with-token and without a terminal there is nobody to ask.
    no_tty = home.vaultgate("login", "--gateway", served.url, "--allow-insecure-http")
    assert no_tty.returncode == 2 and "--with-token" in no_tty.stderr


def test_login_refuses_a_key_the_gateway_does_not_accept(home: Home, served: Served) -> None:
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    result = login(home, served, unknown)
    assert result.returncode == 1
    assert "does not accept this key: it is expired, revoked or unknown" in result.stderr
    assert unknown not in result.stderr and not home.keyring_file.exists()
    revoked, key_id = served.member_key()
    served.revoke(key_id)
    served.wait_until(revoked, 401)
    assert "does not accept this key" in login(home, served, revoked).stderr


def test_a_stored_key_revoked_later_says_to_log_in_again(home: Home, served: Served) -> None:
    key, key_id = served.member_key()
    assert login(home, served, key).returncode == 0
    served.revoke(key_id)
    served.wait_until(key, 401)
    result = home.vaultgate("whoami")
    assert result.returncode == 1
    assert "the stored key is expired, revoked or unknown: run `vaultgate login` again" in result.stderr


def test_a_suspended_member_hears_the_gateways_reason(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    assert login(home, served, key).returncode == 0
    member = json.loads(home.vaultgate("whoami", "--json").stdout)["member"]
    members.suspend(served.cp, LOCAL_OPERATOR, member)
    served.wait_until(key, 403)
    result = home.vaultgate("whoami")
    assert result.returncode == 1 and "suspended by an administrator" in result.stderr


def test_no_keyring_is_refused_unless_an_insecure_file_is_chosen(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    bare = home.with_keyring(NO_KEYRING)
    refused = login(bare, served, key)
    assert refused.returncode == 1
    assert "no keyring is available" in refused.stderr and "--insecure-file" in refused.stderr
    assert not bare.config_dir.exists() or not (bare.config_dir / "credentials.json").exists()

    stored = login(bare, served, key, "--insecure-file")
    assert stored.returncode == 0, stored.stderr
    credentials = bare.config_dir / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "warning" in stored.stderr and "unencrypted" in stored.stderr and str(credentials) in stored.stderr
    assert key not in stored.stderr
    assert json.loads(credentials.read_text()) == {served.url: key}
    assert home.vaultgate("whoami").returncode == 0  # the profile says where the key is: no keyring needed
    assert bare.vaultgate("logout").returncode == 0
    assert json.loads(credentials.read_text()) == {}


def test_a_locked_keyring_is_named_as_such(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    locked = home.with_keyring(LOCKED)
    result = login(locked, served, key)
    assert result.returncode == 1
    assert "is locked: unlock it" in result.stderr and "Failed to unlock" not in result.stderr
    assert login(home, served, key).returncode == 0
    assert "is locked" in locked.vaultgate("whoami").stderr


def test_an_insecure_keyring_chosen_by_default_counts_as_none(home: Home, served: Served) -> None:
    # keyrings.alt is installed here, so keyring would pick its plain-text file by itself (priority 0.5).
    key, _ = served.member_key()
    # A process of its own: keyring detects among the backend classes a process has loaded.
    automatic = Home(home.root, {k: v for k, v in home.env.items() if k != "PYTHON_KEYRING_BACKEND"})
    result = automatic.run_process("login", "--gateway", served.url, "--with-token", "--allow-insecure-http", stdin=key)
    assert result.returncode == 1 and "is not a secure one" in result.stderr
    assert not automatic.keyring_file.exists()


def test_gateway_urls_never_carry_the_key_in_clear_text_across_a_network(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    plain = home.vaultgate("login", "--gateway", served.url, "--with-token", stdin=key)
    assert plain.returncode == 2 and "--allow-insecure-http" in plain.stderr
    remote = home.vaultgate(
        "login", "--gateway", "http://gateway.example.com", "--with-token", "--allow-insecure-http", stdin=key
    )
    assert remote.returncode == 2 and "only for loopback" in remote.stderr
    nothing = home.vaultgate("whoami")
    assert nothing.returncode == 2 and "no gateway known" in nothing.stderr
    assert not home.keyring_file.exists()


def test_an_unreachable_gateway_is_named(home: Home, served: Served) -> None:
    key, _ = served.member_key()
    from tests.support.servers import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"
    result = home.vaultgate("login", "--gateway", nowhere, "--with-token", "--allow-insecure-http", stdin=key)
    assert result.returncode == 1
    assert f"cannot reach the vaultgate gateway at {nowhere}" in result.stderr
    assert key not in result.stderr
