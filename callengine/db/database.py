"""The database and its units of work.

`begin()` is one transaction; a change that spans aggregates (a call and its ticket, a status
and its audit row) passes the same connection to each repository, so it commits whole or not
at all. Reads use `connect()`. The schema follows the Alembic revisions in db/migrations/.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class DatabaseError(Exception):
    pass


class Database:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if self.dialect not in _INSERTS:
            raise DatabaseError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def begin(self, conn: AsyncConnection | None = None) -> AsyncIterator[AsyncConnection]:
        """A transaction, or the caller's own if it passes one (then the caller commits)."""
        if conn is not None:
            yield conn
            return
        async with self.engine.begin() as own:
            yield own

    @asynccontextmanager
    async def connect(self, conn: AsyncConnection | None = None) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (or the caller's, inside its transaction)."""
        if conn is not None:
            yield conn
            return
        async with self.engine.connect() as own:
            yield own

    def insert(self, table: type | Table) -> Any:
        """INSERT with this dialect's ON CONFLICT clauses available."""
        return _INSERTS[self.dialect](table)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # any driver error means "not reachable" to /healthz
            log.warning("database unreachable: %s", exc)
            return False

    async def close(self) -> None:
        await self.engine.dispose()


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(connection: object, _record: object) -> None:
    """WAL: readers and the one writer no longer block each other; busy_timeout: wait, don't fail."""
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
