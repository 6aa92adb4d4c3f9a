"""Stage 7: put the original values back where the upstream echoes placeholders (JSON and SSE).

A whole body (a JSON answer, or an upstream error that echoes the prompt) is restored
in one byte-level pass: placeholders hold no character JSON escapes, so the JSON stays valid.
A stream is restored event by event. Incremental text fields (``delta`` content, tool-call
arguments, ``delta`` of Responses events, text of streamed completions) are followed per
field (choice index, tool-call index, item id): when a field ends with what could still be
the start of an issued placeholder (``[EM``), only that is held back and put in front of the
field's next piece. A stream that ends inside a placeholder drops the fragment: the client
never sees raw placeholder text.
"""

from __future__ import annotations

from typing import Any

import orjson

from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.scan import ResponseScanner

FieldKey = tuple[Any, ...]


def _data_of(event: bytes) -> bytes:
    lines = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines)


def _with_data(event: bytes, data: bytes) -> bytes:
    """``event`` with its data lines replaced by one line holding ``data`` (other fields kept)."""
    kept = [line for line in event.splitlines() if line and not line.startswith(b"data:")]
    return b"\n".join([*kept, b"data: " + data]) + b"\n\n"


def _incremental(path: FieldKey, document: dict[str, Any]) -> bool:
    return "delta" in path or (document.get("object") == "text_completion" and path[-1:] == ("text",))


class ResponseRestorer:
    """Restores (and optionally scans) one response; holds per-field state for streams."""

    __slots__ = ("_held", "_last_char", "_last_event", "_pending", "_rmap", "_scanner")

    def __init__(self, rmap: RedactionMap, scanner: ResponseScanner | None = None) -> None:
        self._rmap = rmap
        self._scanner = scanner
        self._pending: dict[FieldKey, str] = {}  # possible placeholder starts
        self._held: dict[FieldKey, str] = {}  # text the scanner holds back
        self._last_event: dict[FieldKey, tuple[bytes, Any]] = {}
        self._last_char: dict[FieldKey, str] = {}  # of tool-call arguments sent so far

    @property
    def active(self) -> bool:
        """Whether there is anything to do (placeholders issued, or response scanning on)."""
        return bool(self._rmap) or self._scanner is not None

    def body(self, body: bytes, *, is_json: bool) -> bytes:
        """A whole response body, restored (and scanned when the mode is on)."""
        restored = self._rmap.restore_bytes(body, json_escape=is_json)
        if self._scanner is None:
            return restored
        if not is_json:
            return self._scanner.mask_all(restored.decode("utf-8", "replace")).encode("utf-8")
        try:
            document = orjson.loads(restored)
        except orjson.JSONDecodeError:
            return restored
        if self._walk(document, stream=False):
            return orjson.dumps(document)
        return restored

    def event(self, event: bytes) -> bytes:
        """One complete SSE event (with its terminator), restored; may carry held-back text first."""
        data = _data_of(event)
        if data.strip() == b"[DONE]":
            return self.finish() + event
        if not self._pending and self._scanner is None and (b"[" not in data or not self._rmap):
            return event
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._rmap.restore_bytes(event, json_escape=False)
        if not self._walk(document, stream=True, event=event):
            return event
        return _with_data(event, orjson.dumps(document))

    def tail(self, rest: bytes) -> bytes:
        """The stream's unterminated last bytes: kept only as a whole JSON event, then :meth:`finish`."""
        if rest.strip():
            try:
                orjson.loads(_data_of(rest))
            except orjson.JSONDecodeError:
                return self.finish()  # a cut event could end inside a placeholder: drop it
            return self.event(rest.rstrip(b"\r\n") + b"\n\n")
        return self.finish()

    def finish(self) -> bytes:
        """End of stream: drop placeholder fragments; send the scanner's held text (masked)."""
        self._pending.clear()
        if not self._held or self._scanner is None:
            return b""
        out: list[bytes] = []
        for key, text in self._held.items():
            template = self._last_event.get(key)
            if not text or template is None:
                continue
            event, document = template
            copy = orjson.loads(orjson.dumps(document))
            _set_at(copy, key[1:], self._scanner.mask_all(text))
            out.append(_with_data(event, orjson.dumps(copy)))
        self._held.clear()
        return b"".join(out)

    def _walk(self, document: Any, *, stream: bool, event: bytes = b"") -> bool:
        changed = False
        prefix: tuple[Any, ...] = ()
        if isinstance(document, dict):
            prefix = (document.get("item_id"), document.get("output_index"), document.get("content_index"))
        stack: list[tuple[Any, FieldKey]] = [(document, ())]
        while stack:
            node, path = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(value, str):
                    new = self._text(document, prefix, (*path, key), value, stream, event)
                    if new is not value:
                        node[key] = new
                        changed = True
                elif isinstance(value, dict | list):
                    ident = value.get("index") if isinstance(value, dict) else None
                    stack.append((value, (*path, ident if isinstance(ident, int) else key)))
        return changed

    def _text(self, document: Any, prefix: FieldKey, path: FieldKey, value: str, stream: bool, event: bytes) -> str:
        rmap = self._rmap
        incremental = stream and _incremental(path, document)
        key = (prefix, *path)
        text = self._pending.pop(key, "") + value if incremental else value
        arguments = path[-1:] == ("arguments",)
        before = self._last_char.get(key, "") if arguments else ""
        restored = rmap.restore_text(text, json_text=arguments, before=before) if rmap else text
        if incremental and rmap:
            hold = rmap.held_prefix(restored)
            if hold:
                self._pending[key] = restored[-hold:]
                restored = restored[:-hold]
        if arguments and restored:
            self._last_char[key] = restored[-1]
        scanner = self._scanner
        if scanner is not None:
            if incremental:
                restored, self._held[key] = scanner.stream_piece(self._held.get(key, ""), restored)
                self._last_event[key] = (event, document)
            else:
                restored = scanner.mask_all(restored)
        return value if restored == value else restored


def _set_at(document: Any, path: FieldKey, value: str) -> None:
    """Set the string at ``path`` (list steps given as ``index`` values or positions)."""
    node = document
    for step in path[:-1]:
        node = _step(node, step)
    last = path[-1]
    if isinstance(node, list):
        node[_position(node, last)] = value
    else:
        node[last] = value


def _step(node: Any, step: Any) -> Any:
    return node[_position(node, step)] if isinstance(node, list) else node[step]


def _position(items: list[Any], step: Any) -> int:
    for position, item in enumerate(items):
        if isinstance(item, dict) and item.get("index") == step:
            return position
    return int(step)
