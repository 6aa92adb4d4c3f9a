"""Request bodies for the privacy benchmarks: a 4 KB prompt with a few entities, and 1 MB adversaries.

    python bench/privacy/bodies.py prompt4k OUT.json [--values OUT.values]
    python bench/privacy/bodies.py adversary OUT.json --kind digits|emails|separators|cards

`prompt4k`: a chat request whose user turn is about 4 KB of varied support-ticket prose with six
personal values in it (two emails, a phone number, an IBAN, a card number, an IPv4 address;
valid checksums, generated with a fixed seed by tests/privacy/pii_corpus.py, so nothing real is
written down). With --values, the six values are written one per line, so that a check can
prove none of them reached the upstream. `adversary`: a chat request with a 1 MiB user turn built
to be the regexes' worst case (see ADVERSARIES).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson
from tests.privacy import pii_corpus as corpus

SYSTEM = "You are a support assistant for a payments company. Answer precisely and keep customer data confidential."

# Varied prose, the way a support agent pastes a ticket thread into a prompt; {0}..{5} are the values.
TICKET = (
    "Please summarise the following ticket thread and draft a reply for the customer.\n\n"
    "From the customer, Monday morning: Hello, I have been trying to update the billing details on our "
    "company account since Friday and the form keeps rejecting the change without saying why. Our finance "
    "team moved to a new bank at the start of the quarter and the old account will be closed at the end of "
    "next week, so we really need this sorted before the next invoice run. You can reach me at {0} or on my "
    "mobile, {2}, any time before six in the evening. The new account is {3}; the old one should no longer "
    "be charged after the twentieth.\n\n"
    "Agent note: the customer has been with us for four years, pays monthly by direct debit, and has two "
    "sub-accounts for their regional offices. The rejection comes from the validation step that compares "
    "the account holder's name with the company's registered name; the bank abbreviates 'Limited' to "
    "'Ltd', which our check treats as a mismatch. Engineering has a fix scheduled for the release after "
    "next, but we can override the check manually for this account once the customer confirms the change "
    "in writing.\n\n"
    "From the customer, Tuesday: Thanks for getting back to me so quickly. I can confirm the change in "
    "writing; my colleague in finance, {1}, is copied and can confirm as well. In the meantime we paid the "
    "last invoice with the corporate card ending in the number below so that nothing is overdue: {4}. "
    "Could you make sure that card is not kept on file afterwards? Our policy is to use it for one-off "
    "payments only, and our auditors ask about stored cards every year.\n\n"
    "Agent note: the one-off card payment went through and the invoice is marked as paid. The card was "
    "saved automatically by the checkout page, which is the default for business accounts; it needs to be "
    "removed by hand from the payment methods list. The customer also asked last month why their dashboard "
    "showed logins from an unfamiliar address, {5}; security confirmed it was their own office VPN exit "
    "node, which changed when they switched providers in the spring.\n\n"
    "From the customer, Wednesday: One more thing: our accounts payable team would like the invoices to "
    "show the purchase order number from now on, and to be sent to a shared mailbox rather than to me "
    "personally, so that nothing gets lost when people are on holiday. Is that something you can set up "
    "on your side, or do we need to change it in the portal? Also, can you tell me whether the price change "
    "announced in the newsletter applies to contracts signed before the announcement, or only to new ones? "
    "We signed our renewal two weeks before it went out and budgeted for the old price.\n\n"
    "Agent note: the shared mailbox is on the same domain as the customer's own address, so no extra "
    "verification is needed; the finance colleague copied on Tuesday is already a billing contact and can "
    "approve the change of bank on the company's behalf. Check the contract in the portal before replying, "
    "and note in the ticket which of the customer's questions were answered, so that the next agent does "
    "not repeat them.\n\n"
    "Agent note: purchase order numbers can be added in the portal under billing preferences; the shared "
    "mailbox has to be added as a billing contact first. The price change applies at the next renewal for "
    "existing contracts, so this customer keeps the old price until their renewal date next year. Reply in "
    "a friendly tone, confirm the bank change once written confirmation arrives, explain how to remove the "
    "saved card and how to add the purchase order number, and answer the question about the price change. "
    "Keep the reply under two hundred words and do not repeat the card number or the bank account in full."
)


def prompt_values(seed: int = 15) -> list[str]:
    """Two emails, a phone number, an IBAN, a card number and an IPv4 address, in TICKET's order."""
    rng = random.Random(seed)
    return [corpus.email(rng), corpus.email(rng), corpus.phone(rng), corpus.iban(rng), corpus.card(rng), "10.20.30.40"]


def prompt4k(values: list[str]) -> bytes:
    """The 4 KB chat request (JSON bytes)."""
    text = TICKET.format(*values)
    return orjson.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
            "temperature": 0.2,
            "max_tokens": 300,
        }
    )


def _digits(size: int, rng: random.Random) -> str:
    """Runs of 12-19 digits broken by single spaces and dashes: each run a card candidate, few Luhn-valid."""
    parts, total = [], 0
    while total < size:
        run = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
        piece = "-".join(run[i : i + 4] for i in range(0, len(run), 4)) if rng.random() < 0.5 else run
        parts.append(piece)
        total += len(piece) + 1
    return " ".join(parts)


def _emails(size: int, rng: random.Random) -> str:
    """Near-miss emails: long local parts and dotted domains without a letter TLD, '@' chains."""
    shapes = ("{a}@{b}.{c}.{d}1", "{a}.{b}@{c}..{d}", "{a}@@{b}.{c}", "@{a}.{b}.{c}.{d}", "{a}{b}@{c}-{d}.9")
    parts, total = [], 0
    while total < size:
        words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(8, 30))) for _ in range(4)]
        piece = rng.choice(shapes).format(a=words[0], b=words[1], c=words[2], d=words[3])
        parts.append(piece)
        total += len(piece) + 1
    return " ".join(parts)


def _separators(size: int, rng: random.Random) -> str:
    """One unbroken run of digits and separators (phone-, card- and SSN-shaped fragments, no spaces)."""
    alphabet = "0123456789" * 4 + "-.() +"
    return "".join(rng.choice(alphabet) for _ in range(size))


ADVERSARIES = {
    "digits": _digits,
    "emails": _emails,
    "separators": _separators,
    "cards": lambda size, rng: " ".join(corpus._luhn_complete(f"4{i:09d}", 16, rng) for i in range(size // 17)),
}


def adversary(kind: str, size: int = 1024 * 1024, seed: int = 1) -> bytes:
    """A chat request with a ``size``-character adversarial user turn (JSON bytes)."""
    text = ADVERSARIES[kind](size, random.Random(seed))[:size]
    return orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["prompt4k", "adversary"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--values", type=Path, help="prompt4k: also write the six values here, one a line")
    parser.add_argument("--kind", choices=sorted(ADVERSARIES), default="digits")
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()
    if args.what == "prompt4k":
        values = prompt_values()
        args.out.write_bytes(prompt4k(values))
        if args.values:
            args.values.write_text("\n".join(values) + "\n")
    else:
        args.out.write_bytes(adversary(args.kind, args.size))


if __name__ == "__main__":
    main()
