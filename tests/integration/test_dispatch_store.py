"""Dispatch in the store, on SQLite and on a real PostgreSQL server: assignments with their SLA
deadlines and timeline, a move written only from the status it was read in, one assignment
per agency and ticket, and a dispatch that fails half-way leaving nothing behind."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from callengine.dispatch.model import (ACCEPTED, DONE, FORWARDED, PROCESSING, Actor, Agency, AssignmentEvent, Conflict,
                                       DispatchRules, Sla, forwarded, moved)
from callengine.dispatch.service import Dispatcher, DispatchStores
from callengine.tickets.model import TicketNumbers
from callengine.tickets.records import CallRecords
from test_store import record, stored

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
WITA = ZoneInfo("Asia/Makassar")
FAST = Sla(timedelta(minutes=1), timedelta(minutes=5))
RULES = DispatchRules({code: Agency(code, code, "damkar", ("+62541741113",), (), False, (time(7, 30), time(16)))
                       for code in ("DAMKAR", "PDAM")}, {}, {}, {"default": FAST})


class Clock:
    at = T0

    def now(self) -> datetime:
        return self.at


async def ticket_in(store: Database, linkedid: str = "1795.1") -> tuple[int, str]:
    ticket = await CallRecords(store, TicketNumbers("SMD", WITA)).save(record(linkedid), T0)
    assert ticket is not None and ticket.number is not None
    return ticket.id, ticket.number


async def test_an_assignment_is_kept_with_its_deadlines_and_moves_only_from_its_status(database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket_id, number = await ticket_in(store)
        repo = AssignmentRepository(store)
        at = T0.astimezone(WITA)                               # given in WITA, kept and read back in UTC
        made = await repo.add(forwarded(ticket_id, number, "DAMKAR", "api besar", "taker1", at, FAST))
        other = await repo.add(forwarded(ticket_id, number, "PDAM", "", "taker1", at, FAST))
        assert made.id and other.id > made.id
        read = await repo.get(made.id)
        assert read == made and read is not None and read.accept_by == T0 + timedelta(minutes=1)
        assert read.ticket_number == number and read.dispatched_at.tzinfo == timezone.utc
        accepted = moved(made, ACCEPTED, T0 + timedelta(seconds=40), FAST)
        assert await repo.move(accepted, FORWARDED)
        assert not await repo.move(moved(made, ACCEPTED, T0, FAST), FORWARDED)   # read before the first move
        assert (await repo.get(made.id)) == accepted
        assert [a.agency for a in await repo.of_ticket(ticket_id)] == ["DAMKAR", "PDAM"]
        assert [a.agency for a in await repo.find()] == ["PDAM", "DAMKAR"]
        assert [a.agency for a in await repo.find(ACCEPTED)] == ["DAMKAR"]
        assert [a.agency for a in await repo.find(FORWARDED, "DAMKAR")] == []
        assert await repo.get(9999) is None
        with pytest.raises(Conflict, match="dispatched to DAMKAR meanwhile"):   # one per agency and ticket: 409
            await repo.add(forwarded(ticket_id, number, "DAMKAR", "", "spv1", at, FAST))
    finally:
        await store.close()


async def test_the_timeline_is_in_order_with_who_and_from_where(database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket_id, number = await ticket_in(store)
        repo = AssignmentRepository(store)
        made = await repo.add(forwarded(ticket_id, number, "DAMKAR", "", "taker1", T0, FAST))
        for minutes, before, after in ((2, ACCEPTED, PROCESSING), (0, None, FORWARDED), (1, FORWARDED, ACCEPTED)):
            await repo.add_event(AssignmentEvent(made.id, T0 + timedelta(minutes=minutes), "dmk1", before, after,
                                                 "", "10.1.0.7", "Android"))
        events = await repo.events_of([made.id])
        assert [(e.from_status, e.to_status) for e in events] == [
            (None, FORWARDED), (FORWARDED, ACCEPTED), (ACCEPTED, PROCESSING)]
        assert events[0].device == "Android" and events[0].peer == "10.1.0.7" and events[0].at == T0
        assert await repo.events_of([]) == []
    finally:
        await store.close()


async def test_the_service_commits_each_change_whole_with_its_audit_and_the_tickets_status(
        database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket_id, number = await ticket_in(store)
        tickets, audit = TicketRepository(store), AuditRepository(store)
        clock = Clock()
        dispatcher = Dispatcher(DispatchStores(store.begin, AssignmentRepository(store), tickets, audit),
                                RULES, clock)
        taker, responder = Actor("taker1", "calltaker", None, "10.0.0.5", "Firefox"), Actor(
            "dmk1", "responder", "DAMKAR", "10.1.0.7", "Android")
        damkar, pdam = await dispatcher.dispatch(number, ["DAMKAR", "PDAM"], "", taker)
        for status in (ACCEPTED, PROCESSING, DONE):
            await dispatcher.change(damkar.id, status, "", responder)
        assert (await tickets.by_number(number)).status == FORWARDED  # type: ignore[union-attr]
        await dispatcher.change(pdam.id, ACCEPTED, "lewat radio", taker)
        assert (await tickets.by_number(number)).status == ACCEPTED  # type: ignore[union-attr]
        [first, second] = await dispatcher.timeline(ticket_id)
        assert [e["to_status"] for e in first["events"]] == [FORWARDED, ACCEPTED, PROCESSING, DONE]
        assert second["events"][-1]["note"] == "lewat radio" and second["events"][-1]["actor"] == "taker1"
        trail = [(e.action, e.target) for e in await audit.newest(10)]
        assert ("dispatch.send", number) in trail and trail.count(("assignment.status", f"{number}/DAMKAR")) == 3

        class Broken(AuditRepository):       # the audit row fails: the change must not stay without it
            async def add(self, entry: object, conn: object = None) -> None:
                raise RuntimeError("audit down")
        broken = Dispatcher(DispatchStores(store.begin, AssignmentRepository(store), tickets, Broken(store)),
                            RULES, clock)
        with pytest.raises(RuntimeError):
            await broken.change(pdam.id, PROCESSING, "", taker)
        assert (await AssignmentRepository(store).get(pdam.id)).status == ACCEPTED  # type: ignore[union-attr]
        assert len(await AssignmentRepository(store).events_of([pdam.id])) == 2
    finally:
        await store.close()
