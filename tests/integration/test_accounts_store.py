"""The accounts' tables on SQLite and on a real PostgreSQL server: the service on the real
repositories, one name once, and an audit the database itself keeps append-only."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callengine.accounts.model import AccountError, LoginRefused
from callengine.accounts.service import Accounts
from callengine.accounts.wiring import stored_accounts
from callengine.db.database import Database

pytestmark = pytest.mark.integration
GOOD = "kopi tubruk pagi hari"


@pytest_asyncio.fixture
async def store(database_url: str) -> AsyncIterator[tuple[Database, Accounts]]:
    db = Database(database_url)
    await db.migrate()
    yield db, stored_accounts(db, timedelta(minutes=30))
    await db.close()


async def test_accounts_sessions_and_tokens_on_the_real_tables(store: tuple[Database, Accounts]) -> None:
    db, accounts = store
    await accounts.add_user("taker5", "calltaker", GOOD, full_name="Siti Aminah", actor="cli:root")
    await accounts.add_user("dmk1", "responder", GOOD, agency="DAMKAR", actor="cli:root")
    with pytest.raises(AccountError, match="exists"):
        await accounts.add_user("taker5", "viewer", GOOD, actor="cli:root")
    assert [(u.name, u.agency) for u in await accounts.users()] == [("dmk1", "DAMKAR"), ("taker5", None)]

    opened = await accounts.login("taker5", GOOD, "10.0.0.7")
    who = await accounts.session(opened.cookie)
    assert who is not None and who.user.full_name == "Siti Aminah" and who.csrf_token == opened.csrf_token
    _, secret = await accounts.create_token("taker5", days=1, actor="cli:root")
    assert (await accounts.bearer(secret)) is not None
    with pytest.raises(LoginRefused):
        await accounts.login("taker5", "wrong password!", "10.0.0.7")

    await accounts.set_disabled("taker5", True, actor="cli:root")
    assert await accounts.session(opened.cookie) is None and await accounts.bearer(secret) is None
    [token] = await accounts.tokens("taker5")
    assert token.revoked_at is not None
    actions = [e.action for e in await accounts.audit_trail()]
    assert actions == ["user.disable", "login.failed", "token.create", "login", "user.add", "user.add"]


async def test_the_audit_refuses_update_and_delete(store: tuple[Database, Accounts]) -> None:
    db, accounts = store
    await accounts.record("admin1", "user.add", "taker5", {"role": "calltaker"}, "10.0.0.9")
    for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin() as conn:
                await conn.execute(text(statement))
    [entry] = await accounts.audit_trail()
    assert (entry.actor, entry.detail, entry.peer) == ("admin1", {"role": "calltaker"}, "10.0.0.9")
