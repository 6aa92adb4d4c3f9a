"""The personal-data recognisers for validated formats, as data: one :class:`PiiRule` each.

A rule is a precompiled expression, a cheap prefilter (a character the text must contain),
and a check that turns a regex hit into a span of an entity type, or rejects it. Checks use
the checksums and validity rules of :mod:`vaultgate.detect.pii_validators` and a little
context: words before a number say what it is ("SSN", "phone", "order", "version").
Order matters: an earlier rule wins an overlap (an IBAN's digits are not also a phone).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from vaultgate.detect import pii_validators as v


class Entity(enum.Enum):
    """A kind of personal data; the value is the policy and API name."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    SSN = "ssn"
    ITIN = "itin"
    IP_ADDRESS = "ip_address"
    PERSON = "person"


Span = tuple[Entity, int, int]


def _re(pattern: str) -> re.Pattern[str]:
    # ASCII: the formats are ASCII, and ASCII classes are checked several times faster.
    return re.compile(pattern, re.ASCII)


Check = Callable[[re.Match[str], str], Span | None]


@dataclass(frozen=True, slots=True)
class PiiRule:
    """One recogniser: ``pattern`` finds candidates, ``check`` accepts (and may trim) or rejects them.

    ``hint``, when given, is a cheap expression the text must contain for the rule to run;
    with ``near_hint`` the rule only runs within that many characters of each hint match.
    ``words``, when given, are lowercase literals of which the lowercased text must hold one.
    A rule with ``min_digits`` is numeric: it runs only inside the text's runs of digits and
    separators (found once per text by the engine) that hold at least that many digits and
    pass ``run_test``, when given.
    """

    name: str
    entities: tuple[Entity, ...]
    pattern: re.Pattern[str]
    check: Check
    min_digits: int = 0
    hint: re.Pattern[str] | None = None
    near_hint: int = 0
    words: tuple[str, ...] = ()
    run_test: Callable[[str], bool] | None = None


def _before(text: str, start: int, width: int = 48) -> str:
    return text[max(0, start - width) : start].lower()


# One search finds either label; the group says which.
_TAX_LABEL = _re(
    r"\b(?:(?P<itin>itin|taxpayer|tax id|tax identification|tin)\b"
    r"|ssn|ss#|ss no|social security|social-security|soc\.? sec)"
)
_NOT_PERSONAL = _re(
    r"(?:\b(?:order|invoice|ticket|tracking|ref|reference|account|acct|po|sku|id|no\.|number|case|build|serial"
    r"|part|item|batch|lot|job|run|transaction|txn|confirmation|booking|shipment|zip|isbn)|#)(?:\s+(?:is|was|of))?\W{0,4}$"
)
# What names an SSN-shaped AAA-GG-SSSS as something else: a kind of record, not just "number" or "id".
_OTHER_RECORD = _re(
    r"\b(?:order|invoice|ticket|tracking|ref|reference|po|sku|case|build|serial|part|item|batch|lot|job|run"
    r"|transaction|txn|confirmation|booking|shipment|zip|isbn|version)\b(?:\s*(?:number|no\.?|#|id))?"
    r"(?:\s+(?:is|was|of))?\W{0,4}$"
)
_PHONE_LABEL = _re(r"\b(?:phone|tel|telephone|call|calling|mobile|cell|fax|whatsapp|sms|text me|reach me|ring)\b")
_VERSION_LABEL = _re(r"\b(?:version|ver\.?|release|build|firmware|v|python|node|oid|snmp)\W{0,3}$")
_FILE_TLDS = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "js", "ts", "css", "json", "py", "md", "txt", "html", "pdf", "zip"}
)


_LOCAL_PART = _re(r"[A-Za-z0-9][A-Za-z0-9._%+-]*$")
_DOMAIN = _re(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-])")
_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _email(match: re.Match[str], text: str) -> Span | None:
    # Found from its "@" (a fast literal search), then grown to the left and to the right.
    at = match.start()
    local = _LOCAL_PART.search(text, max(0, at - 64), at)
    if local is None or (local.start() > 0 and text[local.start() - 1] in _LOCAL_CHARS):
        return None
    domain = _DOMAIN.match(text, at + 1)
    if domain is None or domain.group(1).lower() in _FILE_TLDS:
        return None  # no domain, or icon@2x.png (a Retina asset name)
    return Entity.EMAIL, local.start(), domain.end()


def _iban(match: re.Match[str], text: str) -> Span | None:
    value = match.group()
    # The expression is greedy: a following word of four letters or digits may have been taken in.
    while True:
        if v.iban_ok(value):
            return Entity.IBAN, match.start(), match.start() + len(value)
        cut = value.rfind(" ")
        if cut <= 4:
            return None
        value = value[:cut]


def _card(match: re.Match[str], text: str) -> Span | None:
    return (Entity.CARD, match.start(), match.end()) if v.card_ok(match.group()) else None


def _ssn(match: re.Match[str], text: str) -> Span | None:
    area, group, serial = match.group("a"), match.group("g"), match.group("s")
    before = _before(text, match.start())
    label = _TAX_LABEL.search(before)
    if label is not None:  # labelled: sensitive whatever its area
        itin = label.group("itin") is not None and area[0] == "9"
        return (Entity.ITIN if itin else Entity.SSN), match.start(), match.end()
    valid_itin, valid_ssn = v.itin_ok(area, group, serial), v.ssn_ok(area, group, serial)
    if _PHONE_LABEL.search(before):
        return None
    if match.group("sep"):
        # AAA-GG-SSSS is an SSN whatever its area (masking a look-alike costs little, a leak a
        # lot), unless the context says it is something else: an order, ticket or part number.
        if not (valid_itin or valid_ssn) and _OTHER_RECORD.search(before):
            return None
        return (Entity.ITIN if valid_itin else Entity.SSN), match.start(), match.end()
    if not (valid_itin or valid_ssn) or _NOT_PERSONAL.search(before):
        return None  # nine bare digits: an SSN only when valid, and not an order, invoice or tracking number
    return (Entity.ITIN if valid_itin else Entity.SSN), match.start(), match.end()


def _phone_international(match: re.Match[str], text: str) -> Span | None:
    value = match.group()
    digits = v.digits_of(value[2:] if value.startswith("00") else value)
    if not 8 <= len(digits) <= 15:
        return None
    if value.startswith(("+1", "001")) and not v.nanp_ok(digits[-10:] if len(digits) >= 10 else digits):
        return None
    return Entity.PHONE, match.start(), match.end()


def _phone_nanp(match: re.Match[str], text: str) -> Span | None:
    if not v.nanp_ok(v.digits_of(match.group())):
        return None
    return Entity.PHONE, match.start(), match.end()


def _phone_labelled(match: re.Match[str], text: str) -> Span | None:
    digits = v.digits_of(match.group())
    if not 7 <= len(digits) <= 15 or not _PHONE_LABEL.search(_before(text, match.start(), 40)):
        return None
    return Entity.PHONE, match.start(), match.end()


def _ipv4(match: re.Match[str], text: str) -> Span | None:
    if _VERSION_LABEL.search(_before(text, match.start(), 16)):
        return None
    return Entity.IP_ADDRESS, match.start(), match.end()


def _ipv6(match: re.Match[str], text: str) -> Span | None:
    value = match.group()
    # Every IPv6 address has "::" or seven colons; times such as 14:22:01 have neither.
    if ("::" not in value and value.count(":") != 7) or not v.ipv6_ok(value):
        return None
    return Entity.IP_ADDRESS, match.start(), match.end()


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_END = r"(?![\w\-]|[.,]\d)"

# Where numeric values can be: runs of digits and separators, seven characters or more.
NUMERIC_RUN = _re(r"[0-9(+][0-9 ().+/-]{6,}")

RULES: tuple[PiiRule, ...] = (
    PiiRule("email", (Entity.EMAIL,), _re("@"), _email),
    PiiRule(
        "iban",
        (Entity.IBAN,),
        _re(r"(?<![\w-])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?!\w)"),
        _iban,
        hint=_re(r"[A-Z]{2}\d\d"),
        near_hint=48,
    ),
    PiiRule(
        "iban-labelled",  # lower-case IBANs count only next to the word
        (Entity.IBAN,),
        re.compile(r"(?<![\w-])[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,3})?(?!\w)", re.ASCII | re.I),
        _iban,
        hint=re.compile(r"\biban\b", re.ASCII | re.I),
        near_hint=64,
    ),
    PiiRule("card", (Entity.CARD,), _re(r"(?<![\w\-.+/])\d(?:[ -]?\d){11,18}" + _END), _card, 12),
    PiiRule(
        "ssn-itin",
        (Entity.SSN, Entity.ITIN),
        _re(r"(?<![\w\-.+/$])(?P<a>\d{3})(?P<sep>[- ]?)(?P<g>\d{2})(?P=sep)(?P<s>\d{4})" + _END),
        _ssn,
        9,
    ),
    PiiRule(
        "ipv6",
        (Entity.IP_ADDRESS,),
        _re(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|::?)(?:[0-9A-Fa-f]{0,4}:){1,7}"
            r"(?:" + _OCTET + r"(?:\." + _OCTET + r"){3}|[0-9A-Fa-f]{1,4})?(?![\w:])"
        ),
        _ipv6,
        hint=_re(r":[0-9A-Fa-f]{0,4}:"),
        near_hint=48,
    ),
    PiiRule(
        "ipv4",
        (Entity.IP_ADDRESS,),
        _re(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?!\w|\.\d)"),
        _ipv4,
        4,
        run_test=lambda run: run.count(".") >= 3,
    ),
    PiiRule(
        "phone-international",
        (Entity.PHONE,),
        _re(r"(?<![\w+])(?:\+|00)[1-9]\d{0,3}(?:[ .\-]?\(?\d{1,5}\)?){1,6}(?!\w|[.,]\d)"),
        _phone_international,
        8,
        run_test=lambda run: "+" in run or "00" in run,
    ),
    PiiRule(
        "phone-nanp",
        (Entity.PHONE,),
        _re(r"(?<![\w\-.+/])(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}" + _END),
        _phone_nanp,
        10,
    ),
    PiiRule(
        "phone-labelled",
        (Entity.PHONE,),
        _re(r"(?<![\w\-.+/])\(?\d{2,5}\)?(?:[ \-]?\d{2,4}){1,4}" + _END),
        _phone_labelled,
        7,
        words=("phone", "tel", "call", "mobile", "cell", "fax", "whatsapp", "sms", "text me", "ring", "reach me"),
    ),
)
