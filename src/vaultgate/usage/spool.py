"""A local file for usage events the store cannot take now: written during an outage, replayed after.

Usage records hold metadata only (no content: :class:`~vaultgate.usage.events.UsageRecord`),
so they may be written to disk. Each process appends to its own file
(``usage-spool-<pid>.jsonl``, mode 0600, fsynced per batch), so workers sharing a data dir never
write to the same file. Replaying takes a file over by renaming it (only the process's own file,
or one left by a process that no longer runs), then writes it to the store chunk by chunk,
recording after each chunk how far it got (``.offset``, fsynced): a crash in the middle resumes
there, so at most one chunk can be written twice, and nothing is lost.

Events that the store refuses as malformed are set aside in ``usage-rejected.jsonl`` (counted
and logged by the recorder), never retried in a loop and never silently dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from vaultgate.usage.events import UsageRecord

log = logging.getLogger("vaultgate.usage")

_FIELDS = tuple(f.name for f in dataclasses.fields(UsageRecord))
_SPOOL_PREFIX = "usage-spool-"
_REPLAY_PREFIX = "usage-replay-"
REJECTED_FILE = "usage-rejected.jsonl"
# Records per store write while replaying.
REPLAY_CHUNK = 1000

Writer = Callable[[Sequence[UsageRecord]], None]


def encode(record: UsageRecord) -> bytes:
    """One JSON line for a record."""
    values: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    values["at"] = record.at.isoformat()
    return orjson.dumps(values) + b"\n"


def decode(line: bytes) -> UsageRecord:
    """A record from one JSON line; ValueError (or TypeError/KeyError) when the line is not one."""
    values = orjson.loads(line)
    values["at"] = datetime.fromisoformat(values["at"])
    # A field added since the line was written takes its default (a spool outlives an upgrade).
    return UsageRecord(**{name: values[name] for name in _FIELDS if name in values})


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _pid_of(path: Path, prefix: str) -> int | None:
    rest = path.name[len(prefix) :].split("-", 1)[0].split(".", 1)[0]
    return int(rest) if rest.isdigit() else None


class Spool:
    """The spool directory of one process (blocking I/O: call it from a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid = os.getpid()
        self._replays = itertools.count()

    @property
    def path(self) -> Path:
        """This process's append file."""
        return self.directory / f"{_SPOOL_PREFIX}{self._pid}.jsonl"

    def append(self, records: Sequence[UsageRecord]) -> None:
        """Append records durably (fsync); OSError when the disk refuses (full, read-only)."""
        if records:
            self._write(self.path, b"".join(encode(r) for r in records))

    def reject(self, records: Sequence[UsageRecord]) -> None:
        """Set malformed records aside (kept for an operator to look at, never retried)."""
        if records:
            self._write(self.directory / REJECTED_FILE, b"".join(encode(r) for r in records))

    def reject_line(self, line: bytes) -> None:
        """Set aside a spooled line that is no longer a record."""
        self._write(self.directory / REJECTED_FILE, line.rstrip(b"\n") + b"\n")

    def _write(self, target: Path, data: bytes) -> None:
        """Append ``data`` whole or not at all: a write the disk refuses halfway (full) is cut back off,
        so the file never holds a partial line, nor lines of a batch that is also kept elsewhere."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)

    def waiting(self) -> bool:
        """Whether anything here may be replayed by this process."""
        return any(True for _ in self._replayable())

    def _replayable(self) -> Iterator[Path]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            for prefix in (_REPLAY_PREFIX, _SPOOL_PREFIX):
                if path.name.startswith(prefix) and path.suffix == ".jsonl":
                    pid = _pid_of(path, prefix)
                    if pid is not None and (pid == self._pid or not _pid_alive(pid)):
                        yield path

    def replay(self, write: Writer, on_malformed: Callable[[bytes], None]) -> int:
        """Write every replayable file to the store, oldest first; returns the records written.

        Stops at the first store failure (raising it): what was not written stays for next time.
        A line that is not a record is passed to ``on_malformed`` and skipped.
        """
        total = 0
        for path in list(self._replayable()):
            if path.name.startswith(_SPOOL_PREFIX):
                taken = (
                    self.directory / f"{_REPLAY_PREFIX}{self._pid}-{next(self._replays)}-{os.urandom(4).hex()}.jsonl"
                )
                os.replace(path, taken)  # appends go to a new file from now on
                path = taken
            total += self._replay_file(path, write, on_malformed)
        return total

    def _replay_file(self, path: Path, write: Writer, on_malformed: Callable[[bytes], None]) -> int:
        offset_file = path.with_suffix(".offset")
        try:
            offset = int(offset_file.read_text())
        except (OSError, ValueError):
            offset = 0
        # Before anything reaches the store: a full disk must fail here, not after a chunk was written
        # with no record of it (the chunk would be written again).
        self._save_offset(offset_file, offset)
        written = 0
        with path.open("rb") as stream:
            stream.seek(offset)
            while True:
                lines = list(itertools.islice(stream, REPLAY_CHUNK))
                if not lines:
                    break
                records = []
                for line in lines:
                    try:
                        records.append(decode(line))
                    except (ValueError, TypeError, KeyError):
                        on_malformed(line)
                write(records)  # a failure leaves the offset where it was
                offset += sum(len(line) for line in lines)
                written += len(records)
                self._save_offset(offset_file, offset)
        path.unlink()
        with contextlib.suppress(FileNotFoundError):
            offset_file.unlink()
        return written

    @staticmethod
    def _save_offset(offset_file: Path, offset: int) -> None:
        """Record how far a replay got: rewritten in place at a fixed width, so that once the file exists
        this needs no new disk space (a rename of a new file would, and a full disk refused it after the
        chunk was in the store). A 20-byte write in one block is not torn."""
        fd = os.open(offset_file, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, f"{offset:020d}".encode(), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
