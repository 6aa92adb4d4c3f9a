"""``vaultgate scan --home``: the places keys end up on a member's machine, read and never changed.

Known paths (shell and REPL histories, IPython's database, shell start-up files, a few AI
tools' configs) are read where they exist, and a bounded walk of the home directory finds
dotenv files and Jupyter notebooks. Only vaultgate tokens and OpenAI keys are reported
(:data:`HOME_RULES`). Files are opened read-only, without updating their access time where
the system allows it; a symlink is followed only to a file inside the home directory; a file
that cannot be read is reported as skipped, never fatal. No network call is made.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import lru_cache

import pathspec

from vaultgate.detect.secrets import SecretDetector, default_detector
from vaultgate.scanner import home_formats as formats
from vaultgate.scanner.blob import BlobOrigin, is_binary
from vaultgate.scanner.errors import FormatError, ScanUsageError
from vaultgate.scanner.model import ScanResult
from vaultgate.scanner.runner import (
    DEFAULT_MAX_FILE_SIZE,
    OPENAI_RULE,
    VAULTGATE_RULE,
    ScanCollector,
    ScanOptions,
)

HOME_RULES = (VAULTGATE_RULE, OPENAI_RULE)
DEFAULT_MAX_DEPTH = 8  # directories below the home directory the walk enters (home itself is 0)
ENTERED_HIDDEN_DIRS = frozenset({".ipynb_checkpoints"})  # Jupyter's copies hold the same keys
SKIPPED_DIRS = frozenset({"node_modules", "bower_components", "site-packages", "dist-packages", "venv", "__pycache__"})
SKIPPED_TOP_DIRS = frozenset({"Library", "snap"})  # macOS and snap application data: large, no projects
_NO_ATIME = getattr(os, "O_NOATIME", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class Place(StrEnum):
    """The kind of place a finding is in (each gets its own advice)."""

    SHELL_HISTORY = "shell-history"
    REPL_HISTORY = "repl-history"
    SHELL_STARTUP = "shell-startup"
    TOOL_CONFIG = "tool-config"
    DOTENV = "dotenv"
    NOTEBOOK = "notebook"


class Reader(Enum):
    """How a file's bytes become the text the detectors see."""

    TEXT = "text"  # as it is, or decoded from libedit's history encoding
    ZSH = "zsh"  # zsh's metafied history
    NOTEBOOK = "notebook"  # cells' sources and outputs
    IPYTHON = "ipython"  # IPython's history.sqlite


@dataclass(frozen=True, slots=True)
class KnownFile:
    """A path under the home directory (a component may be an ``fnmatch`` pattern) and its kind."""

    pattern: str
    place: Place
    reader: Reader = Reader.TEXT


KNOWN_FILES: tuple[KnownFile, ...] = (
    KnownFile(".bash_history", Place.SHELL_HISTORY),
    KnownFile(".sh_history", Place.SHELL_HISTORY),
    KnownFile(".zsh_history", Place.SHELL_HISTORY, Reader.ZSH),
    KnownFile(".histfile", Place.SHELL_HISTORY, Reader.ZSH),
    KnownFile(".zsh_sessions/*.history", Place.SHELL_HISTORY, Reader.ZSH),  # macOS Terminal
    KnownFile(".local/share/fish/fish_history", Place.SHELL_HISTORY),
    KnownFile(".python_history", Place.REPL_HISTORY),
    KnownFile(".node_repl_history", Place.REPL_HISTORY),
    KnownFile(".psql_history", Place.REPL_HISTORY),
    KnownFile(".sqlite_history", Place.REPL_HISTORY),
    KnownFile(".mysql_history", Place.REPL_HISTORY),
    KnownFile(".ipython/profile_*/history.sqlite", Place.REPL_HISTORY, Reader.IPYTHON),
    KnownFile(".bashrc", Place.SHELL_STARTUP),
    KnownFile(".bash_profile", Place.SHELL_STARTUP),
    KnownFile(".bash_login", Place.SHELL_STARTUP),
    KnownFile(".profile", Place.SHELL_STARTUP),
    KnownFile(".zshenv", Place.SHELL_STARTUP),
    KnownFile(".zprofile", Place.SHELL_STARTUP),
    KnownFile(".zshrc", Place.SHELL_STARTUP),
    KnownFile(".zlogin", Place.SHELL_STARTUP),
    KnownFile(".config/fish/config.fish", Place.SHELL_STARTUP),
    KnownFile(".netrc", Place.TOOL_CONFIG),
    KnownFile(".config/shell_gpt/.sgptrc", Place.TOOL_CONFIG),
    KnownFile(".config/io.datasette.llm/keys.json", Place.TOOL_CONFIG),
    KnownFile("Library/Application Support/io.datasette.llm/keys.json", Place.TOOL_CONFIG),
    KnownFile(".aider.conf.yml", Place.TOOL_CONFIG),
    KnownFile(".continue/config.json", Place.TOOL_CONFIG),
    KnownFile(".continue/config.yaml", Place.TOOL_CONFIG),
)


@dataclass(frozen=True, slots=True)
class HomeOptions:
    """Limits of a home scan."""

    max_depth: int = DEFAULT_MAX_DEPTH
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    excludes: tuple[str, ...] = ()
    allow_placeholders: bool = True


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file or directory that was not read, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class HomeScan:
    """What a home scan found (findings carry their ``place``) and what it could not read."""

    home: str
    result: ScanResult
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class _Target:
    relative: str
    place: Place
    reader: Reader


@lru_cache(maxsize=1)
def home_detector() -> SecretDetector:
    """The detector for :data:`HOME_RULES` only (compiled on first use, then shared)."""
    return SecretDetector([rule for rule in default_detector().rules if rule.id in HOME_RULES])


def scan_home(home: str, options: HomeOptions = HomeOptions(), *, detector: SecretDetector | None = None) -> HomeScan:
    """Scan the known places and the dotenv files and notebooks under ``home``; change nothing."""
    root = os.path.abspath(home)
    if not os.path.isdir(root):
        raise ScanUsageError(f"not a directory: {home}")
    scan = _HomeWalk(root, options, detector or home_detector())
    for known in KNOWN_FILES:
        for relative in _expand(root, known.pattern):
            scan.read(_Target(relative, known.place, known.reader))
    for target in scan.walk(root, "", 0):
        scan.read(target)
    return HomeScan(home=root, result=scan.collector.result(), skipped=tuple(scan.skipped))


def _expand(root: str, pattern: str) -> Iterator[str]:
    """The relative paths under ``root`` that ``pattern`` names (sorted; none when absent)."""
    found = [""]
    for part in pattern.split("/"):
        if not any(c in part for c in "*?["):
            found = [f"{base}/{part}" if base else part for base in found]
            continue
        matched = []
        for base in found:
            try:
                names = sorted(os.listdir(os.path.join(root, base)))
            except OSError:
                continue
            matched += [f"{base}/{name}" if base else name for name in names if fnmatch.fnmatchcase(name, part)]
        found = matched
    yield from found


def walked_place(name: str) -> tuple[Place, Reader] | None:
    """What the walk reads a file named ``name`` as: a notebook, a dotenv file, or nothing."""
    if name.endswith(".ipynb"):
        return Place.NOTEBOOK, Reader.NOTEBOOK
    if name in (".env", ".envrc") or name.startswith(".env.") or name.endswith(".env"):
        return Place.DOTENV, Reader.TEXT
    return None


class _HomeWalk:
    """The state of one home scan: the collector, the files seen and the skipped list."""

    def __init__(self, root: str, options: HomeOptions, detector: SecretDetector) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.device = os.stat(root).st_dev
        self.options = options
        scan_options = ScanOptions(max_file_size=options.max_file_size, allow_placeholders=options.allow_placeholders)
        self.collector = ScanCollector(scan_options, detector)
        self.skipped: list[Skipped] = []
        self.seen: set[tuple[int, int]] = set()
        self.exclude = pathspec.GitIgnoreSpec.from_lines(options.excludes) if options.excludes else None

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append(Skipped(path, reason))

    def walk(self, directory: str, relative: str, depth: int) -> Iterator[_Target]:
        """Dotenv files and notebooks under ``directory`` (no symlinked directory is entered)."""
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            self.skip(directory, f"unreadable directory ({exc.strerror})")
            return
        if depth > 0 and any(e.name == "pyvenv.cfg" for e in entries):
            return  # a virtual environment, whatever its name
        for entry in entries:
            shown = f"{relative}/{entry.name}" if relative else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if self._enters(entry, shown, depth + 1):
                    yield from self.walk(entry.path, shown, depth + 1)
                continue
            kind = walked_place(entry.name)
            if kind is not None:
                yield _Target(shown, *kind)

    def _enters(self, entry: os.DirEntry[str], relative: str, depth: int) -> bool:
        name = entry.name
        if depth > self.options.max_depth or name in SKIPPED_DIRS:
            return False
        if (name.startswith(".") and name not in ENTERED_HIDDEN_DIRS) or (depth == 1 and name in SKIPPED_TOP_DIRS):
            return False
        if self.exclude is not None and self.exclude.match_file(relative + "/"):
            return False
        try:  # stay on the home directory's file system (no network or removable mounts)
            return entry.stat(follow_symlinks=False).st_dev == self.device
        except OSError:
            return False

    def read(self, target: _Target) -> None:
        """Scan one file (or report why it was skipped); a missing known file is no finding."""
        if self.exclude is not None and self.exclude.match_file(target.relative):
            return
        shown = os.path.join(self.root, target.relative)
        path = shown
        try:
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                path = os.path.realpath(path)
                if os.path.commonpath([path, self.real_root]) != self.real_root:
                    self.skip(shown, "symlink to outside the home directory (not followed)")
                    return
                info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            self.skip(shown, f"unreadable ({exc.strerror})")
            return
        if not stat.S_ISREG(info.st_mode):
            self.skip(shown, "not a regular file")
            return
        if (info.st_dev, info.st_ino) in self.seen:
            return
        self.seen.add((info.st_dev, info.st_ino))
        try:
            sections = self._sections(path, info.st_size, target.reader)
        except OSError as exc:
            self.skip(shown, f"unreadable ({exc.strerror})")
            return
        except FormatError as exc:
            self.skip(shown, str(exc))
            return
        self.collector.count_file(info.st_size)
        for section in sections:
            origin = BlobOrigin(shown, place=target.place.value, section=section.label)
            self.collector.blob(section.data, origin, new_file=False)

    def _sections(self, path: str, size: int, reader: Reader) -> list[formats.Section]:
        """The file's text as sections; FormatError with the reason when it is skipped."""
        stats = self.collector.stats
        if reader is Reader.IPYTHON:  # read row by row: no size limit
            os.close(_open_read_only(path))  # a permission problem named as such, not as SQLite's
            return list(formats.ipython_sections(path))
        if size > self.options.max_file_size:
            stats.skipped_large += 1
            raise FormatError(f"larger than {self.options.max_file_size} bytes")
        data = read_file(path, self.options.max_file_size)
        if is_binary(data):
            stats.skipped_binary += 1
            raise FormatError("binary content")
        if reader is Reader.ZSH:
            return [formats.Section(formats.unmetafy_zsh(data))]
        if reader is Reader.NOTEBOOK:
            cells = formats.notebook_sections(data)
            return cells if cells is not None else [formats.Section(data)]  # not JSON: scan it as text
        return [formats.Section(formats.decode_libedit(data))]


def read_file(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of a regular file, opened read-only and without following a symlink.

    ``O_NOATIME`` (Linux, the file's owner only) keeps even the access time as it was;
    ``O_NONBLOCK`` keeps a FIFO swapped in since the ``stat`` from blocking the scan.
    """
    fd = _open_read_only(path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        parts = []
        left = limit + 1
        while left > 0 and (part := os.read(fd, min(left, 1 << 20))):
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _open_read_only(path: str) -> int:
    """A read-only descriptor, with ``O_NOATIME`` when allowed (the file's owner, or ``CAP_FOWNER``)."""
    try:
        return os.open(path, _READ_FLAGS | _NO_ATIME)
    except PermissionError:
        if not _NO_ATIME:
            raise
        return os.open(path, _READ_FLAGS)
