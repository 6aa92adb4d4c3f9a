"""A member's home directory in a temporary directory, with keys in the places keys end up.

``build_home`` writes every kind of file ``vaultgate scan --home`` reads (and some it must
not read) and returns what a correct scan reports: ``(relative path, line, rule, place,
section)`` for each key, and the full secrets, which must never be printed.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from conftest import openai_key, write
from vaultgate.detect.examples import expand
from vaultgate.keys.tokens import TokenKind, mint

OPENAI = "openai-api-key"
VAULTGATE = "vaultgate-token"
EM_DASH = "\u2014".encode()  # E2 80 94: zsh metafies the 0x94


def metafy_zsh(text: bytes) -> bytes:
    """What zsh writes: bytes 0x00 and 0x83..0xa2 as Meta (0x83) then the byte XOR 0x20."""
    out = bytearray()
    for byte in text:
        if byte == 0 or 0x83 <= byte <= 0xA2:
            out += bytes([0x83, byte ^ 0x20])
        else:
            out.append(byte)
    return bytes(out)


@dataclass
class FakeHome:
    """The home directory, a directory outside it, the expected findings and every secret written."""

    root: Path
    outside: Path
    expected: set[tuple[str, int, str, str, str | None]] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)
    zsh_column: int = 0

    def key(self, rng: random.Random) -> str:
        secret = openai_key(rng)
        self.secrets.append(secret)
        return secret

    def token(self, kind: TokenKind = TokenKind.MEMBER_KEY) -> str:
        secret = mint(kind)
        self.secrets.append(secret)
        return secret

    def expect(self, path: str, line: int, rule: str, place: str, section: str | None = None) -> None:
        self.expected.add((path, line, rule, place, section))


def build_home(base: Path, rng: random.Random) -> FakeHome:
    """A fake home under ``base / "home"``; keys also outside it, behind symlinks, and in skipped places."""
    home = FakeHome(base / "home", base / "outside")
    root = home.root
    root.mkdir()
    _histories(home, rng)
    _ipython(home, rng)
    _notebook(home, rng)
    _dotenv_and_configs(home, rng)
    _not_read(home, rng)
    return home


def _histories(home: FakeHome, rng: random.Random) -> None:
    root = home.root
    write(root / ".bash_history", f"ls\ncd src\nexport OPENAI_API_KEY={home.key(rng)}\npython app.py\n")
    home.expect(".bash_history", 3, OPENAI, "shell-history")
    # zsh: extended history, a non-ASCII argument (metafied) before the token on the same line.
    prefix = b": 1700000001:0;curl -H 'Authorization: Bearer " + EM_DASH + b" "
    typed = b": 1700000000:0;echo caf\xc3\xa9 " + EM_DASH + b"\n" + prefix + home.token().encode() + b"'\n"
    (root / ".zsh_history").write_bytes(metafy_zsh(typed))
    home.zsh_column = len(prefix) + 1
    home.expect(".zsh_history", 2, VAULTGATE, "shell-history")
    fish = f"- cmd: ls\n  when: 1700000000\n- cmd: set -x OPENAI_API_KEY {home.key(rng)}\n  when: 1700000001\n"
    write(root / ".local" / "share" / "fish" / "fish_history", fish)
    home.expect(".local/share/fish/fish_history", 3, OPENAI, "shell-history")
    # macOS python (libedit): spaces written as \040, so the key follows "\040" and not a space.
    write(root / ".python_history", f"_HiStOrY_V2_\nimport\\040openai\napi_key\\040=\\040{home.key(rng)}\n")
    home.expect(".python_history", 3, OPENAI, "repl-history")
    write(root / ".node_repl_history", f"const key = '{home.token(TokenKind.SHORT_LIVED)}'\n")
    home.expect(".node_repl_history", 1, VAULTGATE, "repl-history")


def _ipython(home: FakeHome, rng: random.Random) -> None:
    """IPython's history.sqlite, with its schema (IPython.core.history), written with sqlite3."""
    profile = home.root / ".ipython" / "profile_default"
    profile.mkdir(parents=True)
    with sqlite3.connect(profile / "history.sqlite") as db:
        db.executescript(
            "CREATE TABLE sessions (session integer primary key autoincrement, start timestamp, end timestamp,"
            " num_cmds integer, remark text);"
            "CREATE TABLE history (session integer, line integer, source text, source_raw text,"
            " PRIMARY KEY (session, line));"
            "CREATE TABLE output_history (session integer, line integer, output text, PRIMARY KEY (session, line));"
        )
        typed = f"client = OpenAI(\n    api_key='{home.key(rng)}',\n)"
        db.executemany(
            "INSERT INTO history VALUES (?, ?, ?, ?)",
            [(1, 1, "import os", "import os"), (2, 1, "1 + 1", "1 + 1"), (2, 2, typed, typed)],
        )
        db.execute("INSERT INTO output_history VALUES (2, 1, ?)", (f"'{home.token()}'",))
    db.close()
    home.expect(".ipython/profile_default/history.sqlite", 2, OPENAI, "repl-history", "session 2 input 2")
    home.expect(".ipython/profile_default/history.sqlite", 1, VAULTGATE, "repl-history", "session 2 output 1")


def _notebook(home: FakeHome, rng: random.Random) -> None:
    """A notebook whose key is in a code cell and, printed, in another cell's saved output."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Exploring\n", "the API"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": ["import os\n", "print(os.environ['OPENAI_API_KEY'])"],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["starting\n", f"{home.key(rng)}\n"]}],
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "metadata": {},
            "source": ["from openai import OpenAI\n", "client = OpenAI(\n", f"    api_key='{home.token()}',\n", ")"],
            "outputs": [
                {
                    "output_type": "execute_result",
                    "execution_count": 2,
                    "metadata": {},
                    "data": {"text/plain": ["<OpenAI>\n", f"key={home.key(rng)}"]},
                }
            ],
        },
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = home.root / "work" / "analysis" / "explore.ipynb"
    write(path, json.dumps(notebook, indent=1))
    relative = "work/analysis/explore.ipynb"
    home.expect(relative, 2, OPENAI, "notebook", "cell 2 output")
    home.expect(relative, 3, VAULTGATE, "notebook", "cell 3")
    home.expect(relative, 2, OPENAI, "notebook", "cell 3 output")
    write(home.root / "work" / "broken.ipynb", f'{{"cells": [\n"{home.token()}"\n')  # not JSON: read as text
    home.expect("work/broken.ipynb", 2, VAULTGATE, "notebook")


def _dotenv_and_configs(home: FakeHome, rng: random.Random) -> None:
    root = home.root
    project = root / "src" / "acme" / "api"
    other_rules = (
        f"ANTHROPIC_API_KEY={expand('sk-ant-api03-{b64url:93}AA', rng)}\n"
        f"AWS_ACCESS_KEY_ID=AKIA{expand('{B32:16}', rng)}\nGITHUB_TOKEN=ghp_{expand('{b62:36}', rng)}\n"
    )
    write(project / ".env", f"DEBUG=1\nOPENAI_API_KEY={home.key(rng)}\n{other_rules}")
    home.expect("src/acme/api/.env", 2, OPENAI, "dotenv")
    write(project / ".env.example", "OPENAI_API_KEY=sk-your-api-key-here\n")
    write(root / "src" / "acme" / "deploy" / "prod.env", f"\n\nVAULTGATE_KEY={home.token()}\n")
    home.expect("src/acme/deploy/prod.env", 3, VAULTGATE, "dotenv")
    (root / "src" / "current.env").symlink_to(project / ".env")  # inside home: the same file, read once
    write(root / ".bashrc", f"alias ll='ls -l'\nexport OPENAI_API_KEY={home.key(rng)}\n")
    home.expect(".bashrc", 2, OPENAI, "shell-startup")
    write(root / ".netrc", f"machine gateway.example.com login ann password {home.token()}\n")
    home.expect(".netrc", 1, VAULTGATE, "tool-config")


def _not_read(home: FakeHome, rng: random.Random) -> None:
    """Keys where the scan must not look: dependencies, caches, virtualenvs, too deep, outside home."""
    root = home.root
    write(root / "src" / "acme" / "web" / "node_modules" / "pkg" / ".env", f"K={home.token()}\n")
    write(root / "src" / "acme" / "api" / ".venv" / "lib" / ".env", f"K={home.key(rng)}\n")
    write(root / "src" / "tools" / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(root / "src" / "tools" / "env" / "share" / "demo.ipynb", f'{{"k": "{home.key(rng)}"}}\n')
    write(root / ".cache" / "pip" / ".env", f"K={home.key(rng)}\n")
    write(root / "src" / "app.py", f'KEY = "{home.key(rng)}"\n')  # not a place --home reads
    deep = root.joinpath(*"abcdefghi")  # nine levels: one more than the walk enters
    write(deep / ".env", f"K={home.token()}\n")
    write(home.outside / "secrets.env", f"OPENAI_API_KEY={home.key(rng)}\n")
    write(home.outside / "nested" / ".env", f"OPENAI_API_KEY={home.key(rng)}\n")
    (root / "src" / "linked.env").symlink_to(home.outside / "secrets.env")
    (root / "src" / "shared").symlink_to(home.outside, target_is_directory=True)
    (root / ".psql_history").symlink_to(home.outside / "secrets.env")


def age_access_times(*roots: Path) -> None:
    """Set every file's access time before its modification time, so that any ordinary read moves it
    (``relatime`` updates the access time of a file read since it was last modified)."""
    for top in roots:
        for directory, _, files in os.walk(top):
            for name in files:
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    info = os.stat(path)
                    os.utime(path, ns=(info.st_mtime_ns - 86_400 * 10**9, info.st_mtime_ns))


def _read_quietly(path: str) -> bytes:
    """A file's bytes, read without touching its access time (the tests run as the files' owner)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    try:
        return os.read(fd, os.fstat(fd).st_size + 1)
    finally:
        os.close(fd)


def snapshot(*roots: Path) -> dict[str, tuple[bytes | str, int, int, int, int]]:
    """Every entry under ``roots`` (symlinks not followed): content or link target, mode, mtime, ctime, atime."""
    state: dict[str, tuple[bytes | str, int, int, int, int]] = {}
    for top in roots:
        for directory, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(directory, name)
                info = os.lstat(path)
                if os.path.islink(path):
                    content: bytes | str = os.readlink(path)
                elif os.path.isfile(path):
                    content = _read_quietly(path)
                else:
                    content = ""
                state[path] = (content, info.st_mode, info.st_mtime_ns, info.st_ctime_ns, info.st_atime_ns)
    return state
