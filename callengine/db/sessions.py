"""How people prove who they are: console sessions, personal API tokens, and the failed logins
the throttle counts. Secrets are kept only as their SHA-256."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.accounts.model import StoredSession, Token
from callengine.db.database import Database
from callengine.db.models import ApiTokenRow, LoginFailureRow, SessionRow, UserRow
from callengine.db.users import USER_COLUMNS, to_user


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, key_hash: str, user_id: int, at: datetime, csrf_token: str, peer: str | None,
                  conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(insert(SessionRow).values(key_hash=key_hash, user_id=user_id, created_at=at,
                                                      last_seen_at=at, csrf_token=csrf_token, peer=peer))

    async def find(self, key_hash: str) -> StoredSession | None:
        query = (select(SessionRow.key_hash, SessionRow.created_at.label("session_created_at"), SessionRow.last_seen_at,
                        SessionRow.csrf_token, SessionRow.revoked_at, *USER_COLUMNS)
                 .join(UserRow, UserRow.id == SessionRow.user_id).where(SessionRow.key_hash == key_hash))
        async with self.db.connect() as c:
            row = (await c.execute(query)).mappings().first()
        if row is None:
            return None
        return StoredSession(row["key_hash"], to_user(row), row["session_created_at"], row["last_seen_at"],
                             row["csrf_token"], row["revoked_at"])

    async def touch(self, key_hash: str, at: datetime) -> None:
        async with self.db.begin() as c:
            await c.execute(update(SessionRow).where(SessionRow.key_hash == key_hash).values(last_seen_at=at))

    async def revoke(self, key_hash: str, at: datetime, conn: AsyncConnection | None = None) -> None:
        statement = (update(SessionRow).where(SessionRow.key_hash == key_hash, SessionRow.revoked_at.is_(None))
                     .values(revoked_at=at))
        async with self.db.begin(conn) as c:
            await c.execute(statement)

    async def revoke_user(self, user_id: int, at: datetime, conn: AsyncConnection | None = None,
                          keep: str | None = None) -> int:
        """End every live session of the user (but `keep`); how many there were."""
        statement = update(SessionRow).where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
        if keep is not None:
            statement = statement.where(SessionRow.key_hash != keep)
        async with self.db.begin(conn) as c:
            return (await c.execute(statement.values(revoked_at=at))).rowcount

    async def prune(self, before: datetime) -> int:
        """Delete the sessions opened before `before` (past any lifetime) and those revoked then."""
        statement = delete(SessionRow).where(or_(SessionRow.created_at < before, SessionRow.revoked_at < before))
        async with self.db.begin() as c:
            return (await c.execute(statement)).rowcount


TOKEN_COLUMNS = (ApiTokenRow.id.label("token_id"), ApiTokenRow.label, ApiTokenRow.created_at.label("token_created_at"),
                 ApiTokenRow.expires_at, ApiTokenRow.last_used_at, ApiTokenRow.revoked_at)


def _to_token(row: Mapping[str, Any]) -> Token:
    return Token(row["token_id"], to_user(row), row["label"], row["token_created_at"], row["expires_at"],
                 row["last_used_at"], row["revoked_at"])


class TokenRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, token_hash: str, user_id: int, label: str, at: datetime, expires_at: datetime,
                  conn: AsyncConnection | None = None) -> int:
        statement = (insert(ApiTokenRow).values(token_hash=token_hash, user_id=user_id, label=label, created_at=at,
                                                expires_at=expires_at).returning(ApiTokenRow.id))
        async with self.db.begin(conn) as c:
            return int((await c.execute(statement)).scalar_one())

    async def find(self, token_hash: str) -> Token | None:
        return await self._one(ApiTokenRow.token_hash == token_hash)

    async def get(self, token_id: int) -> Token | None:
        return await self._one(ApiTokenRow.id == token_id)

    async def touch(self, token_id: int, at: datetime) -> None:
        async with self.db.begin() as c:
            await c.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=at))

    async def revoke(self, token_id: int, at: datetime, conn: AsyncConnection | None = None) -> None:
        statement = (update(ApiTokenRow).where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
                     .values(revoked_at=at))
        async with self.db.begin(conn) as c:
            await c.execute(statement)

    async def revoke_user(self, user_id: int, at: datetime, conn: AsyncConnection | None = None) -> int:
        statement = (update(ApiTokenRow).where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
                     .values(revoked_at=at))
        async with self.db.begin(conn) as c:
            return (await c.execute(statement)).rowcount

    async def of(self, user_id: int | None) -> list[Token]:
        """Every token (of one user), newest first."""
        query = self._query().order_by(ApiTokenRow.id.desc())
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        async with self.db.connect() as c:
            return [_to_token(row) for row in (await c.execute(query)).mappings()]

    async def _one(self, condition: Any) -> Token | None:
        async with self.db.connect() as c:
            row = (await c.execute(self._query().where(condition))).mappings().first()
        return _to_token(row) if row else None

    @staticmethod
    def _query() -> Any:
        return select(*TOKEN_COLUMNS, *USER_COLUMNS).join(UserRow, UserRow.id == ApiTokenRow.user_id)


class LoginFailureRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, keys: Sequence[str], at: datetime, conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(insert(LoginFailureRow), [{"key": key, "at": at} for key in keys])

    async def since(self, key: str, since: datetime) -> list[datetime]:
        query = select(LoginFailureRow.at).where(LoginFailureRow.key == key, LoginFailureRow.at >= since)
        async with self.db.connect() as c:
            return list((await c.execute(query)).scalars())

    async def clear(self, key: str, conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))

    async def prune(self, before: datetime) -> int:
        async with self.db.begin() as c:
            return (await c.execute(delete(LoginFailureRow).where(LoginFailureRow.at < before))).rowcount
