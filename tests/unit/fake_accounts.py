"""Plain in-memory stores for the accounts service, a clock the test moves, and argon2id with
cheap parameters: the service's decisions tested without a database or a slow hash."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher

from callengine.accounts.model import AuditEntry, StoredSession, Token, User
from callengine.accounts.passwords import Passwords
from callengine.accounts.service import Accounts, Stores

T0 = datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)


@dataclass
class MovingClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class Memory:
    """Every table as a dict or list; `begin` is a no-op unit of work that counts its uses."""
    users: dict[int, tuple[User, str]] = field(default_factory=dict)
    sessions: dict[str, StoredSession] = field(default_factory=dict)
    tokens: dict[int, tuple[Token, str]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    failures: list[tuple[str, datetime]] = field(default_factory=list)
    transactions: int = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        self.transactions += 1
        yield None

    def user_by_id(self, user_id: int) -> User:
        return self.users[user_id][0]


class FakeUsers:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, name: str, full_name: str, role: str, agency: str | None, password_hash: str,
                  at: datetime, conn: Any = None) -> User | None:
        if any(u.name == name for u, _ in self.m.users.values()):
            return None
        user = User(len(self.m.users) + 1, name, full_name, role, agency, False, at)
        self.m.users[user.id] = (user, password_hash)
        return user

    async def credentials(self, name: str) -> tuple[User, str] | None:
        return next((found for found in self.m.users.values() if found[0].name == name), None)

    async def set_password(self, user_id: int, password_hash: str, conn: Any = None) -> None:
        self.m.users[user_id] = (self.m.users[user_id][0], password_hash)

    async def set_disabled(self, user_id: int, disabled: bool, conn: Any = None) -> None:
        user, hashed = self.m.users[user_id]
        self.m.users[user_id] = (replace(user, disabled=disabled), hashed)

    async def all(self) -> list[User]:
        return sorted((u for u, _ in self.m.users.values()), key=lambda u: u.name)


class FakeSessions:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, key_hash: str, user_id: int, at: datetime, csrf_token: str, peer: str | None,
                  conn: Any = None) -> None:
        self.m.sessions[key_hash] = StoredSession(key_hash, self.m.user_by_id(user_id), at, at, csrf_token, None)

    async def find(self, key_hash: str) -> StoredSession | None:
        found = self.m.sessions.get(key_hash)
        return replace(found, user=self.m.user_by_id(found.user.id)) if found else None   # the user as stored now

    async def touch(self, key_hash: str, at: datetime) -> None:
        self.m.sessions[key_hash] = replace(self.m.sessions[key_hash], last_seen_at=at)

    async def revoke(self, key_hash: str, at: datetime, conn: Any = None) -> None:
        self.m.sessions[key_hash] = replace(self.m.sessions[key_hash], revoked_at=at)

    async def revoke_user(self, user_id: int, at: datetime, conn: Any = None, keep: str | None = None) -> int:
        live = [s for s in self.m.sessions.values()
                if s.user.id == user_id and s.revoked_at is None and s.key_hash != keep]
        for session in live:
            self.m.sessions[session.key_hash] = replace(session, revoked_at=at)
        return len(live)

    async def prune(self, before: datetime) -> int:
        old = [k for k, s in self.m.sessions.items() if s.created_at < before]
        for key in old:
            del self.m.sessions[key]
        return len(old)


class FakeTokens:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, token_hash: str, user_id: int, label: str, at: datetime, expires_at: datetime,
                  conn: Any = None) -> int:
        token_id = len(self.m.tokens) + 1
        self.m.tokens[token_id] = (Token(token_id, self.m.user_by_id(user_id), label, at, expires_at, None, None),
                                   token_hash)
        return token_id

    async def find(self, token_hash: str) -> Token | None:
        found = next((t.id for t, h in self.m.tokens.values() if h == token_hash), None)
        return await self.get(found) if found is not None else None

    async def get(self, token_id: int) -> Token | None:
        found = self.m.tokens.get(token_id)
        return replace(found[0], user=self.m.user_by_id(found[0].user.id)) if found else None

    async def touch(self, token_id: int, at: datetime) -> None:
        token, hashed = self.m.tokens[token_id]
        self.m.tokens[token_id] = (replace(token, last_used_at=at), hashed)

    async def revoke(self, token_id: int, at: datetime, conn: Any = None) -> None:
        token, hashed = self.m.tokens[token_id]
        self.m.tokens[token_id] = (replace(token, revoked_at=token.revoked_at or at), hashed)

    async def revoke_user(self, user_id: int, at: datetime, conn: Any = None) -> int:
        live = [t for t, _ in self.m.tokens.values() if t.user.id == user_id and t.revoked_at is None]
        for token in live:
            await self.revoke(token.id, at)
        return len(live)

    async def of(self, user_id: int | None) -> list[Token]:
        return [t for t, _ in reversed(self.m.tokens.values()) if user_id is None or t.user.id == user_id]


class FakeAudit:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, entry: AuditEntry, conn: Any = None) -> None:
        self.m.audit.append(entry)

    async def newest(self, limit: int, since: datetime | None = None, actor: str | None = None,
                     targets: Sequence[str] = (), under: Sequence[str] = ()) -> list[AuditEntry]:
        def wanted(e: AuditEntry) -> bool:
            about = not (targets or under) or e.target in targets or any(e.target.startswith(f"{u}/") for u in under)
            return (since is None or e.at >= since) and (actor is None or e.actor == actor) and about
        return [e for e in reversed(self.m.audit) if wanted(e)][:limit]


class FakeFailures:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, keys: Sequence[str], at: datetime, conn: Any = None) -> None:
        self.m.failures.extend((key, at) for key in keys)

    async def since(self, key: str, since: datetime) -> list[datetime]:
        return [at for k, at in self.m.failures if k == key and at >= since]

    async def clear(self, key: str, conn: Any = None) -> None:
        self.m.failures = [(k, at) for k, at in self.m.failures if k != key]

    async def prune(self, before: datetime) -> int:
        kept = [(k, at) for k, at in self.m.failures if at >= before]
        pruned, self.m.failures = len(self.m.failures) - len(kept), kept
        return pruned


def cheap_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def fake_accounts(clock: MovingClock | None = None, idle: timedelta = timedelta(minutes=30)) -> tuple[Accounts, Memory]:
    m = Memory()
    stores = Stores(begin=m.begin, users=FakeUsers(m), sessions=FakeSessions(m), tokens=FakeTokens(m),
                    audit=FakeAudit(m), failures=FakeFailures(m))
    return Accounts(stores, clock or MovingClock(), cheap_passwords(), idle), m
