"""One strict parse of a request body: what the gateway checks is what the upstream receives.

orjson alone is lenient where parsers disagree: with a repeated key it keeps the last copy
(another parser may keep the first), an integer beyond 64 bits silently becomes a float, and
it accepts nesting its own serializer refuses. So, after the parse:

- **duplicate keys** at any depth are refused. Cheaply: outside strings, a JSON text has
  exactly one ``:`` per object member, so the body and ``orjson.dumps(document)`` (which
  holds each kept key once) have as many colons outside strings only when no key repeated.
  Both counts run at C speed (a regex removes strings, ``bytes.count`` counts);
- **nesting** deeper than :data:`MAX_DEPTH` is refused;
- **integers** outside the signed 64-bit range are refused (NaN, Infinity and numbers that
  overflow a double are already refused by orjson).

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

# A JSON string, escapes included (unrolled: C-speed on long strings).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# An innermost array or object (nothing nested inside); removing them all peels one level.
_INNERMOST = re.compile(rb"[\[{][^\[\]{}]*[\]}]")
# An integer literal long enough to overflow 64 bits (19 digits or more, no fraction or exponent).
_LONG_DIGITS = re.compile(rb"\d{19}")
_LONG_INTEGER = re.compile(rb"(?<![\d.eE+-])-?\d{19,}(?![\d.eE])")
# Keys named in a refusal only when they are plain names (a key can itself hold data).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse(body: bytes) -> Any:
    """The document in ``body``; 400 ``invalid_json`` or ``duplicate_key`` when it cannot be trusted."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _unparsable(str(exc).lower()) from None
    structure = _STRING.sub(b"", body)
    _check_depth(structure)
    _check_integers(structure)
    if isinstance(document, dict | list) and structure.count(b":") != _STRING.sub(b"", orjson.dumps(document)).count(
        b":"
    ):
        raise duplicate_key(body)
    return document


def _unparsable(reason: str) -> GatewayError:
    # orjson's messages name the problem class (UTF-8, recursion) without quoting the body.
    if "utf-8" in reason:
        detail = " The body is not valid UTF-8."
    elif "depth" in reason or "recursion" in reason:
        detail = f" It is nested too deeply (more than {MAX_DEPTH} levels)."
    elif "infinity" in reason:
        detail = " A number is out of range."
    else:
        detail = ""
    return GatewayError(400, "invalid_json", "We could not parse the JSON body of your request." + detail)


def _check_depth(structure: bytes) -> None:
    """Peel innermost arrays and objects level by level; a level left after MAX_DEPTH is too deep."""
    if structure.count(b"[") + structure.count(b"{") <= MAX_DEPTH:
        return  # cannot be deeper than the number of its brackets
    for _ in range(MAX_DEPTH):
        structure = _INNERMOST.sub(b"", structure)
        if b"[" not in structure and b"{" not in structure:
            return
    raise GatewayError(
        400,
        "invalid_json",
        f"We could not parse the JSON body of your request. It is nested too deeply (more than {MAX_DEPTH} levels).",
    )


def _check_integers(structure: bytes) -> None:
    if _LONG_DIGITS.search(structure) is None:
        return
    for literal in _LONG_INTEGER.findall(structure):
        if not INT_MIN <= int(literal) <= INT_MAX:
            raise GatewayError(
                400,
                "invalid_json",
                "We could not parse the JSON body of your request. An integer is outside the 64-bit range.",
            )


def duplicate_key(body: bytes) -> GatewayError:
    """The 400 naming the first repeated key (its name when plain, never a value)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        if not repeated and len(set(keys)) != len(keys):
            repeated.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    # Only on refusal: the standard library exposes every pair, orjson does not.
    json.loads(body, object_pairs_hook=pairs)
    key = repeated[0] if repeated else ""
    named = f"'{key}'" if _PLAIN_KEY.fullmatch(key) else "a key"
    return GatewayError(
        400,
        "duplicate_key",
        f"The JSON body has {named} more than once in one object; send each key once.",
        param=key if _PLAIN_KEY.fullmatch(key) else None,
    )
