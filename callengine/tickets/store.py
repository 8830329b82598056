"""The ticket store over SQLAlchemy async: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import ColumnElement, Insert, Update, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callengine.calls.record import CallRecord
from callengine.tickets.models import AlertRow, AmlRow, CallRow, PauseRow, TicketRow

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


NEW = "baru"   # a ticket's first status; then diterima, diproses, selesai


class StoreError(Exception):
    pass


@dataclass(frozen=True)
class Ticket:
    id: int
    linkedid: str
    status: str
    category: str | None
    caller: str | None
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


class TicketStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        if self.engine.dialect.name not in _INSERTS:
            raise StoreError(f"unsupported database {self.engine.dialect.name!r}: use sqlite or postgresql")

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

    async def save_call(self, record: CallRecord, now: datetime | None = None) -> Ticket | None:
        """Insert the call record and its new ticket, in one transaction, once: a replay of the
        same Linkedid is a no-op. The new ticket, or None if the call was stored already."""
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        insert = _INSERTS[self.engine.dialect.name]
        statement = insert(CallRow).values(**values).on_conflict_do_nothing(index_elements=["linkedid"])
        created = now or datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            if not (await conn.execute(statement)).rowcount:
                return None
            ticket = {"linkedid": record.linkedid, "status": NEW, "category": record.category,
                      "caller": record.caller, "created_at": created}
            ticket_id = (await conn.execute(insert_row(TicketRow, **ticket).returning(TicketRow.id))).scalar_one()
        return Ticket(id=ticket_id, **ticket)

    async def tickets(self, limit: int = 100) -> list[Ticket]:
        columns = (TicketRow.id, TicketRow.linkedid, TicketRow.status, TicketRow.category, TicketRow.caller,
                   TicketRow.created_at)
        query = select(*columns).order_by(TicketRow.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Ticket(**row) for row in rows]

    async def set_recording_facts(self, linkedid: str, facts: dict[str, object]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(CallRow).where(CallRow.linkedid == linkedid).values(recording_facts=facts))

    async def add_aml(self, number: str | None, channel: str, location: dict[str, Any] | None,
                      raw: dict[str, str], at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert_row(AmlRow, number=number or "", channel=channel, received_at=at,
                                          location=location or {}, raw=raw))

    async def aml_locations(self, number: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        query = (select(AmlRow.location).where(AmlRow.number == number, AmlRow.received_at >= since,
                                               AmlRow.received_at <= until).order_by(AmlRow.id))
        async with self.engine.connect() as conn:
            return [loc for loc in (await conn.execute(query)).scalars() if loc]

    async def call_near(self, caller: str, since: datetime, until: datetime) -> str | None:
        """The caller's latest call that was still going or ended within [since, until]."""
        query = (select(CallRow.linkedid).where(CallRow.caller == caller, CallRow.ended_at >= since,
                                                CallRow.started_at <= until)
                 .order_by(CallRow.started_at.desc()).limit(1))
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def add_location(self, linkedid: str, location: dict[str, Any],
                           rank: Callable[[list[dict[str, Any]]], dict[str, Any] | None]) -> None:
        """One more location for a stored call; `rank` picks the best of them all again."""
        async with self.engine.begin() as conn:
            query = select(CallRow.locations).where(CallRow.linkedid == linkedid)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()    # two AML reports at once must not lose one
            known = (await conn.execute(query)).scalar_one_or_none() or []
            locations = [*known, location]
            await conn.execute(update(CallRow).where(CallRow.linkedid == linkedid)
                               .values(locations=locations, location=rank(locations)))

    async def set_legal_hold(self, linkedid: str, held: bool) -> bool:
        statement = update(TicketRow).where(TicketRow.linkedid == linkedid).values(legal_hold=held)
        async with self.engine.begin() as conn:
            return bool((await conn.execute(statement)).rowcount)

    async def held_recordings(self) -> set[str]:
        """Recordings of calls whose ticket is under legal hold: retention never deletes them."""
        query = (select(CallRow.recording).join(TicketRow, TicketRow.linkedid == CallRow.linkedid)
                 .where(TicketRow.legal_hold.is_(True), CallRow.recording.is_not(None)))
        async with self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def unprocessed_recordings(self, since: datetime, limit: int = 1000) -> list[tuple[str, str]]:
        """(linkedid, recording) of recent calls whose recording has no facts yet (engine stopped first)."""
        query = (select(CallRow.linkedid, CallRow.recording)
                 .where(CallRow.recording.is_not(None), CallRow.recording_facts.is_(None), CallRow.ended_at >= since)
                 .order_by(CallRow.ended_at).limit(limit))
        async with self.engine.connect() as conn:
            return [(row[0], row[1]) for row in await conn.execute(query)]

    async def known_linkedids(self, candidates: list[str]) -> set[str]:
        known: set[str] = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(candidates), 500):   # bounded IN lists
                query = select(CallRow.linkedid).where(CallRow.linkedid.in_(candidates[start:start + 500]))
                known.update((await conn.execute(query)).scalars())
        return known

    async def mark_prank(self, linkedid: str, prank: bool = True) -> bool:
        """A call taker's verdict on a call; False if no such call."""
        statement = update(CallRow).where(CallRow.linkedid == linkedid).values(prank=prank)
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def prank_calls(self, caller: str, since: datetime) -> int:
        query = (select(func.count()).select_from(CallRow)
                 .where(CallRow.caller == caller, CallRow.prank.is_(True), CallRow.started_at >= since))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def add_alert(self, at: datetime, kind: str, message: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert_row(AlertRow, at=at, kind=kind, message=message[:500]))

    async def alerts(self, since: datetime) -> list[dict[str, object]]:
        query = select(AlertRow.at, AlertRow.kind, AlertRow.message).where(AlertRow.at >= since).order_by(AlertRow.at)
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def start_pause(self, account: str, reason: str, by: str, at: datetime) -> None:
        """Close any open pause of the account (a new reason replaces the old) and open this one."""
        async with self.engine.begin() as conn:
            await conn.execute(_close_pause(account, by, at))
            await conn.execute(insert_row(PauseRow, account=account, reason=reason, paused_by=by, started_at=at))

    async def end_pause(self, account: str, by: str, at: datetime) -> bool:
        async with self.engine.begin() as conn:
            return bool((await conn.execute(_close_pause(account, by, at))).rowcount)

    async def pauses(self, account: str) -> list[dict[str, object]]:
        columns = (PauseRow.account, PauseRow.reason, PauseRow.paused_by, PauseRow.started_at, PauseRow.ended_at,
                   PauseRow.ended_by)
        query = select(*columns).where(PauseRow.account == account).order_by(PauseRow.id)
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def calls_between(self, start: datetime, end: datetime) -> list[CallRecord]:
        query = select(CallRow).where(*_started_within(start, end)).order_by(CallRow.started_at)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_to_record(row) for row in rows]

    async def list_calls(self, limit: int = 100, since: datetime | None = None,
                         until: datetime | None = None) -> list[CallRecord]:
        """Newest first, started in [since, until); limit 0 for all of them."""
        query = select(CallRow).where(*_started_within(since, until)).order_by(CallRow.started_at.desc())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit) if limit else query)).mappings().all()
        return [_to_record(row) for row in rows]

    async def count_calls(self, since: datetime | None = None, until: datetime | None = None) -> int:
        query = select(func.count()).select_from(CallRow).where(*_started_within(since, until))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

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


def insert_row(table: type, **values: object) -> Insert:
    return insert(table).values(**values)


def _close_pause(account: str, by: str, at: datetime) -> Update:
    return (update(PauseRow).where(PauseRow.account == account, PauseRow.ended_at.is_(None))
            .values(ended_at=at, ended_by=by))


def _started_within(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions on a call's start: since inclusive, until exclusive, either open."""
    return ([CallRow.started_at >= since] if since else []) + ([CallRow.started_at < until] if until else [])


def _to_record(row: object) -> CallRecord:
    return CallRecord(**{f.name: row[f.name] for f in fields(CallRecord)})  # type: ignore[index]
