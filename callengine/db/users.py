"""Users: the console's accounts."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.accounts.model import User
from callengine.db.database import Database
from callengine.db.models import UserRow

USER_COLUMNS = (UserRow.id, UserRow.name, UserRow.full_name, UserRow.role, UserRow.agency, UserRow.disabled,
                UserRow.created_at)


def to_user(row: Mapping[str, Any]) -> User:
    return User(row["id"], row["name"], row["full_name"], row["role"], row["agency"], bool(row["disabled"]),
                row["created_at"])


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, name: str, full_name: str, role: str, agency: str | None, password_hash: str,
                  at: datetime, conn: AsyncConnection | None = None) -> User | None:
        """The new user; None if the name is taken."""
        statement = (self.db.insert(UserRow)
                     .values(name=name, full_name=full_name, role=role, agency=agency, password_hash=password_hash,
                             disabled=False, created_at=at)
                     .on_conflict_do_nothing(index_elements=["name"]).returning(*USER_COLUMNS))
        async with self.db.begin(conn) as c:
            row = (await c.execute(statement)).mappings().first()
        return to_user(row) if row else None

    async def credentials(self, name: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        query = select(*USER_COLUMNS, UserRow.password_hash).where(UserRow.name == name)
        async with self.db.connect() as c:
            row = (await c.execute(query)).mappings().first()
        return (to_user(row), row["password_hash"]) if row else None

    async def set_password(self, user_id: int, password_hash: str, conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash))

    async def set_disabled(self, user_id: int, disabled: bool, conn: AsyncConnection | None = None) -> None:
        async with self.db.begin(conn) as c:
            await c.execute(update(UserRow).where(UserRow.id == user_id).values(disabled=disabled))

    async def all(self) -> list[User]:
        async with self.db.connect() as c:
            return [to_user(row) for row in (await c.execute(select(*USER_COLUMNS).order_by(UserRow.name))).mappings()]
