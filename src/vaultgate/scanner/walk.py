"""Walk files and directories the way git sees them: ``.gitignore`` respected, ``.git`` skipped.

Uses ``os.scandir`` and plain strings (no ``pathlib`` objects per file) because the walk is
part of the scanner's throughput on large trees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pathspec

from vaultgate.scanner.errors import ScanUsageError

# Content that is never text: skipped by name, without opening the file.
SKIPPED_EXTENSIONS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "ico",
        "webp",
        "bmp",
        "tif",
        "tiff",
        "psd",
        "pdf",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "zst",
        "7z",
        "rar",
        "jar",
        "war",
        "whl",
        "egg",
        "so",
        "dylib",
        "dll",
        "exe",
        "bin",
        "o",
        "a",
        "lib",
        "pyc",
        "pyo",
        "pyd",
        "class",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
        "mp3",
        "mp4",
        "m4a",
        "mov",
        "avi",
        "mkv",
        "wav",
        "flac",
        "ogg",
        "webm",
        "db",
        "sqlite",
        "sqlite3",
        "parquet",
        "npy",
        "npz",
        "pkl",
        "pickle",
        "h5",
        "onnx",
        "pt",
        "safetensors",
        "mo",
    ]
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file to scan: the path to show and the path to open, and its size."""

    display: str
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class _Ignore:
    base: str
    spec: pathspec.PathSpec


def _load_gitignore(directory: str) -> _Ignore | None:
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return _Ignore(directory, spec) if spec.patterns else None


def _ancestor_ignores(directory: str) -> list[_Ignore]:
    """The ``.gitignore`` files of the directories above ``directory`` up to its git root."""
    found: list[_Ignore] = []
    current = os.path.abspath(directory)
    while True:
        parent = os.path.dirname(current)
        if os.path.exists(os.path.join(current, ".git")) or parent == current:
            break
        current = parent
        ignore = _load_gitignore(current)
        if ignore is not None:
            found.append(ignore)
    found.reverse()
    return found


def _ignored(ignores: Sequence[_Ignore], abs_path: str, is_dir: bool) -> bool:
    for ignore in ignores:
        relative = os.path.relpath(abs_path, ignore.base).replace(os.sep, "/")
        if is_dir:
            relative += "/"
        if ignore.spec.match_file(relative):
            return True
    return False


def iter_files(
    paths: Sequence[str],
    *,
    use_gitignore: bool = True,
    excludes: Sequence[str] = (),
) -> Iterator[FileEntry]:
    """Every regular file under ``paths`` (files given by name are always included)."""
    exclude = pathspec.GitIgnoreSpec.from_lines(excludes) if excludes else None
    for root in paths:
        if not os.path.lexists(root):
            raise ScanUsageError(f"no such file or directory: {root}")
        display_root = os.path.normpath(root)
        if os.path.isfile(root):
            if exclude is None or not exclude.match_file(display_root):
                yield FileEntry(display_root, root, os.path.getsize(root))
            continue
        ignores = _ancestor_ignores(root) if use_gitignore else []
        yield from _walk(root, display_root, ignores, use_gitignore, exclude)


def _walk(
    directory: str,
    display: str,
    ignores: list[_Ignore],
    use_gitignore: bool,
    exclude: pathspec.PathSpec | None,
) -> Iterator[FileEntry]:
    if use_gitignore:
        own = _load_gitignore(directory)
        if own is not None:
            ignores = [*ignores, own]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        shown = name if display == "." else f"{display}/{name}"
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = not is_dir and entry.is_file(follow_symlinks=False)
        except OSError:
            continue
        if is_dir and name == ".git":
            continue
        if not (is_dir or is_file):
            continue
        if exclude is not None and exclude.match_file(shown + ("/" if is_dir else "")):
            continue
        if ignores and _ignored(ignores, os.path.abspath(entry.path), is_dir):
            continue
        if is_dir:
            yield from _walk(entry.path, shown, ignores, use_gitignore, exclude)
            continue
        _, dot, extension = name.lstrip(".").rpartition(".")  # as os.path.splitext, cheaper
        if not (dot and extension.lower() in SKIPPED_EXTENSIONS):
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            yield FileEntry(shown, entry.path, size)
