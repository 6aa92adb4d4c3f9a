"""Readers for the file formats ``vaultgate scan --home`` meets: histories, notebooks, IPython's database.

Each turns a file into the text the detectors see, as :class:`Section` blobs. Line numbers
stay those of the file for histories (decoding never adds or removes a newline); a notebook
or IPython database gives one section per cell part or per input, its lines counted from 1.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from vaultgate.scanner.errors import FormatError

ZSH_META = 0x83  # zsh writes each byte in 0x00 and 0x83..0xa2 as Meta then the byte XOR 0x20
LIBEDIT_HEADER = b"_HiStOrY_V2_"  # libedit (macOS python, psql, sqlite3): spaces written as \040
_LIBEDIT_ESCAPE = re.compile(rb"\\(\\|[0-3][0-7]{2})")
_NEWLINE_ESCAPE = b"012"


@dataclass(frozen=True, slots=True)
class Section:
    """A blob to scan and, when it is a part of the file, its name (``cell 3 output``)."""

    data: bytes
    label: str | None = None


def unmetafy_zsh(data: bytes) -> bytes:
    """zsh's history bytes as typed: each Meta byte removed and the next byte XOR 0x20."""
    if ZSH_META not in data:
        return data
    first, *rest = data.split(bytes([ZSH_META]))
    out = bytearray(first)
    for part in rest:
        if part:  # a metafied byte is never Meta itself, so a part starts with the encoded byte
            out.append(part[0] ^ 0x20)
            out += part[1:]
    return bytes(out)


def decode_libedit(data: bytes) -> bytes:
    """libedit's ``vis`` escapes (``\\040`` for a space) decoded, except newlines (kept as a space)."""
    if not data.startswith(LIBEDIT_HEADER):
        return data

    def replace(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code == b"\\":
            return b"\\"
        return b" " if code == _NEWLINE_ESCAPE else bytes([int(code, 8)])

    return _LIBEDIT_ESCAPE.sub(replace, data)


def notebook_sections(data: bytes) -> list[Section] | None:
    """A Jupyter notebook's code and markdown cells' sources and their outputs, one section each.

    ``cell N`` is the N-th cell (from 1, as nbQA counts) and ``cell N output`` the text of all
    its outputs. None when ``data`` is not an nbformat 4 notebook (the caller scans it raw).
    """
    try:
        notebook = json.loads(data)
    except ValueError:
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    sections = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        source = _text(cell.get("source"))
        if source:
            sections.append(Section(source.encode("utf-8"), f"cell {number}"))
        outputs = cell.get("outputs")
        if isinstance(outputs, list):
            shown = "\n".join(t for t in (_output_text(o) for o in outputs) if t)
            if shown:
                sections.append(Section(shown.encode("utf-8"), f"cell {number} output"))
    return sections


def _output_text(output: Any) -> str:
    """Everything an output shows as text: stream text, each MIME type's data, a traceback."""
    if not isinstance(output, dict):
        return ""
    parts = [_text(output.get("text")), _text(output.get("evalue")), _text(output.get("traceback"), "\n")]
    data = output.get("data")
    if isinstance(data, dict):
        for value in data.values():  # text/plain, text/html, application/json, ... (images are base64)
            parts.append(json.dumps(value, indent=1) if isinstance(value, dict) else _text(value))
    return "\n".join(p for p in parts if p)


def _text(value: Any, joiner: str = "") -> str:
    """nbformat's multiline string: a string, or a list of strings (lines keep their newlines)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return joiner.join(v for v in value if isinstance(v, str))
    return ""


def ipython_sections(path: str) -> Iterator[Section]:
    """Each input (as typed) and each logged output of IPython's ``history.sqlite``, read-only.

    Opened with ``mode=ro&immutable=1``: SQLite then takes no lock and writes no journal, so
    the database of a running IPython is neither changed nor waited for.
    """
    uri = f"file:{quote(path)}?mode=ro&immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise FormatError(f"cannot open as an IPython history database ({exc})") from exc
    try:
        rows = connection.execute(
            "SELECT session, line, COALESCE(source_raw, source) FROM history ORDER BY session, line"
        ).fetchall()
        outputs = _logged_outputs(connection)
    except sqlite3.Error as exc:
        raise FormatError(f"not an IPython history database ({exc})") from exc
    finally:
        connection.close()
    for session, line, source in rows:
        if isinstance(source, str) and source:
            yield Section(source.encode("utf-8"), f"session {session} input {line}")
    for session, line, output in outputs:
        if isinstance(output, str) and output:
            yield Section(output.encode("utf-8"), f"session {session} output {line}")


def _logged_outputs(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """``output_history`` rows (only filled with ``HistoryManager.db_log_output``), if the table exists."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "output_history" not in tables:
        return []
    return connection.execute("SELECT session, line, output FROM output_history ORDER BY session, line").fetchall()
