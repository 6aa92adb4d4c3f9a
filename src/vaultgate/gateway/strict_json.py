"""One strict parse of a request body: what the gateway checks is what the upstream receives.

orjson alone is lenient where parsers disagree: with a repeated key it keeps the last copy
(another parser may keep the first), an integer beyond 64 bits silently becomes a float, and
it accepts nesting its own serializer refuses. So, after the parse:

- **duplicate keys** at any depth are refused. Cheaply: outside strings a JSON text has one
  ``:`` per object member, and inside strings a colon is written ``:`` or ``\\u003a``. So the
  body's count of those is at least (members + colons of every string), while
  ``orjson.dumps(document)`` has exactly (kept members + colons of kept strings): a repeated
  key always makes the body's count larger. Equal counts prove there is none (the common
  case, all at C speed); a larger count is confirmed by an exact parse that sees every pair;
- **nesting** deeper than :data:`MAX_DEPTH` is refused (checked only when the body has more
  brackets than that, by the same serialization, see :func:`parse`);
- **integers** outside the signed 64-bit range are refused (checked exactly only when the body
  holds a run of 19 digits; NaN, Infinity and doubles that overflow orjson already refuses).

With those, the client's bytes and the parsed document mean the same to any JSON parser
(orjson also refuses invalid UTF-8, lone surrogates, a BOM and trailing data), so the
client's bytes may be forwarded as they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from vaultgate.gateway.errors import GatewayError

# Deep enough for every OpenAI request shape (tool schemas included), far below orjson's 255.
MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

# One C pass maps every digit to "0", every opening bracket to "[" and the rest to " ": a run of 19
# digits (long enough for an integer beyond 64 bits, or anything else: then checked exactly) is one
# bytes.find, a regex is 20x slower; the brackets bound the nesting.
_SHAPE = bytes(ord("0") if chr(i).isdigit() else ord("[") if chr(i) in "[{" else ord(" ") for i in range(128)) + (
    b" " * 128
)
_LONG_RUN = b"0" * 19
# Keys named in a refusal only when they are plain names (a key can itself hold data).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse(body: bytes) -> Any:
    """The document in ``body``; 400 ``invalid_json`` or ``duplicate_key`` when it cannot be trusted."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _unparsable(str(exc).lower()) from None
    shape = body.translate(_SHAPE)
    if isinstance(document, dict | list):
        _check_structure(body, shape, document)
    if _LONG_RUN in shape:
        # Exact: sees every integer literal as written. After the depth check, so the standard
        # library's recursive parser never meets more than MAX_DEPTH levels.
        json.loads(body, parse_int=_integer)
    return document


def _check_structure(body: bytes, shape: bytes, document: dict[str, Any] | list[Any]) -> None:
    """Refuse nesting beyond MAX_DEPTH and repeated keys (both need one serialization of the document)."""
    wrapped: Any = document
    if shape.count(b"[") > MAX_DEPTH:
        # Nesting can only exceed MAX_DEPTH with that many brackets. Then let orjson's serializer
        # (which refuses more than _SERIALIZER_DEPTH levels) count: wrapped this much deeper, the
        # document serializes only when it is at most MAX_DEPTH deep. One C pass, no Python walk.
        for _ in range(_SERIALIZER_DEPTH - MAX_DEPTH):
            wrapped = [wrapped]
    try:
        serialized = orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        raise _refusal(f"It is nested too deeply (more than {MAX_DEPTH} levels).") from None
    if _colons(body) != serialized.count(b":"):
        key = _repeated_key(body)
        if key is not None:
            raise duplicate_key(key)


def _refusal(detail: str) -> GatewayError:
    return GatewayError(400, "invalid_json", "We could not parse the JSON body of your request. " + detail)


def _unparsable(reason: str) -> GatewayError:
    # orjson's messages name the problem class (UTF-8, recursion) without quoting the body.
    if "utf-8" in reason:
        return _refusal("The body is not valid UTF-8.")
    if "depth" in reason or "recursion" in reason:
        return _refusal(f"It is nested too deeply (more than {MAX_DEPTH} levels).")
    if "infinity" in reason:
        return _refusal("A number is out of range.")
    return GatewayError(400, "invalid_json", "We could not parse the JSON body of your request.")


def _serializer_depth() -> int:
    """The deepest nesting orjson serializes (254 in orjson 3.x), found once at import."""
    depth = 0
    probe: Any = [0]
    while depth < 4096:
        try:
            orjson.dumps(probe)
        except orjson.JSONEncodeError:
            return depth
        depth, probe = depth + 1, [probe]
    raise RuntimeError("orjson serializes any depth: the nesting check needs another way")


_SERIALIZER_DEPTH = _serializer_depth()


def _integer(literal: str) -> int:
    value = int(literal)
    if not INT_MIN <= value <= INT_MAX:
        raise _refusal("An integer is outside the signed 64-bit range.")
    return value


def _colons(body: bytes) -> int:
    """Colons of the body, written as such or as a string escape (``\\u003a``, either case)."""
    count = body.count(b":")
    if b"\\u003" in body:
        count += body.count(b"\\u003a") + body.count(b"\\u003A")
    return count


def _repeated_key(body: bytes) -> str | None:
    """The first key found twice in one object, by an exact parse (only when the counts differ)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        if not repeated and len(set(keys)) != len(keys):
            repeated.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    # The standard library exposes every pair, orjson does not; depth is bounded already.
    json.loads(body, object_pairs_hook=pairs)
    return repeated[0] if repeated else None


def duplicate_key(key: str) -> GatewayError:
    """The 400 naming a repeated key: its name when it is a plain name (a key can hold data), never a value."""
    plain = _PLAIN_KEY.fullmatch(key) is not None
    named = f"'{key}'" if plain else "a key"
    return GatewayError(
        400,
        "duplicate_key",
        f"The JSON body has {named} more than once in one object; send each key once.",
        param=key if plain else None,
    )
