"""The database setting: common spellings read as the asyncio URL the store needs, the rest refused."""
from pathlib import Path

import pytest

from callengine.core.settings import database_url

RUNTIME = Path("/srv/112/runtime")


@pytest.mark.parametrize("raw,url,noted", [
    ("sqlite", "sqlite+aiosqlite:////srv/112/runtime/callengine.db", False),
    ("sqlite:///data/112.db", "sqlite+aiosqlite:///data/112.db", True),
    ("postgres://ce:pw@db/callengine", "postgresql+asyncpg://ce:pw@db/callengine", True),
    ("PostgreSQL://ce@db:5433/callengine", "postgresql+asyncpg://ce@db:5433/callengine", True),
    ("postgresql+asyncpg://ce:p/w@db/callengine", "postgresql+asyncpg://ce:p/w@db/callengine", False),
])
def test_accepted_spellings(raw: str, url: str, noted: bool) -> None:
    got, note = database_url(raw, RUNTIME)
    assert got == url and bool(note) == noted
    assert note is None or note.endswith(f"is read as {url.partition('://')[0]}://")


@pytest.mark.parametrize("raw,said", [
    ("mysql+aiomysql://ce@db/callengine", "mysql+aiomysql:// is not a database callengine supports"),
    ("oracle://ce@db", "oracle:// is not a database"),
    ("sqlite+pysqlite:///x.db", "does not run on asyncio: use sqlite+aiosqlite://"),
    ("postgresql+psycopg://ce@db/x", "does not run on asyncio: use postgresql+asyncpg://"),
    ("postgres://ce:secret@db:port/x", "postgres:// URL cannot be read (bad port)"),
    ("db.example", "'db.example' is neither 'sqlite' nor a SQLAlchemy URL"),
])
def test_refused_with_the_reason(raw: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        database_url(raw, RUNTIME)
    assert said in str(caught.value) and "secret" not in str(caught.value)
