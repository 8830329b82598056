"""The accounts service: people and their roles, logins with throttling, server-side sessions
with an idle timeout, personal API tokens, and the audit of it all.

It imports neither aiohttp nor SQLAlchemy: the stores below are the repositories of db/ in
production and plain fakes in the unit tests. A change and its audit row are one unit of work
(`Stores.begin`), so an account never changes without its trace.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from callengine.accounts import throttle
from callengine.accounts.model import (AGENCY, NAME, ROLES, AccountError, AuditEntry, LoginRefused, NewSession,
                                       Principal, StoredSession, Token, User)
from callengine.accounts.passwords import Passwords, check_policy
from callengine.core.clock import Clock

MAX_SESSION = timedelta(hours=12)        # a shift is 8 h: log in again the next one, whatever the idle timeout
TOUCH_EVERY = timedelta(seconds=60)      # last_seen is written at most this often (idle timeout ±1 min)
TOKEN_DAYS = 90
TOKEN_PREFIX = "ce_"
Tx = Any                                 # a store's unit of work, opaque here


class UserStore(Protocol):
    async def add(self, name: str, full_name: str, role: str, agency: str | None, password_hash: str,
                  at: datetime, conn: Tx = None) -> User | None: ...
    async def credentials(self, name: str) -> tuple[User, str] | None: ...
    async def set_password(self, user_id: int, password_hash: str, conn: Tx = None) -> None: ...
    async def set_disabled(self, user_id: int, disabled: bool, conn: Tx = None) -> None: ...
    async def all(self) -> list[User]: ...


class SessionStore(Protocol):
    async def add(self, key_hash: str, user_id: int, at: datetime, csrf_token: str, peer: str | None,
                  conn: Tx = None) -> None: ...
    async def find(self, key_hash: str) -> StoredSession | None: ...
    async def touch(self, key_hash: str, at: datetime) -> None: ...
    async def revoke(self, key_hash: str, at: datetime, conn: Tx = None) -> None: ...
    async def revoke_user(self, user_id: int, at: datetime, conn: Tx = None, keep: str | None = None) -> int: ...
    async def prune(self, before: datetime) -> int: ...


class TokenStore(Protocol):
    async def add(self, token_hash: str, user_id: int, label: str, at: datetime, expires_at: datetime,
                  conn: Tx = None) -> int: ...
    async def find(self, token_hash: str) -> Token | None: ...
    async def get(self, token_id: int) -> Token | None: ...
    async def touch(self, token_id: int, at: datetime) -> None: ...
    async def revoke(self, token_id: int, at: datetime, conn: Tx = None) -> None: ...
    async def revoke_user(self, user_id: int, at: datetime, conn: Tx = None) -> int: ...
    async def of(self, user_id: int | None) -> list[Token]: ...


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry, conn: Tx = None) -> None: ...
    async def newest(self, limit: int, since: datetime | None = None, actor: str | None = None,
                     targets: Sequence[str] = (), under: Sequence[str] = ()) -> list[AuditEntry]: ...


class FailureStore(Protocol):
    async def add(self, keys: Sequence[str], at: datetime, conn: Tx = None) -> None: ...
    async def since(self, key: str, since: datetime) -> list[datetime]: ...
    async def clear(self, key: str, conn: Tx = None) -> None: ...
    async def prune(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class Stores:
    begin: Callable[[], AbstractAsyncContextManager[Tx]]
    users: UserStore
    sessions: SessionStore
    tokens: TokenStore
    audit: AuditStore
    failures: FailureStore


def digest(secret: str) -> str:
    """What the database keeps of a session id or token: its SHA-256 (they are 256-bit random,
    so a fast hash is enough; a stolen table opens no session)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Accounts:
    def __init__(self, stores: Stores, clock: Clock, passwords: Passwords, idle: timedelta,
                 max_session: timedelta = MAX_SESSION) -> None:
        self.stores, self.clock, self.passwords = stores, clock, passwords
        self.idle, self.max_session = idle, max_session

    # people

    async def add_user(self, name: str, role: str, password: str, *, full_name: str = "",
                       agency: str | None = None, actor: str, peer: str | None = None) -> User:
        _check_account(name, role, agency)
        full_name = " ".join(full_name.split())
        if len(full_name) > 120:
            raise AccountError("bad_name", "the full name must have at most 120 characters")
        check_policy(name, password)
        hashed = await self.passwords.hash(password)
        async with self.stores.begin() as tx:
            user = await self.stores.users.add(name, full_name, role, agency, hashed, self.clock.now(), tx)
            if user is None:
                raise AccountError("exists", f"a user named {name!r} exists already")
            await self._audit(tx, actor, "user.add", name, {"role": role, "agency": agency}, peer)
        return user

    async def set_password(self, name: str, password: str, *, actor: str, peer: str | None = None,
                           keep_session: str | None = None) -> User:
        """A new password; every session of the user ends (but `keep_session`, the one asking)."""
        user = await self.user(name)
        check_policy(name, password)
        hashed = await self.passwords.hash(password)
        async with self.stores.begin() as tx:
            await self.stores.users.set_password(user.id, hashed, tx)
            ended = await self.stores.sessions.revoke_user(user.id, self.clock.now(), tx, keep=keep_session)
            await self._audit(tx, actor, "user.passwd", name, {"sessions_ended": ended}, peer)
        return user

    async def change_own_password(self, who: Principal, current: str, new: str, peer: str | None) -> None:
        found = await self.stores.users.credentials(who.user.name)
        if found is None or not await self.passwords.verify(found[1], current):
            await self.record(who.user.name, "user.passwd.refused", who.user.name, {"reason": "bad_password"}, peer)
            raise AccountError("bad_password", "the current password is not right")
        await self.set_password(who.user.name, new, actor=who.user.name, peer=peer, keep_session=who.session_key)

    async def set_disabled(self, name: str, disabled: bool, *, actor: str, peer: str | None = None) -> User:
        """Disabling ends the user's sessions and revokes their tokens, in the same transaction."""
        user = await self.user(name)
        now = self.clock.now()
        async with self.stores.begin() as tx:
            await self.stores.users.set_disabled(user.id, disabled, tx)
            detail: dict[str, Any] = {}
            if disabled:
                detail["sessions_ended"] = await self.stores.sessions.revoke_user(user.id, now, tx)
                detail["tokens_revoked"] = await self.stores.tokens.revoke_user(user.id, now, tx)
            await self._audit(tx, actor, "user.disable" if disabled else "user.enable", name, detail, peer)
        return user

    async def user(self, name: str) -> User:
        found = await self.stores.users.credentials(name)
        if found is None:
            raise AccountError("no_user", f"no user named {name!r}")
        return found[0]

    async def users(self) -> list[User]:
        return await self.stores.users.all()

    # logins and sessions

    async def login(self, name: str, password: str, peer: str | None) -> NewSession:
        name = name.strip()[:200]
        now = self.clock.now()
        keys = [throttle.account_key(name)] + [k for k in [throttle.address_key(peer)] if k]
        wait = await self._throttled(keys, now)
        if wait:
            await self.record(None, "login.failed", name, {"reason": "throttled", "retry_after_s": wait}, peer)
            raise LoginRefused("throttled", wait)
        found = await self.stores.users.credentials(name) if NAME.match(name) else None
        matches = await self.passwords.verify(found[1] if found else None, password[:1024])
        reason = "unknown_user" if found is None else "bad_password" if not matches else \
            "disabled" if found[0].disabled else None
        if found is None or reason:
            async with self.stores.begin() as tx:
                await self.stores.failures.add(keys, now, tx)
                await self._audit(tx, None, "login.failed", name, {"reason": reason}, peer)
            raise LoginRefused("invalid")
        user, stored = found
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        rehash = await self.passwords.hash(password) if self.passwords.needs_rehash(stored) else None
        async with self.stores.begin() as tx:
            await self.stores.failures.clear(keys[0], tx)
            await self.stores.sessions.add(digest(cookie), user.id, now, csrf, peer, tx)
            if rehash:
                await self.stores.users.set_password(user.id, rehash, tx)
            await self._audit(tx, user.name, "login", user.name, {"role": user.role}, peer)
        return NewSession(user, cookie, csrf)

    async def session(self, cookie: str | None) -> Principal | None:
        """The principal of a session cookie, or None if it is unknown, revoked, idle too long,
        too old, or its user is disabled."""
        if not cookie or len(cookie) > 100:
            return None
        stored = await self.stores.sessions.find(digest(cookie))
        now = self.clock.now()
        if (stored is None or stored.revoked_at is not None or stored.user.disabled
                or now - stored.last_seen_at > self.idle or now - stored.created_at > self.max_session):
            return None
        if now - stored.last_seen_at >= TOUCH_EVERY:
            await self.stores.sessions.touch(stored.key_hash, now)
        return Principal(stored.user, "session", session_key=stored.key_hash, csrf_token=stored.csrf_token)

    async def logout(self, who: Principal, peer: str | None) -> None:
        if who.session_key is None:
            return
        async with self.stores.begin() as tx:
            await self.stores.sessions.revoke(who.session_key, self.clock.now(), tx)
            await self._audit(tx, who.user.name, "logout", who.user.name, {}, peer)

    # personal API tokens

    async def create_token(self, name: str, days: int = TOKEN_DAYS, label: str = "", *, actor: str,
                           peer: str | None = None) -> tuple[Token, str]:
        """The token and its secret, which is shown this once and kept only hashed."""
        if not 1 <= days <= 3650:
            raise AccountError("bad_days", f"{days} days: a token lives 1 to 3650 days")
        user = await self.user(name)
        if user.disabled:
            raise AccountError("disabled", f"user {name!r} is disabled")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        label = " ".join(label.split())[:80]
        async with self.stores.begin() as tx:
            token_id = await self.stores.tokens.add(digest(secret), user.id, label, now, now + timedelta(days=days), tx)
            await self._audit(tx, actor, "token.create", name, {"token": token_id, "days": days, "label": label}, peer)
        return Token(token_id, user, label, now, now + timedelta(days=days), None, None), secret

    async def revoke_token(self, token_id: int, *, actor: str, peer: str | None = None) -> Token:
        token = await self.stores.tokens.get(token_id)
        if token is None:
            raise AccountError("no_token", f"no token {token_id}")
        async with self.stores.begin() as tx:
            await self.stores.tokens.revoke(token_id, self.clock.now(), tx)
            await self._audit(tx, actor, "token.revoke", token.user.name, {"token": token_id}, peer)
        return token

    async def revoke_tokens(self, name: str, *, actor: str, peer: str | None = None) -> int:
        user = await self.user(name)
        async with self.stores.begin() as tx:
            count = await self.stores.tokens.revoke_user(user.id, self.clock.now(), tx)
            await self._audit(tx, actor, "token.revoke", name, {"tokens": count}, peer)
        return count

    async def tokens(self, name: str | None = None) -> list[Token]:
        return await self.stores.tokens.of((await self.user(name)).id if name else None)

    async def bearer(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
            return None
        token = await self.stores.tokens.find(digest(secret))
        now = self.clock.now()
        if token is None or token.revoked_at is not None or token.expires_at <= now or token.user.disabled:
            return None
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            await self.stores.tokens.touch(token.id, now)
        return Principal(token.user, "token", token_id=token.id)

    # the audit

    async def record(self, actor: str | None, action: str, target: str = "", detail: dict[str, Any] | None = None,
                     peer: str | None = None) -> None:
        async with self.stores.begin() as tx:
            await self._audit(tx, actor, action, target, detail or {}, peer)

    async def audit_trail(self, limit: int = 100, since: datetime | None = None, actor: str | None = None,
                          targets: Sequence[str] = (), under: Sequence[str] = ()) -> list[AuditEntry]:
        return await self.stores.audit.newest(limit, since, actor, targets, under)

    async def prune(self) -> None:
        """Forget failures older than any throttle window and sessions past their lifetime."""
        now = self.clock.now()
        await self.stores.failures.prune(now - max(throttle.ACCOUNT.window, throttle.ADDRESS.window))
        await self.stores.sessions.prune(now - self.max_session)

    async def _throttled(self, keys: list[str], now: datetime) -> int:
        waits = []
        for key, limit in zip(keys, (throttle.ACCOUNT, throttle.ADDRESS)):
            wait = throttle.retry_after(await self.stores.failures.since(key, now - limit.window), limit, now)
            if wait:
                waits.append(int(wait.total_seconds() + 0.999))
        return max(waits, default=0)

    async def _audit(self, tx: Tx, actor: str | None, action: str, target: str, detail: dict[str, Any],
                     peer: str | None) -> None:
        entry = AuditEntry(self.clock.now(), actor and actor[:80], action[:40], target[:200], detail,
                           peer and peer[:64])
        await self.stores.audit.add(entry, tx)


def _check_account(name: str, role: str, agency: str | None) -> None:
    if not NAME.match(name):
        raise AccountError("bad_name", f"{name!r} is not a user name: 1 to 40 letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise AccountError("bad_role", f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "responder" and not agency:
        raise AccountError("bad_agency", "a responder belongs to an agency: give its code (e.g. DAMKAR)")
    if role != "responder" and agency:
        raise AccountError("bad_agency", f"only a responder belongs to an agency, not a {role}")
    if agency and not AGENCY.match(agency):
        raise AccountError("bad_agency", f"{agency!r} is not an agency code: 2 to 20 capitals, digits, '-' or '_'")
