"""Cost of the privacy stage: redact (and restore) a 4 KB chat prompt; p50/p90/p99 in microseconds.

Run: .venv/bin/python bench/privacy/bench_redact.py [--names]
Measures PrivacyGuard.protect on a fresh copy of the payload each round (the copy is not timed),
for a prompt with personal data, one without, and the answer's restoration.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
from tests.privacy import pii_corpus as corpus

from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import DEFAULT_POLICY

FILLER = (
    "We reviewed the quarterly figures and the migration plan for the billing service. "
    "Version 2.14.3 shipped on 2024-03-15 14:22:01 with order #100234567 as the smoke test. "
)


PROSE = (
    "Thanks for the quick turnaround on the proposal. The team went through the draft on Tuesday and we "
    "agreed that the onboarding section needs more detail about how accounts are provisioned, who approves "
    "access, and what happens when someone leaves the company. Could you also expand the part on data "
    "retention so that legal can sign off before the end of the month? "
)


def typical(size: int = 4096) -> str:
    """Plain business prose with six personal values spread through it (a common prompt)."""
    rng = random.Random(2)
    values = [
        corpus.email(rng),
        corpus.phone(rng),
        corpus.card(rng),
        corpus.email(rng),
        corpus.iban(rng),
        "10.20.30.40",
    ]
    parts: list[str] = []
    while sum(len(p) for p in parts) < size:
        parts.append(PROSE)
        if values:
            parts.append(f"Note: {values.pop()} was mentioned. ")
    return "".join(parts)[:size]


def prompt(with_pii: bool, size: int = 4096) -> str:
    """Dense, digit-heavy text (dates, versions, order numbers), with a value every ~250 characters."""
    rng = random.Random(1)
    parts: list[str] = []
    while sum(len(p) for p in parts) < size:
        parts.append(FILLER)
        if with_pii:
            parts.append(f"Contact {corpus.email(rng)} or {corpus.phone(rng)}; card {corpus.card(rng)}. ")
    return "".join(parts)[:size]


def payload(text: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}],
    }


def measure(guard: PrivacyGuard, text: str, rounds: int) -> tuple[list[float], list[float]]:
    base = payload(text)
    protect, restore = [], []
    for _ in range(rounds):
        body = copy.deepcopy(base)
        start = time.perf_counter_ns()
        rmap, _, _, _ = guard.protect(body, {}, b"", DEFAULT_POLICY)
        protect.append((time.perf_counter_ns() - start) / 1000)
        answer = orjson.dumps({"choices": [{"message": {"content": body["messages"][1]["content"]}}]})
        restorer = guard.restorer(rmap, DEFAULT_POLICY)
        start = time.perf_counter_ns()
        if restorer is not None:
            restorer.body(answer, is_json=True)
        restore.append((time.perf_counter_ns() - start) / 1000)
    return protect, restore


def summary(name: str, samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"{name:<46} min {min(samples):7.1f}   p50 {q[49]:7.1f}   p90 {q[89]:7.1f}   p99 {q[98]:8.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--names", action="store_true", help="with the person-name model (names extra)")
    args = parser.parse_args()
    guard = PrivacyGuard.with_installed_recognisers() if args.names else PrivacyGuard()
    print(guard.describe())
    rounds = args.rounds if not args.names else min(args.rounds, 50)
    texts = (
        ("4 KB typical prose, 6 values", typical()),
        ("4 KB dense digits, ~40 values", prompt(True)),
        ("4 KB dense digits, no values", prompt(False)),
    )
    for label, text in texts:
        measure(guard, text, 20)  # warm-up
        protect, restore = measure(guard, text, rounds)
        print(summary(f"protect: {label}", protect))
        print(summary(f"restore answer: {label}", restore))


if __name__ == "__main__":
    main()
