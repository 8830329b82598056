"""The SLA in the store, on SQLite and on a real PostgreSQL server: the overdue assignments read
back (deadlines given in WITA, compared in UTC), each escalation kept once with its delivery
log and audit row in one transaction (a second watcher, as after a restart, doubles nothing),
the day's report and the open list read back."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from callengine.db.audit import AuditRepository
from callengine.db.escalations import SlaRepository
from callengine.dispatch.model import ACCEPTED, forwarded, moved
from callengine.dispatch.sla import ACCEPT, CONSOLE, PROCESS, SENT, SlaBook, SlaWatcher
from test_dispatch_store import FAST, RULES, T0, WITA, Clock, ticket_in
from test_store import stored

pytestmark = pytest.mark.integration
AFTER = timedelta(minutes=2)


async def test_escalations_are_kept_once_with_their_deliveries_and_audit(database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket_id, number = await ticket_in(store)
        repo, clock = SlaRepository(store), Clock()
        at = T0.astimezone(WITA)
        late = await repo.add(forwarded(ticket_id, number, "DAMKAR", "", "taker1", at, FAST))
        on_time = await repo.add(forwarded(ticket_id, number, "PDAM", "", "taker1", at, FAST))
        assert await repo.move(moved(on_time, ACCEPTED, T0 + timedelta(seconds=30), FAST), "diteruskan")

        assert await repo.overdue(T0 + timedelta(seconds=59)) == []
        assert [a.id for a in await repo.overdue((T0 + timedelta(minutes=1)).astimezone(WITA))] == [late.id]
        assert [a.id for a in await repo.overdue(T0 + timedelta(minutes=5))] == [late.id, on_time.id]

        clock.at = T0 + timedelta(minutes=3)
        watch = SlaWatcher(repo, RULES, clock, lambda at: ["spv1"], AFTER, WITA)
        made = await watch.round()
        assert [(e.assignment_id, e.stage, e.level) for e in made] == [(late.id, ACCEPT, 1), (late.id, ACCEPT, 2)]
        assert await SlaWatcher(repo, RULES, clock, lambda at: ["spv1"], AFTER, WITA).round() == []
        again = await repo.escalate(made[0], [], (await AuditRepository(store).newest(1))[0])
        assert again is None                                              # the unique key refuses a double

        raised = await repo.raised([late.id, on_time.id])
        assert [(e.id, e.level, e.notified, e.ticket_number, e.agency) for e in raised] == [
            (made[0].id, 1, (), number, "DAMKAR"), (made[1].id, 2, ("spv1",), number, "DAMKAR")]
        assert raised[0].deadline == T0 + timedelta(minutes=1) and raised[0].raised_at == clock.at
        assert raised[0].delay_s == 120.0
        log = await repo.notifications_of([e.id for e in made])
        assert [(i, n.channel, n.recipient, n.status, n.sent_at) for i, n in log] == [
            (made[0].id, CONSOLE, "agency:DAMKAR", SENT, clock.at), (made[1].id, CONSOLE, "user:spv1", SENT, clock.at)]
        trail = await AuditRepository(store).newest(10)
        assert [(e.actor, e.action, e.detail["level"]) for e in trail if e.action == "sla.escalation"] == [
            ("sla", "sla.escalation", 2), ("sla", "sla.escalation", 1)]

        clock.at = T0 + timedelta(minutes=8)                                # PDAM on its way late too
        assert [(e.assignment_id, e.stage, e.level) for e in await watch.round()] == [
            (late.id, PROCESS, 1), (late.id, PROCESS, 2), (on_time.id, PROCESS, 1), (on_time.id, PROCESS, 2)]
    finally:
        await store.close()


async def test_the_days_report_and_the_open_list_read_back(database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket_id, number = await ticket_in(store)
        repo, clock = SlaRepository(store), Clock()
        damkar = await repo.add(forwarded(ticket_id, number, "DAMKAR", "", "taker1", T0, FAST))
        pdam = await repo.add(forwarded(ticket_id, number, "PDAM", "", "taker1", T0, FAST))
        clock.at = T0 + timedelta(seconds=90)
        await SlaWatcher(repo, RULES, clock, lambda at: [], AFTER, WITA).round()
        accepted = moved(pdam, ACCEPTED, clock.at, FAST)
        assert await repo.move(accepted, "diteruskan")
        book = SlaBook(repo, clock, WITA)

        report = await book.day(date(2026, 12, 2))                         # 09:00 WITA
        rows = {r["agency"]: r for r in report["assignments"]}
        assert (rows["DAMKAR"]["accept"], rows["PDAM"]["accept"]) == ("missed", "missed")
        assert rows["PDAM"]["accepted_at"] == accepted.accepted_at.isoformat()   # type: ignore[union-attr]
        assert [e["level"] for e in rows["DAMKAR"]["escalations"]] == [1]
        assert (await book.day(date(2026, 12, 1)))["assignments"] == []

        assert [e["agency"] for e in await book.escalations(True)] == ["DAMKAR"]   # PDAM's stage is met
        assert sorted(e["agency"] for e in await book.escalations(False, T0)) == ["DAMKAR", "PDAM"]
        assert await repo.dispatched_between(T0 + timedelta(seconds=1), T0 + timedelta(hours=1)) == []
        assert [a.id for a in await repo.dispatched_between(T0, T0 + timedelta(seconds=1))] == [damkar.id, pdam.id]
    finally:
        await store.close()
