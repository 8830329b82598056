"""The SLA watcher on plain fakes and a moved clock: a missed acceptance escalates to the
agency's heads, then escalate_after later to the supervisor on duty; an assignment accepted in
time escalates nothing; one accepted but diproses late escalates its process stage; a second
round or a new watcher (a restart) on the same store doubles nothing; a reopen re-arms it. The
day's report (met/missed/open/refused) and the supervisor's open list."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callengine.accounts.model import AuditEntry
from callengine.dispatch.model import (ACCEPTED, DONE, FORWARDED, PROCESSING, REFUSED, Agency, Assignment,
                                       DispatchRules, Sla, forwarded, moved)
from callengine.dispatch.sla import (ACCEPT, CONSOLE, EMAIL, PENDING, PROCESS, SENT, Escalation, Notification,
                                     SlaBook, SlaWatcher, missed, outcome, supervisors_on_duty)
from callengine.queueing.roster import Person, Roster, Shift

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)        # 09:00 WITA
WITA = ZoneInfo("Asia/Makassar")
FAST = Sla(timedelta(minutes=1), timedelta(minutes=5))
AFTER = timedelta(minutes=2)
HEADS = ("Kepala Dinas Hendra <kadis@damkar.go.id>", "Kabid Rudi <+6281250012001>")
RULES = DispatchRules({"DAMKAR": Agency("DAMKAR", "Damkar Samarinda", "damkar", ("+62541741113",), HEADS, False,
                                        (time(7, 30), time(16))),
                       "PDAM": Agency("PDAM", "PDAM", "air", ("+62541741222",), (), True, (time(7, 30), time(16)))},
                      {}, {}, {"default": FAST})


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


@dataclass
class Store:
    """The store as the database keeps it: assignments, escalations once per key, deliveries, audit."""
    assignments: dict[int, Assignment] = field(default_factory=dict)
    escalations: list[Escalation] = field(default_factory=list)
    log: list[tuple[int, Notification]] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)

    def put(self, assignment: Assignment) -> Assignment:
        self.assignments[assignment.id] = assignment
        return assignment

    async def overdue(self, now: datetime) -> list[Assignment]:
        return [a for a in self.assignments.values() if missed(a, now)]

    async def raised(self, assignment_ids: list[int]) -> list[Escalation]:
        return [e for e in self.escalations if e.assignment_id in assignment_ids]

    async def escalate(self, escalation: Escalation, notifications: list[Notification],
                       audit: AuditEntry) -> Escalation | None:
        if any(e.key == escalation.key for e in self.escalations):
            return None
        stored = replace(escalation, id=len(self.escalations) + 1)
        self.escalations.append(stored)
        self.log += [(stored.id, n) for n in notifications]
        self.audit.append(audit)
        return stored

    async def dispatched_between(self, start: datetime, end: datetime) -> list[Assignment]:
        return [a for a in self.assignments.values() if start <= a.dispatched_at < end]

    async def waiting_escalations(self) -> list[tuple[Escalation, Assignment]]:
        return [(e, self.assignments[e.assignment_id]) for e in self.escalations
                if self.assignments[e.assignment_id].status in (FORWARDED, ACCEPTED)]

    async def recent_escalations(self, since: datetime) -> list[Escalation]:
        return [e for e in self.escalations if e.raised_at >= since]

    async def deliveries(self, assignment_ids: list[int]) -> list[tuple[int, Notification]]:
        by_escalation = {e.id: e.assignment_id for e in self.escalations}
        return [(by_escalation[e], n) for e, n in self.log if by_escalation[e] in assignment_ids]


def roster(rostered: tuple[str, ...] = ("spv1",)) -> Roster:
    people = {"spv1": Person("spv1", "Supervisor Satu", "supervisor"),
              "spv2": Person("spv2", "Supervisor Dua", "supervisor"),
              "taker1": Person("taker1", "Operator Satu", "calltaker")}
    return Roster(WITA, people, {}, (Shift("pagi", time(7), time(15)), Shift("siang", time(15), time(23)),
                                     Shift("malam", time(23), time(7))), date(2026, 1, 1),
                  ({"pagi": ("taker1", *rostered), "siang": ("taker1",), "malam": ("taker1",)},), {})


def watcher(store: Store, clock: Clock, channels: frozenset[str] = frozenset({CONSOLE})) -> SlaWatcher:
    duty = roster()
    return SlaWatcher(store, RULES, clock, lambda at: supervisors_on_duty(duty, at), AFTER, WITA, channels)


def assignment(store: Store, id_: int = 1, agency: str = "DAMKAR", at: datetime = T0) -> Assignment:
    return store.put(replace(forwarded(10 + id_, f"SMD-20261202-000{id_}", agency, "", "taker1", at, FAST), id=id_))


def levels(store: Store) -> list[tuple[int, str, int]]:
    return [(e.assignment_id, e.stage, e.level) for e in store.escalations]


async def test_a_missed_acceptance_goes_to_the_heads_then_after_the_delay_to_the_supervisor_on_duty() -> None:
    store, clock = Store(), Clock()
    assignment(store)
    watch = watcher(store, clock)
    clock.at = T0 + timedelta(seconds=59)
    assert await watch.round() == [] and store.escalations == []

    clock.at = T0 + timedelta(seconds=65)
    [heads] = await watch.round()
    assert (heads.stage, heads.level, heads.notified, heads.delay_s) == (ACCEPT, 1, HEADS, 5.0)
    assert heads.deadline == T0 + timedelta(minutes=1) and heads.raised_at == clock.at
    assert [(n.channel, n.recipient, n.status, n.sent_at) for _, n in store.log] == [
        (CONSOLE, "agency:DAMKAR", SENT, clock.at)]
    subject, body = store.log[0][1].subject, store.log[0][1].body
    assert "SMD-20261202-0001" in subject and "belum diterima" in subject
    assert "09:01:00 WITA" in body and "terlambat 0 menit 5 detik" in body
    assert store.audit[0].action == "sla.escalation" and store.audit[0].actor == "sla"
    assert store.audit[0].target == "SMD-20261202-0001/DAMKAR" and store.audit[0].detail["level"] == 1

    clock.at = T0 + timedelta(minutes=2, seconds=59)                   # the head still has a second
    assert await watch.round() == []
    clock.at = T0 + timedelta(minutes=3)
    [supervisor] = await watch.round()
    assert (supervisor.stage, supervisor.level, supervisor.notified) == (ACCEPT, 2, ("spv1",))
    assert supervisor.delay_s == 120.0
    assert [(n.channel, n.recipient) for _, n in store.log[1:]] == [(CONSOLE, "user:spv1")]


async def test_accepted_in_time_nothing_then_diproses_late_escalates_the_process_stage() -> None:
    store, clock = Store(), Clock()
    accepted = store.put(moved(assignment(store), ACCEPTED, T0 + timedelta(seconds=40), FAST))
    watch = watcher(store, clock)
    clock.at = T0 + timedelta(minutes=4)
    assert await watch.round() == []
    clock.at = T0 + timedelta(minutes=5, seconds=30)
    assert [(e.stage, e.level) for e in await watch.round()] == [(PROCESS, 1)]
    store.put(moved(accepted, PROCESSING, clock.at, FAST))             # on its way, late: the head was told
    clock.at = T0 + timedelta(minutes=10)
    assert await watch.round() == [] and levels(store) == [(1, PROCESS, 1)]
    assert outcome(store.assignments[1], ACCEPT, clock.at) == "met"
    assert outcome(store.assignments[1], PROCESS, clock.at) == "missed"


async def test_closed_assignments_and_refusals_escalate_nothing() -> None:
    store, clock = Store(), Clock()
    done = moved(moved(moved(assignment(store), ACCEPTED, T0, FAST), PROCESSING, T0, FAST), DONE, T0, FAST)
    store.put(done)
    store.put(moved(assignment(store, 2), REFUSED, T0 + timedelta(seconds=10), FAST))
    clock.at = T0 + timedelta(hours=1)
    assert await watcher(store, clock).round() == [] and store.escalations == []


async def test_a_second_round_or_a_restart_never_doubles_an_escalation() -> None:
    store, clock = Store(), Clock()
    assignment(store)
    clock.at = T0 + timedelta(minutes=10)                  # down over both deadlines: all levels due now
    first = await watcher(store, clock).round()
    assert [(e.stage, e.level) for e in first] == [(ACCEPT, 1), (ACCEPT, 2), (PROCESS, 1), (PROCESS, 2)]
    assert await watcher(store, clock).round() == []               # a new watcher: a restarted console
    clock.at += timedelta(minutes=5)
    assert await watcher(store, clock).round() == [] and len(store.escalations) == 4
    assert len(store.audit) == 4


async def test_a_reopen_re_arms_the_clocks_and_escalates_anew() -> None:
    store, clock = Store(), Clock()
    first = assignment(store)
    clock.at = T0 + timedelta(seconds=70)
    assert len(await watcher(store, clock).round()) == 1
    refused = moved(first, REFUSED, clock.at, FAST)
    store.put(moved(refused, FORWARDED, clock.at + timedelta(seconds=5), FAST))   # reopened
    clock.at += timedelta(seconds=60)
    assert await watcher(store, clock).round() == []                # the new deadline not yet passed
    clock.at += timedelta(seconds=10)
    [again] = await watcher(store, clock).round()
    assert (again.stage, again.level) == (ACCEPT, 1) and again.deadline == store.assignments[1].accept_by


async def test_the_supervisor_on_duty_is_the_shifts_else_every_supervisor() -> None:
    assert supervisors_on_duty(roster(), T0) == ["spv1"]                              # 09:00 WITA: pagi
    assert supervisors_on_duty(roster(), T0 + timedelta(hours=8)) == ["spv1", "spv2"]  # siang: none rostered
    assert supervisors_on_duty(roster(("spv2", "spv1")), T0) == ["spv1", "spv2"]


async def test_nobody_to_name_still_escalates_on_the_console() -> None:
    store, clock = Store(), Clock()
    assignment(store, agency="PDAM")                               # PDAM names no head
    watch = SlaWatcher(store, RULES, clock, lambda at: [], AFTER, WITA)
    clock.at = T0 + timedelta(minutes=3)
    assert [(e.level, e.notified) for e in await watch.round()] == [(1, ()), (2, ())]
    assert [n.recipient for _, n in store.log] == ["agency:PDAM", "role:supervisor"]


async def test_email_rows_wait_for_their_sender_only_when_the_channel_is_configured() -> None:
    store, clock = Store(), Clock()
    assignment(store)
    clock.at = T0 + timedelta(minutes=1)
    await watcher(store, clock, frozenset({CONSOLE, EMAIL})).round()
    assert [(n.channel, n.recipient, n.status, n.sent_at) for _, n in store.log] == [
        (CONSOLE, "agency:DAMKAR", SENT, clock.at), (EMAIL, "kadis@damkar.go.id", PENDING, None)]


async def test_a_failing_store_is_logged_and_the_next_round_tries_again(caplog: pytest.LogCaptureFixture) -> None:
    class Down(Store):
        rounds = 0

        async def overdue(self, now: datetime) -> list[Assignment]:
            self.rounds += 1
            if self.rounds == 1:
                raise OSError("database away")
            return await super().overdue(now)

    store, clock = Down(), Clock()
    assignment(store)
    clock.at = T0 + timedelta(minutes=1)
    task = asyncio.create_task(watcher(store, clock).run(0.001))
    while not store.escalations:
        await asyncio.sleep(0.001)  # wait-ok: the loop's next round
    task.cancel()
    assert store.rounds >= 2 and "SLA round failed: database away" in caplog.text
    assert "SLA missed: SMD-20261202-0001 DAMKAR accept escalated to level 1" in caplog.text


async def test_the_days_report_gives_targets_actual_times_and_each_stage_met_missed_open_or_refused() -> None:
    store, clock = Store(), Clock()
    on_time = store.put(moved(assignment(store, 1), ACCEPTED, T0 + timedelta(seconds=30), FAST))
    store.put(moved(on_time, PROCESSING, T0 + timedelta(minutes=6), FAST))          # on its way late
    assignment(store, 2)                                                            # nobody answers
    store.put(moved(assignment(store, 3), REFUSED, T0 + timedelta(seconds=20), FAST))
    assignment(store, 4, at=T0 + timedelta(minutes=9, seconds=30))                  # just dispatched
    assignment(store, 5, at=T0 - timedelta(hours=9, seconds=1))                     # the day before (WITA)
    clock.at = T0 + timedelta(minutes=10)
    await watcher(store, clock).round()
    report = await SlaBook(store, clock, WITA).day(date(2026, 12, 2))
    rows = {r["id"]: r for r in report["assignments"]}
    assert sorted(rows) == [1, 2, 3, 4]
    assert [(rows[i]["accept"], rows[i]["process"]) for i in (1, 2, 3, 4)] == [
        ("met", "missed"), ("missed", "missed"), ("refused", "refused"), ("open", "open")]
    assert rows[1]["accept_by"] == (T0 + timedelta(minutes=1)).isoformat()
    assert rows[1]["accepted_at"] == (T0 + timedelta(seconds=30)).isoformat() and rows[2]["accepted_at"] is None
    assert [(e["stage"], e["level"]) for e in rows[2]["escalations"]] == [
        ("accept", 1), ("accept", 2), ("process", 1), ("process", 2)]
    assert report["summary"]["accept"] == {"met": 1, "missed": 1, "open": 1, "refused": 1}


async def test_the_open_list_drops_an_escalation_once_its_stage_is_met_and_tickets_show_theirs() -> None:
    store, clock = Store(), Clock()
    first, second = assignment(store, 1), assignment(store, 2)
    clock.at = T0 + timedelta(seconds=90)
    await watcher(store, clock).round()
    book = SlaBook(store, clock, WITA)
    assert [(e["assignment_id"], e["stage"]) for e in await book.escalations(True)] == [(2, ACCEPT), (1, ACCEPT)]
    store.put(moved(first, ACCEPTED, clock.at, FAST))
    assert [e["assignment_id"] for e in await book.escalations(True)] == [2]
    assert len(await book.escalations(False)) == 2

    async def timeline(ticket_id: int) -> list[dict[str, object]]:
        return [{"id": second.id, "agency": "DAMKAR"}]
    [shown] = await book.with_notices(timeline)(12)
    assert [(e["stage"], e["level"], e["ticket_number"]) for e in shown["escalations"]] == [
        (ACCEPT, 1, "SMD-20261202-0002")]
    assert {(d["channel"], d["status"]) for d in shown["deliveries"]} == {("console", "sent")}
