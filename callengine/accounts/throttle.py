"""Login throttling: too many failed logins for one account, or from one address, within a
window, and further attempts wait until the oldest of them leaves the window.

Failures are kept per key (`account:<name>`, `address:<ip>`); an IPv6 address counts by its
/64, what one household or phone is given. Attempts refused while throttled are not counted,
so a person who waits gets in; a correct password clears the account's count (not the
address's: one office behind one address keeps its own budget).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limit:
    failures: int
    window: timedelta


ACCOUNT = Limit(5, timedelta(minutes=15))
ADDRESS = Limit(30, timedelta(minutes=15))


def account_key(name: str) -> str:
    return f"account:{name.lower()[:100]}"


def address_key(peer: str | None) -> str | None:
    if not peer:
        return None
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return f"address:{peer[:100]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"address:{address.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"address:{address}"


def retry_after(failures: Sequence[datetime], limit: Limit, now: datetime) -> timedelta | None:
    """How long until another attempt is allowed, or None if one is allowed now.
    `failures` are the key's failure times (any order; those outside the window are ignored)."""
    recent = sorted(at for at in failures if now - at < limit.window)
    if len(recent) < limit.failures:
        return None
    # the attempt is allowed again once fewer than `failures` remain inside the window
    release = recent[len(recent) - limit.failures] + limit.window
    return max(release - now, timedelta(seconds=1))
