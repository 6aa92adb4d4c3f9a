"""A multipart/form-data request body, read for what policy needs and forwarded as sent.

Audio transcriptions, file uploads, upload parts and image edits send ``multipart/form-data``.
The gateway never re-encodes such a body: the client's bytes go upstream with the client's
``Content-Type`` (and so its boundary). It parses them once, with python-multipart (a
maintained streaming parser, never hand-rolled MIME), to learn

- the text fields (parts without a ``filename``): ``model`` and ``stream`` for policy and
  streaming, and every text field for the privacy scan;
- that the body is well formed: a truncated or malformed form is refused here, not upstream.

File parts are counted, never kept or scanned (see docs/PRIVACY.md, "Known limits").
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from vaultgate.gateway.errors import GatewayError

MULTIPART = b"multipart/form-data"
# Text fields are small (a model name, a prompt, a language); one past this is refused, not kept.
MAX_TEXT_FIELD_BYTES = 1024 * 1024
MAX_PARTS = 1000
# RFC 2046: 1 to 70 characters; python-multipart rejects nothing here, so the gateway does.
_MAX_BOUNDARY = 70


@dataclass(frozen=True, slots=True)
class FormField:
    """One text field of the form, in the order sent (a name may repeat: ``include[]``)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Form:
    """What the gateway learnt from a form: its text fields and how many file parts it carries."""

    fields: tuple[FormField, ...]
    files: int

    def value(self, name: str) -> str | None:
        """The first text field called ``name``, or None."""
        return next((f.value for f in self.fields if f.name == name), None)


def invalid(message: str) -> GatewayError:
    """The 400 for a multipart body the gateway cannot read."""
    return GatewayError(400, "invalid_multipart", message)


def boundary_of(content_type: bytes) -> bytes:
    """The boundary of a ``multipart/form-data`` content type; 415 for another type, 400 without one."""
    kind, options = parse_options_header(content_type)
    if kind.lower() != MULTIPART:
        raise GatewayError(
            415,
            "unsupported_media_type",
            "Send this request as a form with 'Content-Type: multipart/form-data; boundary=...'.",
        )
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > _MAX_BOUNDARY:
        raise invalid("The multipart/form-data Content-Type has no usable boundary.")
    return boundary


class _Reader:
    """python-multipart callbacks that keep text fields and count file parts."""

    def __init__(self) -> None:
        self.fields: list[FormField] = []
        self.files = 0
        self.parts = 0
        self.ended = False
        self._header_field = b""
        self._header_value = b""
        self._name: str | None = None
        self._is_file = False
        self._data: list[bytes] = []
        self._size = 0

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise invalid(f"The form has more than {MAX_PARTS} parts.")
        self._name, self._is_file, self._data, self._size = None, False, [], 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            name = options.get(b"name")
            self._name = name.decode("utf-8", "replace") if name is not None else None
            self._is_file = b"filename" in options or b"filename*" in options
        self._header_field = self._header_value = b""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            return
        self._size += end - start
        if self._size > MAX_TEXT_FIELD_BYTES:
            raise invalid(f"A text field of the form exceeds {MAX_TEXT_FIELD_BYTES} bytes.")
        self._data.append(data[start:end])

    def on_part_end(self) -> None:
        if self._name is None:
            raise invalid("A part of the form has no Content-Disposition name.")
        if self._is_file:
            self.files += 1
            return
        try:
            value = b"".join(self._data).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"The form field '{_shown(self._name)}' is not UTF-8 text.") from None
        self.fields.append(FormField(self._name, value))

    def on_end(self) -> None:
        self.ended = True


def _shown(name: str) -> str:
    return name if len(name) <= 40 and name.isprintable() else "(a field)"


def parse(body: bytes, boundary: bytes) -> Form:
    """The form's text fields and file count; 400 ``invalid_multipart`` when it is malformed or cut short."""
    reader = _Reader()
    callbacks = {
        "on_part_begin": reader.on_part_begin,
        "on_header_field": reader.on_header_field,
        "on_header_value": reader.on_header_value,
        "on_header_end": reader.on_header_end,
        "on_part_data": reader.on_part_data,
        "on_part_end": reader.on_part_end,
        "on_end": reader.on_end,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise invalid("The multipart/form-data body is malformed.") from None
    if not reader.ended:
        raise invalid("The multipart/form-data body ends before its closing boundary.")
    return Form(tuple(reader.fields), reader.files)
