"""gateway/form.py: a multipart form read for its text fields, file parts counted, malformed forms refused."""

from __future__ import annotations

import pytest

from vaultgate.gateway import form
from vaultgate.gateway.errors import GatewayError

B = b"xyzzy"


def part(name: bytes, value: bytes, filename: bytes | None = None) -> bytes:
    disposition = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename else b"")
    return b"--" + B + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + B + b"--\r\n"


def refusal(data: bytes) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        form.parse(data, B)
    return info.value


def test_text_fields_in_order_repeats_kept_and_file_parts_counted_not_kept() -> None:
    parsed = form.parse(
        body(
            part(b"model", b"whisper-1"),
            part(b"include[]", b"logprobs"),
            part(b"file", b"\x00\xffRIFF secret ann@example.com", filename=b"a.wav"),
            part(b"include[]", b"words"),
            part(b"prompt", "caf\u00e9".encode()),
        ),
        B,
    )
    assert [(f.name, f.value) for f in parsed.fields] == [
        ("model", "whisper-1"),
        ("include[]", "logprobs"),
        ("include[]", "words"),
        ("prompt", "caf\u00e9"),
    ]
    assert parsed.files == 1 and parsed.value("model") == "whisper-1" and parsed.value("nope") is None


@pytest.mark.parametrize(
    "data",
    [
        body(part(b"model", b"x"))[:-9],  # no closing boundary
        b"garbage without any boundary",
        body(part(b"prompt", b"\xff\xfe")),  # a text field that is not UTF-8
        b"--" + B + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + B + b"--\r\n",  # a part without a name
        body(part(b"prompt", b"x" * (form.MAX_TEXT_FIELD_BYTES + 1))),
        body(*[part(b"f", b"x")] * (form.MAX_PARTS + 1)),
    ],
)
def test_malformed_forms_are_a_400(data: bytes) -> None:
    error = refusal(data)
    assert (error.status, error.code) == (400, "invalid_multipart")


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        (b"application/json", 415, "unsupported_media_type"),
        (b"multipart/mixed; boundary=x", 415, "unsupported_media_type"),
        (b"multipart/form-data", 400, "invalid_multipart"),
        (b"multipart/form-data; boundary=", 400, "invalid_multipart"),
        (b"multipart/form-data; boundary=" + b"x" * 71, 400, "invalid_multipart"),
    ],
)
def test_the_content_type_must_be_a_form_with_a_boundary(content_type: bytes, status: int, code: str) -> None:
    with pytest.raises(GatewayError) as info:
        form.boundary_of(content_type)
    assert (info.value.status, info.value.code) == (status, code)
    assert form.boundary_of(b'Multipart/Form-Data; boundary="abc"') == b"abc"
