"""gateway/strict_json.py: repeated keys, nesting and integers, decided exactly however the text is written."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.gateway import strict_json
from vaultgate.gateway.errors import GatewayError


def refused(body: bytes) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        strict_json.parse(body)
    return info.value


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"model":"o1","model":"gpt-4o"}', "model"),
        (b'{"a":{"b":1,"b":2}}', "b"),
        (b'[{"x":1},{"y":[{"z":1,"z":1}]}]', "z"),
        (b'{"model":"gpt-4o","\\u006dodel":"o1"}', "model"),
        (b'{"a":1,"a":2,"b":"\\u003a"}', "a"),  # an escaped colon in a kept string cannot balance the count
        (b'{"a":1,"a":2,"b":"\\u003A\\u003a"}', "a"),
        (b'{"a":"x:y","a":"z"}', "a"),
        (b'{ "a" : 1 , "a" : 2 }', "a"),
    ],
)
def test_repeated_keys_are_refused_naming_the_key(body: bytes, key: str) -> None:
    error = refused(body)
    assert (error.status, error.code, error.param) == (400, "duplicate_key", key)
    assert f"'{key}'" in error.message


def test_a_repeated_key_that_is_not_a_plain_name_is_not_echoed() -> None:
    secret = "sk-" + "A" * 40
    error = refused(f'{{"{secret} x": 1, "{secret} x": 2}}'.encode())
    assert error.code == "duplicate_key" and secret not in error.message and error.param is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":"x\\":y","b":"\\\\","c":":"}',
        b'{"a":"\\\\u003a"}',  # a backslash then "u003a": six characters, no colon
        b'{"a":"\\\\\\u003a"}',
        b'{"a":"{\\"a\\":1,\\"a\\":2}"}',
        b'{"a":{"a":{"a":1}}}',
        b'{"a":1,"A":2,"a ":3}',
        b'[":",":::",{"k":"::"}]',
        b'"just a string: with a colon"',
        b"12",
    ],
)
def test_strings_full_of_colons_quotes_and_escapes_are_not_repeated_keys(body: bytes) -> None:
    assert strict_json.parse(body) == json.loads(body)


def depth(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_nesting_up_to_the_limit_is_accepted_and_beyond_refused() -> None:
    assert strict_json.parse(depth(strict_json.MAX_DEPTH)) is not None
    assert strict_json.parse(b'{"a":' + depth(strict_json.MAX_DEPTH - 1) + b"}") is not None
    for levels in (strict_json.MAX_DEPTH + 1, 254, 255, 1024, 5000):
        error = refused(depth(levels))
        assert error.code == "invalid_json" and "nested too deeply (more than 64 levels)" in error.message
    error = refused(b'{"a":' + depth(strict_json.MAX_DEPTH) + b"}")
    assert error.code == "invalid_json"


def test_deep_nesting_with_a_long_digit_run_is_a_400_not_a_recursion_error() -> None:
    body = b'{"n":12345678901234567890,"x":' + depth(1000) + b"}"
    assert refused(body).code == "invalid_json"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = orjson.dumps({"s": "[" * 500 + "{" * 500, "t": [["]]]]"]]})
    assert strict_json.parse(body)["t"] == [["]]]]"]]


@pytest.mark.parametrize(
    "number", [b"18446744073709551616", b"9223372036854775808", b"-9223372036854775809", b"1" + b"0" * 400]
)
def test_integers_beyond_64_bits_are_refused(number: bytes) -> None:
    error = refused(b'{"n":' + number + b"}")
    assert error.code == "invalid_json" and ("64-bit" in error.message or "out of range" in error.message)


@pytest.mark.parametrize(
    "body",
    [
        b'{"n":9223372036854775807}',
        b'{"n":-9223372036854775808}',
        b'{"n":0.12345678901234567890123}',
        b'{"n":1234567890123456789012.5}',
        b'{"n":1e-12345678901234567890}',
        b'{"s":"12345678901234567890123"}',
    ],
)
def test_numbers_in_range_and_long_digit_runs_in_strings_pass(body: bytes) -> None:
    assert strict_json.parse(body) == json.loads(body)


@pytest.mark.parametrize("body", [b"NaN", b'{"n":Infinity}', b'{"n":-Infinity}', b'{"n":1e400}', b'{"n":nan}'])
def test_nan_and_infinity_are_refused(body: bytes) -> None:
    assert refused(body).code == "invalid_json"


@pytest.mark.parametrize(
    "body", [b"", b"{", b'{"a":1}x', b'\xef\xbb\xbf{"a":1}', b'{"a":"\\ud800"}', b'{"a":"\xff"}', b"{'a':1}"]
)
def test_what_parsers_could_read_differently_is_refused(body: bytes) -> None:
    assert refused(body).code == "invalid_json"


# --- property: the fast count agrees with an exact parse, whatever the spelling -------------------

KEYS = st.sampled_from(["a", "b", "model", "input", ":", '"', "\\", "a:b", "\u003a", "é", "a b"])
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
)
strings = st.text(alphabet=st.sampled_from(list('ab:"\\{}[],\u00e9 \n')), max_size=8)


def spell_string(draw: st.DrawFn, text: str) -> str:
    """A JSON string for ``text``, each character written plainly or as a \\u escape at random."""
    out = []
    for ch in text:
        if ch in '"\\' or ch < " " or draw(st.booleans()):
            out.append(f"\\u{ord(ch):04x}" if draw(st.booleans()) else f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@st.composite
def json_text(draw: st.DrawFn, level: int = 0) -> str:
    """A JSON text whose objects may repeat keys, with random escapes and spacing."""
    kind = draw(st.sampled_from(["scalar", "string", "list", "object"] if level < 4 else ["scalar", "string"]))
    space = draw(st.sampled_from(["", " ", "\n"]))
    if kind == "scalar":
        return json.dumps(draw(scalars))
    if kind == "string":
        return spell_string(draw, draw(strings))
    if kind == "list":
        items = draw(st.lists(json_text(level + 1), max_size=3))
        return "[" + ("," + space).join(items) + "]"
    members = draw(st.lists(st.tuples(KEYS, json_text(level + 1)), max_size=4))
    return "{" + ",".join(f"{spell_string(draw, k)}{space}:{space}{v}" for k, v in members) + "}"


def has_repeated_key(text: str) -> bool:
    found = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            found.append(True)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return bool(found)


@given(json_text())
@settings(max_examples=400)
def test_refused_exactly_when_a_key_repeats(text: str) -> None:
    body = text.encode()
    if has_repeated_key(text):
        assert refused(body).code == "duplicate_key"
    else:
        assert strict_json.parse(body) == json.loads(text)
