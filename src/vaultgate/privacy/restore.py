"""Stage 7: put the original values back where the upstream echoes placeholders (JSON and SSE).

A whole body (a JSON answer, or an upstream error that echoes the prompt) is restored
in one byte-level pass: placeholders hold no character JSON escapes, so the JSON stays valid.
A stream is restored event by event. Incremental text fields (``delta`` content, tool-call
arguments, ``delta`` of Responses events, text of streamed completions) are followed per
field (choice index, tool-call index, item id): when a field ends with what could still be
the start of an issued placeholder (``[EM``), only that is held back and put in front of the
field's next piece. A stream that is cut inside a placeholder drops the fragment: the client
never sees raw placeholder text. A field that ends normally (``[DONE]``, a Responses ``.done``
or terminal event) gets its held text after all: it is the model's own text, not a placeholder.

With response scanning on, adjacent text parts of one message are read as one text: in JSON
(a ``content`` list) and in Responses streams (the content parts of one output item, see
:mod:`vaultgate.privacy.item_text`). Different choices are different answers: never joined.
"""

from __future__ import annotations

from typing import Any

import orjson

from vaultgate.privacy.item_text import ItemText, Output, PartText
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.response_scan import ResponseScanner
from vaultgate.sse import data_of

FieldKey = tuple[Any, ...]
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _with_data(event: bytes, data: bytes) -> bytes:
    """``event`` with its data lines replaced by one line holding ``data`` (other fields kept)."""
    kept = [line for line in event.splitlines() if line and not line.startswith(b"data:")]
    return b"\n".join([*kept, b"data: " + data]) + b"\n\n"


def _incremental(path: FieldKey, document: dict[str, Any]) -> bool:
    return "delta" in path or (document.get("object") == "text_completion" and path[-1:] == ("text",))


def _part_of(document: dict[str, Any]) -> Any:
    """The content part (or reasoning summary part) a Responses event is about, if any."""
    part = document.get("content_index")
    return document.get("summary_index") if part is None else part


def _is_item_event(document: Any, items_open: bool) -> bool:
    """A Responses event about an output item, or one that ends the items whose text is open."""
    if not isinstance(document, dict):
        return False
    return isinstance(document.get("output_index"), int) or items_open or document.get("type") in _TERMINAL


def _ends(document: Any, prefix: FieldKey) -> bool:
    """Whether ``document`` says the field under ``prefix`` (item id, output index, part) ended normally."""
    if not isinstance(document, dict) or isinstance(document.get("delta"), str) or len(prefix) < 3:
        return False
    kind = document.get("type")
    if kind in _TERMINAL:
        return True
    if not isinstance(kind, str) or not kind.endswith(".done") or document.get("output_index") != prefix[1]:
        return False
    part = _part_of(document)
    return part is None or part == prefix[2]


class ResponseRestorer:
    """Restores (and optionally scans) one response; holds per-field state for streams."""

    __slots__ = ("_held", "_items", "_last_char", "_last_event", "_pending", "_rmap", "_scanner")

    def __init__(self, rmap: RedactionMap, scanner: ResponseScanner | None = None) -> None:
        self._rmap = rmap
        self._scanner = scanner
        self._pending: dict[FieldKey, str] = {}  # possible placeholder starts
        self._held: dict[FieldKey, str] = {}  # text the scanner holds back (chat and completions)
        self._items: dict[Any, ItemText] = {}  # Responses output items being scanned
        self._last_event: dict[FieldKey, tuple[bytes, Any]] = {}  # per field: template for held text
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
        data = data_of(event)
        if data.strip() == b"[DONE]":
            return self.finish(normal=True) + event
        if not self._pending and self._scanner is None and (b"[" not in data or not self._rmap):
            return event
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._rmap.restore_bytes(event, json_escape=False)
        if self._scanner is not None and _is_item_event(document, bool(self._items)):
            return self._item_event(event, document)
        out = b"".join(self._fragment_event(key, text) for key, text in self._ended(document))
        return out + self._walked(event, document)

    def _walked(self, event: bytes, document: Any) -> bytes:
        if not self._walk(document, stream=True, event=event):
            return event
        return _with_data(event, orjson.dumps(document))

    def tail(self, rest: bytes) -> bytes:
        """The stream's unterminated last bytes: kept only as a whole JSON event, then :meth:`finish`."""
        if rest.strip():
            try:
                orjson.loads(data_of(rest))
            except orjson.JSONDecodeError:
                return self.finish()  # a cut event could end inside a placeholder: drop it
            return self.event(rest.rstrip(b"\r\n") + b"\n\n")
        return self.finish()

    def finish(self, *, normal: bool = False) -> bytes:
        """End of stream: send the scanner's held text (masked); placeholder fragments only if ``normal``.

        A cut stream (the default) drops them: a fragment is never shown as text then.
        """
        out: list[bytes] = []
        if normal:
            for key, text in self._ended(None):
                if self._scanner is None:
                    out.append(self._fragment_event(key, text))
                else:
                    self._held[key] = self._held.get(key, "") + text
        self._pending.clear()
        for item in list(self._items):
            text_item = self._items.pop(item)
            out += self._render(text_item, text_item.end())
        scanner = self._scanner
        if scanner is not None:
            for key, text in self._held.items():
                template = self._last_event.get(key)
                if text and template is not None:
                    out.append(_set_field(template, key[1:], scanner.mask_all(text)))
        self._held.clear()
        return b"".join(out)

    def _ended(self, document: Any) -> list[tuple[FieldKey, str]]:
        """Placeholder fragments of fields that ``document`` ends normally (all of them for None), removed."""
        if not self._pending:
            return []
        keys = [k for k in self._pending if document is None or _ends(document, k[0])]
        return [(k, self._pending.pop(k)) for k in keys]

    def _fragment_event(self, key: FieldKey, text: str) -> bytes:
        template = self._last_event.get(key)
        return _set_field(template, key[1:], text) if template is not None and text else b""

    def _item_event(self, event: bytes, document: dict[str, Any]) -> bytes:
        """A Responses stream event with scanning on: each item's parts are read as one text."""
        scanner = self._scanner
        assert scanner is not None
        item, part = document.get("output_index"), _part_of(document)
        is_delta = isinstance(document.get("delta"), str)
        out: list[bytes] = []
        for key, text in self._ended(document):  # the model's own text: scanned like the rest
            ended = self._items.setdefault(key[0][1], ItemText(scanner))
            out += self._render(ended, ended.add(key[0][2], text))
        for other in [k for k in self._items if k != item or (part is None and not is_delta)]:
            ended = self._items.pop(other)
            out += self._render(ended, ended.end())
        open_item = self._items.get(item)
        if is_delta:
            prefix = (document.get("item_id"), item, part)
            restored = self._restored(document, prefix, ("delta",), document["delta"], True, event)
            text_item = self._items.setdefault(item, ItemText(scanner))
            text_item.templates[part] = (event, document)
            out += self._render(text_item, text_item.add(part, restored))
        elif open_item is not None:
            out += self._render(open_item, open_item.wait(event, document))
        else:
            out.append(self._walked(event, document))
        return b"".join(out)

    def _render(self, text_item: ItemText, outputs: list[Output]) -> list[bytes]:
        out: list[bytes] = []
        for output in outputs:
            if isinstance(output, PartText):
                out.append(_set_field(text_item.templates[output.part], ("delta",), output.text))
                continue
            document, event = output.document, output.event
            sent = text_item.text_of(_part_of(document)) if str(document.get("type")).endswith(".done") else None
            if sent is None:
                out.append(self._walked(event, document))
                continue
            # A part's .done carries exactly what its deltas carried (masked the same way).
            part = document.get("part")
            fields = [document] if isinstance(document.get("text"), str) else []
            fields += [part] if isinstance(part, dict) and isinstance(part.get("text"), str) else []
            for node in fields:
                node["text"] = ""
            self._walk(document, stream=True, event=event)
            for node in fields:
                node["text"] = sent
            out.append(_with_data(event, orjson.dumps(document)))
        return out

    def _walk(self, document: Any, *, stream: bool, event: bytes = b"") -> bool:
        changed = False
        prefix: tuple[Any, ...] = ()
        if isinstance(document, dict):
            prefix = (document.get("item_id"), document.get("output_index"), _part_of(document))
        joined: set[int] = set()  # parts whose text was scanned together with their siblings
        stack: list[tuple[Any, FieldKey]] = [(document, ())]
        while stack:
            node, path = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(value, str):
                    if key == "text" and id(node) in joined:
                        continue
                    new = self._text(document, prefix, (*path, key), value, stream, event)
                    if new is not value:
                        node[key] = new
                        changed = True
                elif isinstance(value, dict | list):
                    if key == "content" and isinstance(value, list) and not (stream and "delta" in path):
                        changed = self._join_parts(value, joined) or changed
                    ident = value.get("index") if isinstance(value, dict) else None
                    stack.append((value, (*path, ident if isinstance(ident, int) else key)))
        return changed

    def _join_parts(self, parts: list[Any], joined: set[int]) -> bool:
        """Scan each run of adjacent text parts of one ``content`` list as one text."""
        scanner = self._scanner
        if scanner is None:
            return False
        changed = False
        run: list[dict[str, Any]] = []
        for part in [*parts, None]:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                run.append(part)
                continue
            if len(run) > 1:
                texts = [self._rmap.restore_text(p["text"]) for p in run]
                masked, _ = scanner.mask_parts(texts)
                for node, new in zip(run, masked, strict=True):
                    if new != node["text"]:
                        node["text"] = new
                        changed = True
                joined.update(id(node) for node in run)
            run = []
        return changed

    def _text(self, document: Any, prefix: FieldKey, path: FieldKey, value: str, stream: bool, event: bytes) -> str:
        incremental = stream and _incremental(path, document)
        restored = self._restored(document, prefix, path, value, incremental, event)
        scanner = self._scanner
        if scanner is not None:
            if incremental:
                key = (prefix, *path)
                restored, self._held[key] = scanner.stream_piece(self._held.get(key, ""), restored)
                self._last_event[key] = (event, document)
            else:
                restored = scanner.mask_all(restored)
        return value if restored == value else restored

    def _restored(
        self, document: Any, prefix: FieldKey, path: FieldKey, value: str, incremental: bool, event: bytes
    ) -> str:
        """``value`` with placeholders put back; in a stream, a possible placeholder start at its end held."""
        rmap = self._rmap
        key = (prefix, *path)
        text = self._pending.pop(key, "") + value if incremental else value
        arguments = path[-1:] == ("arguments",)
        before = self._last_char.get(key, "") if arguments else ""
        restored = rmap.restore_text(text, json_text=arguments, before=before) if rmap else text
        if incremental and rmap:
            hold = rmap.held_prefix(restored)
            if hold:
                self._pending[key] = restored[-hold:]
                self._last_event[key] = (event, document)
                restored = restored[:-hold]
        if arguments and restored:
            self._last_char[key] = restored[-1]
        return restored


def _set_field(template: tuple[bytes, Any], path: FieldKey, value: str) -> bytes:
    """A copy of the template event with the string at ``path`` set to ``value``."""
    event, document = template
    copy = orjson.loads(orjson.dumps(document))
    _set_at(copy, path, value)
    return _with_data(event, orjson.dumps(copy))


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
