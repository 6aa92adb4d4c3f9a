"""Checksums and validity rules for personal-data formats (pure functions of a string).

Luhn for payment cards (with issuer prefixes and lengths), ISO 13616 mod-97 for IBANs
(with each country's length), the SSA's rules for US SSNs and the IRS's for ITINs,
``ipaddress`` for IPv6, and the phone-number shapes of :mod:`vaultgate.detect.pii_rules`.
"""

from __future__ import annotations

import ipaddress

# ISO 13616 registry: country code -> IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def digits_of(text: str) -> str:
    """Only the ASCII digits of ``text``."""
    return "".join(c for c in text if "0" <= c <= "9")


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check over a string of digits."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _card_brand_ok(number: str) -> bool:
    """Issuer prefix and length agree (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro)."""
    length = len(number)
    two, four = int(number[:2]), int(number[:4])
    if number[0] == "4":
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16
    if two in (34, 37):
        return length == 15
    if number.startswith("6011") or two == 65 or 644 <= int(number[:3]) <= 649:
        return 16 <= length <= 19
    if 3528 <= four <= 3589:
        return 16 <= length <= 19
    if 300 <= int(number[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= length <= 19
    if two == 62:
        return 16 <= length <= 19
    if two in (50, 56, 57, 58, 67, 63):
        return 12 <= length <= 19
    return False


def card_ok(text: str) -> bool:
    """A payment card number: 12-19 digits, a known issuer prefix, Luhn-valid, not one repeated digit."""
    number = digits_of(text)
    if not 12 <= len(number) <= 19 or len(set(number)) < 2:
        return False
    return _card_brand_ok(number) and luhn_ok(number)


def iban_ok(text: str) -> bool:
    """An IBAN: a known country, that country's length, and the ISO 7064 mod-97 check."""
    compact = "".join(text.split()).upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    total = 0
    for char in rearranged:
        if "0" <= char <= "9":
            total = (total * 10 + ord(char) - 48) % 97
        elif "A" <= char <= "Z":
            total = (total * 100 + ord(char) - 55) % 97
        else:
            return False
    return total == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN validity: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def itin_ok(area: str, group: str, serial: str) -> bool:
    """US ITIN validity: area 9xx, group 50-65, 70-88, 90-92 or 94-99."""
    g = int(group)
    return area[0] == "9" and (50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99)


def ipv6_ok(text: str) -> bool:
    """A full IPv6 address (not just hex words and colons, such as ``a::b`` in code)."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    if text.count(":") < 2:
        return False
    # Compressed forms with few groups look like code (``dead::beef``): want a digit and 3 groups,
    # unless it is the loopback address or carries an IPv4 tail.
    groups = [g for g in text.split(":") if g]
    return bool(
        address == ipaddress.IPv6Address("::1") or "." in text or (len(groups) >= 3 and any(c.isdigit() for c in text))
    )


def nanp_ok(digits: str) -> bool:
    """A North American number (10 digits, or 11 starting with 1): area and exchange start 2-9."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        return False
    return digits[0] >= "2" and digits[3] >= "2" and digits[1:3] != "11" and len(set(digits)) > 2
