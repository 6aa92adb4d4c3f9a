"""JSON library micro-benchmark on the bodies a gateway parses: stdlib json vs orjson.

The proxy benchmark uses a small request (~600 bytes), where parsing is a small part of
the cost. Real chat requests carry conversation history and tool schemas, so this times
loads (request bodies, response bodies) and dumps (error bodies, re-serialised requests)
at a few sizes. Prints one JSON line per case; run it pinned to one core:

    taskset -c 1 python bench/candidates/json_micro.py
"""

from __future__ import annotations

import json
import platform
import timeit
from typing import Any

import orjson


def chat_request(turns: int) -> dict[str, Any]:
    """A chat.completions request with `turns` user/assistant exchanges of ~400 characters."""
    text = (
        "Please review the following function and explain what happens when the input list "
        "is empty, whether the loop can run forever, and how you would test both cases. "
    ) * 2
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a code reviewer."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"{i}: {text}"})
        messages.append({"role": "assistant", "content": f"{i}: {text[::-1]}"})
    return {"model": "gpt-4o-mini", "messages": messages, "temperature": 0.2, "max_tokens": 512}


def best_per_call(fn: Any, arg: Any) -> float:
    """Best of 5 repeats, seconds per call (the minimum is the least disturbed figure)."""
    timer = timeit.Timer(lambda: fn(arg))
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number


def main() -> None:
    std_dumps = json.dumps
    for turns in (1, 25, 250):
        doc = chat_request(turns)
        body = orjson.dumps(doc)
        cases = {
            "loads": (json.loads, orjson.loads, body),
            "dumps": (std_dumps, orjson.dumps, doc),
        }
        for op, (std, fast, arg) in cases.items():
            t_std = best_per_call(std, arg)
            t_fast = best_per_call(fast, arg)
            print(
                json.dumps(
                    {
                        "python": platform.python_version(),
                        "orjson": orjson.__version__,
                        "op": op,
                        "body_bytes": len(body),
                        "json_us": round(t_std * 1e6, 2),
                        "orjson_us": round(t_fast * 1e6, 2),
                        "speedup": round(t_std / t_fast, 1),
                    }
                )
            )


if __name__ == "__main__":
    main()
