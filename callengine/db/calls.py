"""Call records."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, bindparam, cast, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from callengine.calls.record import CallRecord
from callengine.db.database import Database
from callengine.db.models import CallRow, RatingRow, TicketRow
from callengine.db.scores import score_filters
from callengine.qa.search import CallSearch

Rank = Callable[[list[dict[str, Any]]], dict[str, Any] | None]


class CallRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        # built once, its values bound at execution: one per call, and SQLAlchemy's building of
        # a statement per call (coercing each of 30 values) cost more than SQLite's insert
        self._insert = db.insert(CallRow.__table__).on_conflict_do_nothing(index_elements=["linkedid"])
        self._prank_count = (select(func.count()).select_from(CallRow)
                             .where(CallRow.caller == bindparam("caller"), CallRow.prank.is_(True),
                                    CallRow.started_at >= bindparam("since")))
        self._set_facts = update(CallRow.__table__).where(CallRow.linkedid == bindparam("call"))

    async def add(self, record: CallRecord, conn: AsyncConnection | None = None) -> bool:
        """Insert the record once: False if its Linkedid is stored already."""
        values = {f.name: getattr(record, f.name) for f in fields(record)}
        async with self.db.begin(conn) as c:
            return bool((await c.execute(self._insert, values)).rowcount)

    async def set_recording_facts(self, linkedid: str, facts: dict[str, object]) -> None:
        async with self.db.begin() as c:
            await c.execute(self._set_facts, {"call": linkedid, "recording_facts": facts})

    async def call_near(self, caller: str, since: datetime, until: datetime) -> str | None:
        """The caller's latest call that was still going or ended within [since, until]."""
        query = (select(CallRow.linkedid).where(CallRow.caller == caller, CallRow.ended_at >= since,
                                                CallRow.started_at <= until)
                 .order_by(CallRow.started_at.desc()).limit(1))
        async with self.db.connect() as c:
            return (await c.execute(query)).scalar_one_or_none()

    async def add_location(self, linkedid: str, location: dict[str, Any], rank: Rank) -> None:
        """One more location for a stored call; `rank` picks the best of them all again."""
        async with self.db.begin() as c:
            query = select(CallRow.locations).where(CallRow.linkedid == linkedid)
            if self.db.dialect == "postgresql":
                query = query.with_for_update()    # two AML reports at once must not lose one
            known = (await c.execute(query)).scalar_one_or_none() or []
            locations = [*known, location]
            await c.execute(update(CallRow).where(CallRow.linkedid == linkedid)
                            .values(locations=locations, location=rank(locations)))

    async def held_recordings(self) -> set[str]:
        """Recordings of calls whose ticket is under legal hold: retention never deletes them."""
        query = (select(CallRow.recording).join(TicketRow, TicketRow.linkedid == CallRow.linkedid)
                 .where(TicketRow.legal_hold.is_(True), CallRow.recording.is_not(None)))
        async with self.db.connect() as c:
            return set((await c.execute(query)).scalars())

    async def unprocessed_recordings(self, since: datetime, limit: int = 1000) -> list[tuple[str, str]]:
        """(linkedid, recording) of recent calls whose recording has no facts yet (engine stopped first)."""
        query = (select(CallRow.linkedid, CallRow.recording)
                 .where(CallRow.recording.is_not(None), CallRow.recording_facts.is_(None), CallRow.ended_at >= since)
                 .order_by(CallRow.ended_at).limit(limit))
        async with self.db.connect() as c:
            return [(row[0], row[1]) for row in await c.execute(query)]

    async def known_linkedids(self, candidates: list[str]) -> set[str]:
        known: set[str] = set()
        async with self.db.connect() as c:
            for start in range(0, len(candidates), 500):   # bounded IN lists
                query = select(CallRow.linkedid).where(CallRow.linkedid.in_(candidates[start:start + 500]))
                known.update((await c.execute(query)).scalars())
        return known

    async def mark_prank(self, linkedid: str, prank: bool = True, conn: AsyncConnection | None = None) -> bool:
        """A call taker's verdict on a call; False if no such call."""
        statement = update(CallRow).where(CallRow.linkedid == linkedid).values(prank=prank)
        async with self.db.begin(conn) as c:
            return bool((await c.execute(statement)).rowcount)

    async def prank_calls(self, caller: str, since: datetime) -> int:
        async with self.db.connect() as c:
            return int((await c.execute(self._prank_count, {"caller": caller, "since": since})).scalar_one())

    async def between(self, start: datetime, end: datetime) -> list[CallRecord]:
        """Started in [start, end), oldest first, for figures: without each call's recording facts
        (its waveform), the list of every location received and its rings and holds, which no
        figure reads; the first two were most of the reading (benchmarks/report_build.py: a month
        4.0 s and 784 MB with them, 0.8 s and 191 MB without)."""
        query = select(*_FIGURE_COLUMNS).where(*_started_within(start, end)).order_by(CallRow.started_at)
        async with self.db.connect() as c:
            return [CallRecord(**row) for row in (await c.execute(query)).mappings().all()]

    async def newest(self, limit: int = 100, since: datetime | None = None,
                     until: datetime | None = None) -> list[CallRecord]:
        """Newest first, started in [since, until); limit 0 for all of them."""
        query = select(CallRow).where(*_started_within(since, until)).order_by(CallRow.started_at.desc())
        async with self.db.connect() as c:
            rows = (await c.execute(query.limit(limit) if limit else query)).mappings().all()
        return [_to_record(row) for row in rows]

    async def get(self, linkedid: str) -> CallRecord | None:
        async with self.db.connect() as c:
            row = (await c.execute(select(CallRow).where(CallRow.linkedid == linkedid))).mappings().first()
        return _to_record(row) if row else None

    async def unanswered(self, since: datetime, limit: int = 200) -> list[CallRecord]:
        """Calls no call taker answered (abandoned, ended in the IVR, failed), newest first."""
        query = (select(CallRow).where(CallRow.started_at >= since, CallRow.disposition != "answered")
                 .order_by(CallRow.started_at.desc()).limit(limit))
        async with self.db.connect() as c:
            return [_to_record(row) for row in (await c.execute(query)).mappings().all()]

    async def answered_since(self, callers: list[str], since: datetime) -> dict[str, datetime]:
        """Each of these numbers' latest answered call since `since` (a call back, or the caller again)."""
        if not callers:
            return {}
        query = (select(CallRow.caller, func.max(CallRow.started_at))
                 .where(CallRow.caller.in_(callers), CallRow.disposition == "answered", CallRow.started_at >= since)
                 .group_by(CallRow.caller))
        async with self.db.connect() as c:
            return {row[0]: row[1] for row in await c.execute(query)}

    async def search(self, wanted: CallSearch) -> tuple[list[tuple[CallRecord, str | None]], int]:
        """A page of the calls `wanted` asks for, each with its ticket's number, newest (or
        longest) first, and how many there are in all."""
        conditions = [*_started_within(wanted.since, wanted.until), *(
            condition for value, condition in (
                (wanted.caller, CallRow.caller == wanted.caller), (wanted.agent, CallRow.agent == wanted.agent),
                (wanted.category, CallRow.category == wanted.category),
                (wanted.disposition, CallRow.disposition == wanted.disposition),
                (wanted.ticket, TicketRow.number == wanted.ticket),
                (wanted.classification, TicketRow.classification == wanted.classification),
                (wanted.rating, TicketRow.id.in_(select(RatingRow.ticket_id).where(RatingRow.score == wanted.rating))),
                (wanted.min_talk_s is not None, CallRow.talk_s >= (wanted.min_talk_s or 0))) if value)]
        for flag, column in ((wanted.prank, CallRow.prank), (wanted.ghost, CallRow.ghost)):
            if flag is not None:
                conditions.append(column.is_(flag))
        if wanted.located is not None:     # a record without a location holds JSON null, or SQL NULL
            nowhere = or_(CallRow.location.is_(None), cast(CallRow.location, Text) == "null")
            conditions.append(not_(nowhere) if wanted.located else nowhere)
        conditions += score_filters(wanted)
        joined = select(CallRow, TicketRow.number.label("ticket_number")).outerjoin(
            TicketRow, TicketRow.linkedid == CallRow.linkedid).where(*conditions)
        column = getattr(CallRow, wanted.sort)
        # started_at is never NULL: its plain order reads ix_calls_started_at_linkedid backwards;
        # the others may be, and PostgreSQL would put NULLs first
        order = column.desc() if wanted.sort == "started_at" else column.desc().nulls_last()
        page = joined.order_by(order, CallRow.linkedid.desc()).limit(wanted.limit).offset(wanted.offset)
        # a ticket's number is unique: without a condition on the ticket, count the calls alone
        # (SQLite would look up every call's ticket to count them: 140-200 ms over 600,000)
        on_ticket = wanted.ticket or wanted.classification or wanted.rating is not None
        total = (select(func.count()).select_from(joined.subquery()) if on_ticket
                 else select(func.count()).select_from(CallRow).where(*conditions))
        async with self.db.connect() as c:
            rows = (await c.execute(page)).mappings().all()
            count = int((await c.execute(total)).scalar_one())
        return [(_to_record(row), row["ticket_number"]) for row in rows], count

    async def count(self, since: datetime | None = None, until: datetime | None = None) -> int:
        query = select(func.count()).select_from(CallRow).where(*_started_within(since, until))
        async with self.db.connect() as c:
            return int((await c.execute(query)).scalar_one())


_FIGURE_COLUMNS = [c for c in CallRow.__table__.columns if c.name not in ("recording_facts", "locations", "moments")]


def _started_within(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions on a call's start: since inclusive, until exclusive, either open."""
    return ([CallRow.started_at >= since] if since else []) + ([CallRow.started_at < until] if until else [])


def _to_record(row: object) -> CallRecord:
    return CallRecord(**{f.name: row[f.name] for f in fields(CallRecord)})  # type: ignore[index]
