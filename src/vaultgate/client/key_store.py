"""Where a member key is kept: the operating system's keyring, or (only when asked) a 0600 file.

Through the ``keyring`` library: macOS Keychain, Windows Credential Locker, the Secret Service on
Linux (GNOME Keyring, KWallet). Service ``vaultgate``, username the normalised gateway URL, so one
machine can hold keys for several gateways. A backend chosen explicitly (``PYTHON_KEYRING_BACKEND``
or keyring's config file) is used as it is; otherwise a backend keyring itself rates below 1
(keyrings.alt's plain-text file, say, when that package happens to be installed) counts as no
keyring: keeping the key in a readable file is a choice the member makes with ``--insecure-file``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.core
import keyring.errors
from keyring.backends import chainer, fail

from vaultgate.client.errors import ClientError, KeyringLocked, KeyringUnavailable, UsageProblem
from vaultgate.client.profile import Storage, config_dir, ensure_dir
from vaultgate.keys import tokens

SERVICE = "vaultgate"
CREDENTIALS_FILE = "credentials.json"
_NO_KEYRING_HINT = (
    "install or unlock one (macOS Keychain, Windows Credential Locker, or a Secret Service such as "
    "GNOME Keyring or KWallet on Linux), or log in with `vaultgate login --insecure-file` to keep the key "
    "in a file only you can read"
)


def _warn_stderr(message: str) -> None:
    print(f"vaultgate: warning: {message}", file=sys.stderr)


def _name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _backend() -> keyring.backend.KeyringBackend:
    """The keyring backend to use now (read afresh: the environment may have changed), or KeyringUnavailable."""
    try:
        explicit = keyring.core.load_env() or keyring.core.load_config()
        if explicit is None:
            keyring.core.init_backend()
            backend = keyring.get_keyring()
        else:
            backend = explicit
    except keyring.errors.KeyringLocked:
        raise KeyringLocked("the keyring is locked: unlock it and retry") from None
    except (ImportError, ValueError, keyring.errors.KeyringError) as exc:
        raise KeyringUnavailable(
            f"the keyring backend cannot be loaded ({type(exc).__name__}): {_NO_KEYRING_HINT}"
        ) from None
    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, fail.Keyring) or empty_chain:
        raise KeyringUnavailable(f"no keyring is available on this machine to keep your key: {_NO_KEYRING_HINT}")
    if explicit is None and backend.priority < 1:
        raise KeyringUnavailable(
            f"the only keyring found ({_name(backend)}) is not a secure one (keyring rates it {backend.priority}): "
            f"{_NO_KEYRING_HINT}"
        )
    return backend


class KeyStore:
    """Saves, loads and deletes the member key of a gateway in the keyring or the insecure file."""

    def __init__(self, directory: Path | None = None, warn: Callable[[str], None] = _warn_stderr) -> None:
        self._directory = directory
        self._warn = warn

    @property
    def credentials_file(self) -> Path:
        """The insecure file (``--insecure-file`` only)."""
        return (self._directory or config_dir()) / CREDENTIALS_FILE

    def keyring_name(self) -> str:
        """The usable keyring backend's name; KeyringUnavailable or KeyringLocked otherwise."""
        return _name(_backend())

    def save(self, gateway: str, key: str, storage: Storage) -> str:
        """Keep ``key`` for ``gateway``; where it went, for the user."""
        if storage == "file":
            self._write_file({**self._read_file(), gateway: key})
            return str(self.credentials_file)
        backend = _backend()
        with _translated(backend):
            backend.set_password(SERVICE, gateway, key)
        return f"the keyring ({_name(backend)})"

    def load(self, gateway: str, storage: Storage) -> str | None:
        """The key kept for ``gateway``, or None."""
        if storage == "file":
            return self._read_file().get(gateway)
        backend = _backend()
        with _translated(backend):
            return backend.get_password(SERVICE, gateway)

    def delete(self, gateway: str, storage: Storage) -> bool:
        """Forget the key of ``gateway``; whether there was one."""
        if storage == "file":
            keys = self._read_file()
            if gateway not in keys:
                return False
            del keys[gateway]
            self._write_file(keys, warn=False)
            return True
        backend = _backend()
        with _translated(backend):
            if backend.get_password(SERVICE, gateway) is None:
                return False
            try:
                backend.delete_password(SERVICE, gateway)
            except keyring.errors.PasswordDeleteError:
                return False
        return True

    def _read_file(self) -> dict[str, str]:
        path = self.credentials_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read {path}: {type(exc).__name__}; fix or delete it") from None
        if not isinstance(data, dict):
            raise ClientError(f"cannot read {path}: not a JSON object; fix or delete it")
        return {str(g): str(k) for g, k in data.items()}

    def _write_file(self, keys: dict[str, str], *, warn: bool = True) -> None:
        path = self.credentials_file
        ensure_dir(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # an older file may have had a wider mode
            out.write(json.dumps(keys, indent=2) + "\n")
        if warn:
            self._warn(
                f"your member key is stored unencrypted in {path} (mode 0600): anyone who can read your files "
                "can use it. Prefer a keyring (vaultgate login without --insecure-file)."
            )


@contextlib.contextmanager
def _translated(backend: keyring.backend.KeyringBackend) -> Iterator[None]:
    """Turns the keyring library's errors into the client's, naming the backend (never the secret)."""
    name = _name(backend)
    try:
        yield
    except keyring.errors.KeyringLocked:
        raise KeyringLocked(
            f"the keyring ({name}) is locked: unlock it (sign in to your desktop session, or unlock "
            "GNOME Keyring, KWallet or the Keychain) and retry"
        ) from None
    except keyring.errors.NoKeyringError:
        raise KeyringUnavailable(
            f"no keyring is available on this machine to keep your key: {_NO_KEYRING_HINT}"
        ) from None
    except keyring.errors.KeyringError as exc:  # InitError, PasswordSetError...
        raise KeyringUnavailable(
            f"the keyring ({name}) cannot be used ({type(exc).__name__}): {_NO_KEYRING_HINT}"
        ) from None


def member_key(text: str) -> str:
    """``text`` when it is a well-formed member key (``vgk_`` with a valid checksum); UsageProblem naming what it is.

    The message never repeats the input: it may be a secret of another kind pasted by mistake.
    """
    key = text.strip()
    if not key:
        raise UsageProblem("no key given: paste your member key (vgk_...)")
    parsed = tokens.parse(key)
    if parsed is None:
        raise UsageProblem(
            "that is not a vaultgate member key: it must be vgk_ and 38 letters and digits with a valid checksum "
            "(check for a copy-paste slip)"
        )
    if parsed.kind is not tokens.TokenKind.MEMBER_KEY:
        what = {
            tokens.TokenKind.SHORT_LIVED: "a short-lived token (vgt_)",
            tokens.TokenKind.ADMIN_TOKEN: "an admin token (vga_)",
            tokens.TokenKind.SCIM_TOKEN: "a SCIM token (vgs_)",
        }[parsed.kind]
        raise UsageProblem(f"that is {what}, not a member key: use your member key (vgk_...)")
    return key
