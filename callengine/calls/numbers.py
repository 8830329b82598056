"""Caller numbers to E.164 (+62…) as Indonesian networks deliver them."""
from __future__ import annotations

import re

COUNTRY = "62"
_WITHHELD = {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"}
_JUNK = re.compile(r"[\s().-]")


def is_withheld(raw: str | None) -> bool:
    """Anonymous, restricted or empty caller ids: the caller hid the number (or the network did)."""
    return raw is None or _JUNK.sub("", raw.strip()).lower() in _WITHHELD


def to_e164(raw: str | None, country: str = COUNTRY) -> str | None:
    """'0812…', '62812…', '+62812…', '0541…' (with trunk prefix) → '+62…'; withheld or garbage → None."""
    if raw is None:
        return None
    number = _JUNK.sub("", raw.strip())
    if number.lower() in _WITHHELD:
        return None
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith(country) and len(number) > 9:
        digits = number
    elif number.startswith("0"):
        digits = country + number[1:]
    else:
        return None
    # str.isdigit() also passes '٠١٢' and '²': a number is ASCII digits or nothing
    if not (digits.isascii() and digits.isdigit()) or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits
