"""tiktoken (about 40 MB per worker) is loaded by the first request that counts tokens, once, off the loop.

Before: ``Limiter.start`` loaded it, so every worker held it from start, limits with tokens or not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from vaultgate.limits import admission
from vaultgate.limits.admission import Limiter
from vaultgate.limits.memory import MemoryBackend
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.limits.token_estimate import bytes_estimate, estimate_prompt_tokens, load_counter
from vaultgate.usage.pricing import PriceTable

TOKENS = ScopedLimits(key=Limits(tpm=1_000_000), member=Limits(), team=Limits())
REQUESTS_ONLY = ScopedLimits(key=Limits(rpm=1_000), member=Limits(), team=Limits())
PROMPT = "Tokenisation with cl100k_base counts differently from bytes over four."


def payload() -> dict[str, object]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1}


def test_the_counter_is_loaded_by_the_first_request_counting_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    loop: list[threading.Thread] = []

    def counting_load() -> tuple[Callable[[str], int], str]:
        loads.append(threading.current_thread().name)
        assert threading.current_thread() is not loop[0]  # off the event loop
        return load_counter()

    monkeypatch.setattr(admission, "load_counter", counting_load)
    limiter = Limiter(MemoryBackend(), PriceTable({}))

    async def run() -> list[int]:
        loop.append(threading.current_thread())
        await limiter.start()
        assert loads == []  # not at start
        await limiter.admit(REQUESTS_ONLY, ("k", "m", None), "r0", "gpt-4o", payload())
        assert loads == []  # nor for a request whose limits count no tokens
        tickets = await asyncio.gather(
            *(limiter.admit(TOKENS, ("k", "m", None), f"r{i}", "gpt-4o", payload()) for i in range(1, 11))
        )
        await limiter.stop()
        return [t.prompt_estimate for t in tickets if t is not None]

    estimates = asyncio.run(run())
    assert len(loads) == 1  # once, for ten requests arriving together
    assert limiter.counter_name == "tiktoken:cl100k_base"
    counter, _ = load_counter()
    assert estimates == [estimate_prompt_tokens(payload(), counter)] * 10
    assert estimates[0] != estimate_prompt_tokens(payload(), bytes_estimate)  # tiktoken's count, not bytes/4


def test_the_counter_still_counts_after_its_ranks_were_dropped() -> None:
    counter, name = load_counter()
    assert name == "tiktoken:cl100k_base"
    assert counter("hello world") == 2
    assert counter("Ünïcödé and \ud800 a lone surrogate") > 0
