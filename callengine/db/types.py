"""Column types every table shares."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, kept and compared in UTC on every backend.

    PostgreSQL's timestamptz converts by itself, but SQLite keeps DateTime(timezone=True) as
    the wall-clock text of whatever offset it was given, offset dropped: a local (WITA) bound
    compared with UTC text is hours off. So every value is converted to UTC before it reaches
    the database, as a bound value or a bound of a comparison, and comes back aware UTC. The
    SQLite text is the same naive UTC text DateTime(timezone=True) wrote: old rows read as before.
    """
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store: which time zone is it in?")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:           # SQLite: the text is UTC without its offset
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
