"""Expansion of example templates into concrete strings, at test time.

The repository never holds a literal secret-shaped string (scanners of users' clones would
rightly complain); rule examples and the labelled corpus are templates such as
``"sk-proj-{b64url:74}T3BlbkFJ{b64url:74}"`` expanded here with a seeded generator.

Placeholders: ``{b62:N}`` base62, ``{b64url:N}`` base62 plus ``-`` and ``_``,
``{b64:N}`` standard base64 alphabet, ``{hex:N}``/``{HEX:N}`` hex, ``{B32:N}`` RFC 4648
base32, ``{upnum:N}`` uppercase letters and digits, ``{digits:N}``, ``{vgk}``/``{vga}``/
``{vgt}``/``{vgs}`` checksum-valid vaultgate tokens, ``{vgk_bad}`` one with a wrong checksum,
``{pem:KIND}`` a private-key block (KIND such as ``RSA`` or ``OPENSSH``, ``-`` for none).
"""

from __future__ import annotations

import random
import re
import string

from vaultgate.keys.tokens import BASE62, RANDOM_LENGTH, checksum

_ALPHABETS = {
    "b62": BASE62,
    "b64url": BASE62 + "-_",
    "b64": string.ascii_letters + string.digits + "+/",
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "B32": string.ascii_uppercase + "234567",
    "upnum": string.ascii_uppercase + string.digits,
    "digits": string.digits,
}
_PLACEHOLDER = re.compile(r"\{(b62|b64url|b64|hex|HEX|B32|upnum|digits|vgk|vga|vgt|vgs|vgk_bad|pem)(?::([^}]*))?\}")


def random_string(rng: random.Random, alphabet: str, length: int) -> str:
    """``length`` characters drawn from ``alphabet`` with ``rng``."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def vaultgate_token(rng: random.Random, prefix: str, *, valid: bool = True) -> str:
    """A vaultgate token with a correct (or deliberately wrong) checksum."""
    random_part = random_string(rng, BASE62, RANDOM_LENGTH)
    check = checksum(random_part)
    if not valid:
        check = check[:-1] + ("0" if check[-1] != "0" else "1")
    return prefix + random_part + check


def private_key_block(rng: random.Random, kind: str) -> str:
    """A syntactically plausible PEM private-key block (random body, not a real key)."""
    label = "PRIVATE" + " KEY"
    if kind and kind != "-":
        label = f"{kind} {label}"
    body = random_string(rng, _ALPHABETS["b64"], 64 * 12)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    dashes = "-" * 5
    return "\n".join([f"{dashes}BEGIN {label}{dashes}", *lines, f"{dashes}END {label}{dashes}"])


def expand(template: str, rng: random.Random) -> str:
    """``template`` with every placeholder replaced by freshly generated text."""

    def one(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name in _ALPHABETS:
            return random_string(rng, _ALPHABETS[name], int(arg or "32"))
        if name == "pem":
            return private_key_block(rng, arg or "-")
        if name == "vgk_bad":
            return vaultgate_token(rng, "vgk_", valid=False)
        return vaultgate_token(rng, name + "_")

    return _PLACEHOLDER.sub(one, template)
