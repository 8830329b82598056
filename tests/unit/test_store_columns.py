"""Every moment in the ticket store goes through UtcDateTime: stored and compared as UTC."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from callengine.db.models import Base
from callengine.db.types import UtcDateTime

WITA = timezone(timedelta(hours=8))


def test_no_datetime_column_bypasses_the_utc_type() -> None:
    moments = [(table.name, column.name, column.type) for table in Base.metadata.tables.values()
               for column in table.columns if isinstance(column.type, (DateTime, UtcDateTime))]
    assert moments and all(isinstance(kind, UtcDateTime) for _, _, kind in moments), moments


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_converts_in_and_out(dialect: object) -> None:
    kind = UtcDateTime()
    stored = kind.process_bind_param(datetime(2026, 11, 24, 0, 0, tzinfo=WITA), dialect)  # type: ignore[arg-type]
    assert stored == datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc) and stored.tzinfo is timezone.utc
    for read in (datetime(2026, 11, 23, 16, 0), datetime(2026, 11, 24, 0, 0, tzinfo=WITA)):
        back = kind.process_result_value(read, dialect)  # type: ignore[arg-type]
        assert back == stored and back.tzinfo is timezone.utc
    with pytest.raises(ValueError, match="naive datetime"):
        kind.process_bind_param(datetime(2026, 11, 24, 0, 0), dialect)  # type: ignore[arg-type]
