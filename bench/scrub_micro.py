"""What cutting provider credentials out of answers costs when there are none (the usual case).

Builds the scrubber for two credentials shaped like real ones (an OpenAI project key of 164
characters and a 32-hex Azure key) and times ``scrub`` on a typical SSE event, a 10 KB JSON
answer and a 1 MB JSON answer, none holding a credential, and once with one credential in it.

    taskset -c 1 .venv/bin/python bench/scrub_micro.py
"""

from __future__ import annotations

import json
import secrets
import string
import timeit

from vaultgate.gateway.scrub import CredentialScrubber

ALPHABET = string.ascii_letters + string.digits + "-_"


def _key(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def main() -> None:
    openai_key = "sk-proj-" + _key(156)
    scrubber = CredentialScrubber([openai_key, secrets.token_hex(16)])
    chunk = {
        "id": "chatcmpl-" + _key(29),
        "object": "chat.completion.chunk",
        "created": 1732900000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_" + secrets.token_hex(5),
        "choices": [
            {"index": 0, "delta": {"content": " the quick brown fox"}, "logprobs": None, "finish_reason": None}
        ],
    }
    event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    words = "Rotate keys regularly, keep them out of repositories, and give each member their own. " * 120
    small = json.dumps({"choices": [{"message": {"content": words}}], "usage": {"total_tokens": 1}}).encode()
    large = small * 100
    leaked = small[:5000] + openai_key.encode() + small[5000:]
    for name, body, number in (
        ("SSE event", event, 20000),
        ("10 KB JSON", small, 2000),
        ("1 MB JSON", large, 20),
        ("10 KB JSON, key inside", leaked, 2000),
    ):
        seconds = min(timeit.repeat(lambda b=body: scrubber.scrub(b), number=number, repeat=5)) / number
        print(f"{name:24s} {len(body):>9d} B  {seconds * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
