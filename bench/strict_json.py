"""What the strict parse (gateway/strict_json.py) costs on top of orjson.loads, in microseconds per KB.

Bodies: a typical chat request, one of many tiny messages (the worst case per byte: most
brackets and keys), an embeddings request of token ids (digits everywhere), a 1 MB prompt.
Each figure is the minimum over repetitions (the machine is shared: the minimum is the
figure neighbours disturb least).

    PYTHONPATH=src .venv/bin/python bench/strict_json.py
"""

from __future__ import annotations

import timeit

import orjson

from vaultgate.gateway import strict_json

TEXT = 'hello world: a "quoted" text with a colon '
BODIES = {
    "chat 10 messages": {"model": "gpt-4o", "messages": [{"role": "user", "content": TEXT * 30}] * 10},
    "500 tiny messages": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}] * 500},
    "embeddings, 2000 token ids": {"model": "text-embedding-3-small", "input": [list(range(2000))]},
    "1 MB prompt": {"model": "gpt-4o", "messages": [{"role": "user", "content": TEXT * 25000}]},
}


def main() -> None:
    for name, document in BODIES.items():
        body = orjson.dumps(document)
        kb = len(body) / 1024
        number = max(1, int(2000 / kb))
        loads = min(timeit.repeat(lambda b=body: orjson.loads(b), number=number, repeat=9)) / number
        parse = min(timeit.repeat(lambda b=body: strict_json.parse(b), number=number, repeat=9)) / number
        print(
            f"{name:28} {kb:8.1f} KB  loads {loads * 1e6 / kb:6.2f} us/KB  "
            f"strict {parse * 1e6 / kb:6.2f} us/KB  extra {(parse - loads) * 1e6 / kb:6.2f} us/KB"
        )


if __name__ == "__main__":
    main()
