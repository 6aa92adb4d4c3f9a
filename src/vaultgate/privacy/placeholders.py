"""Typed placeholders (``[EMAIL_1]``) and the per-request map between them and the original values.

The map lives only in the request's memory (on the :class:`~vaultgate.gateway.exchange.Exchange`)
and is dropped with it. The same value gets the same placeholder within a request; numbers
that the client's own text already uses as placeholder-shaped words are skipped, so that a
literal ``[EMAIL_1]`` the client wrote is never "restored" into something else.
"""

from __future__ import annotations

import re

import orjson

TAGS = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "ITIN", "IP_ADDRESS", "PERSON", "SECRET")
_TAG_GROUP = "|".join(TAGS)
PLACEHOLDER = re.compile(r"\[(" + _TAG_GROUP + r")_(\d{1,6})\]")
PLACEHOLDER_BYTES = re.compile(rb"\[(" + _TAG_GROUP.encode() + rb")_(\d{1,6})\]")
# A placeholder is at most this long: "[" + longest tag + "_" + six digits + "]".
MAX_LENGTH = 2 + max(len(t) for t in TAGS) + 1 + 6


class RedactionMap:
    """Placeholder <-> original value, for one request."""

    __slots__ = ("_by_token", "_by_value", "_counts", "_reserved", "_restored")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_token: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._reserved: set[str] = set()
        self._restored: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self._by_token)

    def __len__(self) -> int:
        return len(self._by_token)

    def reserve(self, text: str) -> None:
        """Note placeholder-shaped words already in the client's text (never handed out)."""
        if "[" in text:
            self._reserved.update(m.group() for m in PLACEHOLDER.finditer(text))

    def token_for(self, tag: str, value: str) -> str:
        """The placeholder for ``value`` (the same one every time within the request)."""
        key = (tag, value)
        token = self._by_value.get(key)
        if token is not None:
            return token
        count = self._counts.get(tag, 0)
        while True:
            count += 1
            token = f"[{tag}_{count}]"
            if token not in self._reserved:
                break
        self._counts[tag] = count
        self._by_value[key] = token
        self._by_token[token] = value
        return token

    def value_of(self, token: str) -> str | None:
        """The original value behind ``token``, if this request issued it."""
        return self._by_token.get(token)

    def issued(self) -> dict[str, int]:
        """How many placeholders of each tag this request issued (one per distinct value): counts only."""
        counts: dict[str, int] = {}
        for tag, _ in self._by_value:
            counts[tag] = counts.get(tag, 0) + 1
        return counts

    def restored(self) -> dict[str, int]:
        """How many placeholders of each tag were put back into the answer so far: counts only."""
        return dict(self._restored)

    def _restored_one(self, tag: str) -> None:
        self._restored[tag] = self._restored.get(tag, 0) + 1

    def values(self) -> frozenset[str]:
        """Every original value (the response scanner leaves these alone: the client sent them)."""
        return frozenset(self._by_token.values())

    def restore_text(self, text: str, *, json_text: bool = False, before: str = "") -> str:
        """``text`` with every issued placeholder replaced by its value.

        With ``json_text`` (the text is itself JSON, such as tool-call arguments) a value that
        opens a JSON string there (right after a quote; ``before`` is the character that
        preceded ``text`` in its stream) is written JSON-escaped.
        """
        if "[" not in text or not self._by_token:
            return text
        by_token = self._by_token

        def one(match: re.Match[str]) -> str:
            value = by_token.get(match.group())
            if value is None:
                return match.group()
            self._restored_one(match.group(1))
            preceding = text[match.start() - 1] if match.start() > 0 else before
            if json_text and preceding == '"':
                return orjson.dumps(value)[1:-1].decode("utf-8")
            return value

        return PLACEHOLDER.sub(one, text)

    def restore_bytes(self, body: bytes, *, json_escape: bool) -> bytes:
        """``body`` with placeholders replaced; values JSON-escaped when the body is JSON."""
        if b"[" not in body or not self._by_token:
            return body
        by_token = self._by_token

        def one(match: re.Match[bytes]) -> bytes:
            value = by_token.get(match.group().decode("ascii"))
            if value is None:
                return match.group()
            self._restored_one(match.group(1).decode("ascii"))
            if not json_escape:
                return value.encode("utf-8")
            escaped = orjson.dumps(value)[1:-1]
            if body[match.start() - 2 : match.start()] == b'\\"' and escaped != value.encode("utf-8"):
                # Inside a JSON document held in a JSON string (tool-call arguments): escape twice.
                escaped = orjson.dumps(escaped.decode("utf-8"))[1:-1]
            return escaped

        return PLACEHOLDER_BYTES.sub(one, body)

    def held_prefix(self, text: str) -> int:
        """Length of the end of ``text`` that could still become an issued placeholder (0 if none)."""
        cut = text.rfind("[", max(0, len(text) - MAX_LENGTH))
        if cut == -1:
            return 0
        tail = text[cut:]
        if "]" in tail:
            return 0
        for token in self._by_token:
            if token.startswith(tail):
                return len(tail)
        return 0
