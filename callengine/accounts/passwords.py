"""Passwords: the policy a new one must meet, and argon2id hashing (argon2-cffi).

The policy follows NIST SP 800-63B rather than composition rules: long enough, not absurdly
long (argon2 hashes whatever it is given), not the user's own name, not one of the passwords
every guesser tries first.
"""
from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callengine.accounts.model import AccountError

MIN_LENGTH = 10
MAX_LENGTH = 128
HASHING_AT_ONCE = 2    # argon2id takes 64 MiB a hash: a burst of logins must not take the host's memory
COMMON = frozenset({
    "password", "password1", "password123", "passw0rd", "qwerty", "qwertyuiop", "1234567890", "0123456789",
    "12345678910", "1122334455", "iloveyou", "letmein", "welcome", "admin", "administrator", "changeme",
    "rahasia", "rahasia123", "katasandi", "indonesia", "indonesia1", "merdeka", "merdeka45", "bismillah",
    "sayangku", "callengine", "darurat112", "112112112112", "samarinda", "jakarta123",
})


def check_policy(name: str, password: str) -> None:
    """Raise AccountError with the reason a person can act on."""
    if len(password) < MIN_LENGTH:
        raise AccountError("weak_password", f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise AccountError("weak_password", f"the password must have at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if name and name.lower() in lowered:
        raise AccountError("weak_password", "the password must not contain the user name")
    if len(set(password)) < 4:
        raise AccountError("weak_password", "the password must not repeat so few characters")
    if lowered in COMMON or lowered.rstrip("0123456789!.") in COMMON:
        raise AccountError("weak_password", "the password is one of the most common ones: choose another")


class Passwords:
    """argon2id hashes, computed off the event loop and a few at a time."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()   # argon2id, RFC 9106's low-memory profile
        self._slots = asyncio.Semaphore(HASHING_AT_ONCE)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if the password matches. With no stored hash (no such user) a hash is checked
        all the same, so the answer takes as long and tells nothing."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            stored = self._dummy
        async with self._slots:
            try:
                return await asyncio.to_thread(self.hasher.verify, stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        """True when the hash was made with weaker parameters than today's."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
