"""A labelled evaluation set for the personal-data recognisers, generated with a seeded RNG.

Positives are valid values (checksums computed here) in realistic prose; hard negatives are
look-alikes (order and tracking numbers, timestamps, versions, UUIDs, hashes, invalid
checksums, reserved SSN areas). Standard library only: bench/privacy/presidio_compare.py
imports it from a separate virtualenv. No value is written literally in the repository.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

ENTITIES = ("email", "phone", "card", "iban", "ssn", "itin", "ip_address", "person")
VALIDATED = ("email", "phone", "card", "iban", "ssn", "itin", "ip_address")


@dataclass(frozen=True)
class Case:
    """A text and the (entity, value) pairs it contains."""

    text: str
    labels: tuple[tuple[str, str], ...]


FIRST = ["Maria", "James", "Aisha", "Chen", "Olga", "Pierre", "Sofia", "Liam", "Noah", "Emma", "Lucas", "Hannah"]
LAST = ["Gonzalez", "Smith", "Okafor", "Wang", "Petrova", "Dubois", "Rossi", "Murphy", "Keller", "Novak", "Silva"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni-example.edu", "example.co.uk"]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    number = _luhn_complete(prefix, length, rng)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    groups = (
        [number[i : i + 4] for i in range(0, len(number), 4)]
        if length == 16
        else [number[:4], number[4:10], number[10:]]
    )
    return (" " if style == "space" else "-").join(groups)


def bad_card(rng: random.Random) -> str:
    number = _luhn_complete("4", 16, rng)
    return number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)


IBAN_SHAPES = {
    "DE": "8n10n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "NL": "4a10n",
    "ES": "20n",
    "IT": "1a10n12c",
    "CH": "5n12c",
}


def _iban_body(shape: str, rng: random.Random) -> str:
    out = []
    number = ""
    for ch in shape:
        if ch.isdigit():
            number += ch
            continue
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[ch]
        out.append("".join(rng.choice(alphabet) for _ in range(int(number))))
        number = ""
    return "".join(out)


def _iban_check(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def iban(rng: random.Random, *, valid: bool = True) -> str:
    country = rng.choice(list(IBAN_SHAPES))
    bban = _iban_body(IBAN_SHAPES[country], rng)
    check = _iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + rng.randint(1, 90)) % 97:02d}"
    compact = country + check + bban
    if rng.random() < 0.5:
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


def ssn(rng: random.Random, *, area: int | None = None) -> str:
    if area is None:
        area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def itin(rng: random.Random) -> str:
    group = rng.choice([*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)])
    return f"9{rng.randint(0, 99):02d}-{group}-{rng.randint(1, 9999):04d}"


def phone(rng: random.Random) -> str:
    npa, nxx, line = rng.randint(201, 989), rng.randint(201, 999), rng.randint(0, 9999)
    return rng.choice(
        [
            f"+1 ({npa}) {nxx}-{line:04d}",
            f"({npa}) {nxx}-{line:04d}",
            f"{npa}-{nxx}-{line:04d}",
            f"{npa}.{nxx}.{line:04d}",
            f"+1-{npa}-{nxx}-{line:04d}",
            f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
            f"+44 7700 {rng.randint(100000, 999999)}",
            f"+49 30 {rng.randint(1000000, 99999999)}",
            f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}",
            f"+61 2 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"+81 3-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        ]
    )


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}", f"{first}+news"])
    return f"{local}@{rng.choice(DOMAINS)}"


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return ":".join(groups)
    return f"2001:db8:{groups[2]}::{groups[6]}:{groups[7]}"


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


POSITIVE_TEMPLATES = {
    "email": [
        "Please forward the contract to {v} before Friday.",
        "My work address is {v}, but I rarely check it on weekends.",
        "Reply-To: {v}",
        "Could you add {v} to the distribution list for the Q3 report?",
    ],
    "phone": [
        "You can reach me on {v} after 6pm.",
        "Call the front desk at {v} if the door is locked.",
        "Her mobile is {v} — text first, she screens calls.",
        "Contact: {v} (office)",
    ],
    "card": [
        "I paid with card {v} and the charge went through twice.",
        "Please refund the amount to {v}, expiry 09/27.",
        "The customer read out {v} over the phone.",
    ],
    "iban": [
        "Wire the deposit to {v} by the end of the month.",
        "Our bank details: IBAN {v}, reference INV-2291.",
        "The supplier changed their account to {v} last week.",
    ],
    "ssn": [
        "My SSN is {v} and I need to update my W-4.",
        "Social security number: {v}",
        "The applicant's social security no. is {v}.",
        "Employee record (HR-7): {v}, hired 2019.",
    ],
    "itin": [
        "Her ITIN is {v}; she files jointly.",
        "Taxpayer identification {v} was rejected by the portal.",
        "Use {v} on the 1040 instead of an SSN.",
    ],
    "ip_address": [
        "The login came from {v} at 03:12 UTC.",
        "Block {v} in the firewall, it keeps scanning us.",
        "ssh admin@bastion then connect to {v} on port 5432.",
        "Client address {v} exceeded the rate limit.",
    ],
    "person": [
        "Yesterday {v} asked for a copy of the invoice.",
        "Please send the draft to {v} for review.",
        "I met with {v} about the migration plan.",
    ],
}

GENERATORS = {
    "email": email,
    "phone": phone,
    "card": card,
    "iban": iban,
    "ssn": ssn,
    "itin": itin,
    "ip_address": lambda rng: ipv4(rng) if rng.random() < 0.6 else ipv6(rng),
    "person": person,
}


def _negatives(rng: random.Random) -> list[str]:
    ts = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    return [
        f"Order #{rng.randint(100000000, 999999999)} shipped on {ts}.",
        f"Your order number is {rng.randint(100000000, 999999999)}; keep it for returns.",
        f"Tracking: 1Z{rng.randint(10**15, 10**16 - 1)} via UPS.",
        f"Invoice INV-{rng.randint(2019, 2026)}-{rng.randint(10000, 99999)} is overdue.",
        f"The job failed at {ts} with exit code {rng.randint(1, 255)}.",
        f"Upgraded to version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 99)} yesterday.",
        f"Requires python>=3.{rng.randint(8, 13)} and numpy {rng.randint(1, 2)}.{rng.randint(0, 26)}.{rng.randint(0, 9)}.",
        f"Request id {uuid.UUID(int=rng.getrandbits(128))} timed out.",
        f"Commit {rng.getrandbits(160):040x} fixed the flaky test.",
        f"Unix time {rng.randint(1_500_000_000, 1_800_000_000)} is when the backup ran.",
        f"Card ending {rng.randint(1000, 9999)} was declined.",
        f"The test card {bad_card(rng)} should fail the checksum.",
        f"Reference {iban(rng, valid=False)} is not a valid account.",
        # SSN-shaped with an area no SSN has: not personal only because the context says what it is.
        f"Ticket {ssn(rng, area=rng.choice([0, 666, rng.randint(900, 999)]))} from the sample form.",
        f"Total: ${rng.randint(1000, 99999)}.{rng.randint(0, 99):02d} for {rng.randint(2, 40)} seats.",
        f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}",
        f"Meeting at {rng.randint(1, 12)}:{rng.randint(0, 59):02d} in room {rng.randint(100, 999)}.",
        f"Set the icon to logo@{rng.randint(2, 3)}x.png and rebuild.",
        f"Install left-pad@{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)} from the registry.",
        f"MAC address 00:1A:{rng.randint(10, 99)}:3C:4D:{rng.randint(10, 99)} belongs to the printer.",
        f"Use std::vector<int> and call foo::bar() at {rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}.",
        f"The ratio was {rng.randint(1, 9)}.{rng.randint(100, 999)} with p < 0.0{rng.randint(1, 5)}.",
        f"Coordinates {rng.randint(10, 80)}.{rng.randint(1000, 9999)}, -{rng.randint(10, 170)}.{rng.randint(1000, 9999)}",
        f"Zip code {rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}, suite {rng.randint(100, 999)}.",
        f"Build {rng.randint(20200101, 20261231)}.{rng.randint(1, 9)} passed all {rng.randint(100, 9999)} tests.",
        f"Part number {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}-X is out of stock.",
        f"SKU {rng.randint(10**11, 10**12 - 1)} is the blue variant.",
        f"OID 1.3.6.1.4.1.{rng.randint(1000, 99999)}.1 in the MIB.",
    ]


def _variants(rng: random.Random) -> list[tuple[str, str, Callable[[], str]]]:
    def plain_card() -> str:
        return card(rng).replace(" ", "").replace("-", "")

    def e164() -> str:
        return f"+1{rng.randint(201, 989)}{rng.randint(201, 999)}{rng.randint(0, 9999):04d}"

    return [
        ("connect to {v}:8080 and retry", "ip_address", lambda: ipv4(rng)),
        # SSN-shaped, no label, an area the SSA never issued: still treated as an SSN (issue 9).
        ("the form says {v} in box 3", "ssn", lambda: ssn(rng, area=rng.choice([0, 666]))),
        ("curl -g http://[{v}]:443/health", "ip_address", lambda: ipv6(rng)),
        ("IP={v},port=22", "ip_address", lambda: ipv4(rng)),
        ("From: Billing Team <{v}>", "email", lambda: email(rng)),
        ("mailto:{v}?subject=invoice", "email", lambda: email(rng)),
        ("EMAIL: {v}", "email", lambda: email(rng).upper()),
        ("tel:{v}", "phone", e164),
        ('{{"phone": "{v}", "ok": true}}', "phone", e164),
        ('{{"card":"{v}","cvc":"***"}}', "card", plain_card),
        ("card no. {v}.", "card", plain_card),
        ("SSN:{v}", "ssn", lambda: ssn(rng).replace("-", "")),
        ("ssn={v};", "ssn", lambda: ssn(rng)),
        ("iban: {v}", "iban", lambda: iban(rng).lower()),
        ("whatsapp {v}", "phone", lambda: f"+49 151 {rng.randint(10000000, 99999999)}"),
    ]


def build(seed: int = 5, per_entity: int = 60) -> list[Case]:
    """The evaluation set: ``per_entity`` positives per entity type, plus hard negatives."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for entity in ENTITIES:
        templates = POSITIVE_TEMPLATES[entity]
        for i in range(per_entity):
            value = GENERATORS[entity](rng)
            cases.append(Case(templates[i % len(templates)].format(v=value), ((entity, value),)))
    for _ in range(12):
        cases.extend(Case(text, ()) for text in _negatives(rng))
    # The same values in the shapes they take in logs, headers, URLs and JSON.
    for _ in range(4):
        for template, entity, make in _variants(rng):
            value = make()
            cases.append(Case(template.format(v=value), ((entity, value),)))
    # Mixed prose: several entity types in one message.
    for _ in range(40):
        e, p, c = email(rng), phone(rng), card(rng)
        text = f"Hi, this is about order #{rng.randint(10**8, 10**9 - 1)}. Email {e} or call {p}; card {c} was charged."
        cases.append(Case(text, (("email", e), ("phone", p), ("card", c))))
    return cases


Prediction = tuple[str, int, int]  # entity, start, end


def score(cases: list[Case], predict: Callable[[str], list[Prediction]]) -> dict[str, tuple[int, int, int]]:
    """(true positives, false positives, false negatives) per entity; a hit overlaps the labelled value."""
    counts = {e: [0, 0, 0] for e in ENTITIES}
    for case in cases:
        gold = []
        for entity, value in case.labels:
            start = case.text.find(value)
            gold.append((entity, start, start + len(value)))
        matched: set[int] = set()
        for entity, start, end in predict(case.text):
            if entity not in counts:
                continue
            hit = next(
                (
                    i
                    for i, (ge, gs, gend) in enumerate(gold)
                    if ge == entity and gs < end and start < gend and i not in matched
                ),
                None,
            )
            if hit is None:
                counts[entity][1] += 1
            else:
                matched.add(hit)
                counts[entity][0] += 1
        for i, (entity, _, _) in enumerate(gold):
            if i not in matched:
                counts[entity][2] += 1
    return {e: (c[0], c[1], c[2]) for e, c in counts.items()}


def precision_recall(tp: int, fp: int, fn: int) -> tuple[float, float]:
    """Precision and recall (1.0 when there is nothing to find or nothing found)."""
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)
