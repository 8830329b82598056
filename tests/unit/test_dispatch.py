"""Dispatch on plain data and plain fakes: every legal and illegal move of an assignment, the
ticket's status from its assignments, SLA deadlines from the config, the rules' proposal with
the kecamatan's nearest posts, who may move what, and one unit of work per change."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest

from callengine.accounts.model import AuditEntry
from callengine.dispatch.model import (ACCEPTED, DONE, FORWARDED, MOVES, PROCESSING, REFUSED, STATUSES, Actor,
                                       Agency, Assignment, AssignmentEvent, BadRequest, Conflict, DispatchRules,
                                       IllegalMove, NotFound, Sla, forwarded, moved, ticket_status)
from callengine.dispatch.service import Dispatcher, DispatchStores, NotAllowed
from callengine.tickets.model import NEW, Ticket

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
FAST, SLOW = Sla(timedelta(minutes=1), timedelta(minutes=5)), Sla(timedelta(minutes=5), timedelta(minutes=30))


def agency(code: str) -> Agency:
    return Agency(code, code.title(), "damkar", ("+62541741113",), (), False, (time(7, 30), time(16)))


RULES = DispatchRules(
    {code: agency(code) for code in ("DAMKAR", "DAMKAR_SBR", "PDAM", "BPBD", "RSUD", "POLRES", "DISHUB")},
    {"kebakaran": {None: ("DAMKAR", "PDAM"), "Kebakaran lahan/hutan": ("DAMKAR", "BPBD", "PDAM")},
     "ambulans": {None: ("RSUD",), "Kecelakaan lalu lintas": ("RSUD", "POLRES", "DISHUB")},
     "lainnya": {"Lainnya": ("DISHUB",)}},
    {"Palaran": {"DAMKAR": "DAMKAR_SBR"}},
    {"kebakaran": FAST, "default": SLOW})


def test_the_rules_propose_the_incident_types_list_else_the_categorys() -> None:
    assert RULES.propose("kebakaran", "Kebakaran rumah/permukiman", None) == ("DAMKAR", "PDAM")
    assert RULES.propose("kebakaran", "Kebakaran lahan/hutan", "Samarinda Ulu") == ("DAMKAR", "BPBD", "PDAM")
    assert RULES.propose("ambulans", "Kecelakaan lalu lintas", None) == ("RSUD", "POLRES", "DISHUB")
    assert RULES.propose("ambulans", None, None) == ("RSUD",)
    assert RULES.propose("kriminal", "Pencurian/perampokan", None) == ()        # no rule: the taker chooses
    assert RULES.propose("lainnya", "Permintaan informasi", None) == ()         # a category without `all`


def test_in_a_kecamatan_the_nearest_post_replaces_its_agency() -> None:
    assert RULES.propose("kebakaran", "Kebakaran lahan/hutan", "Palaran") == ("DAMKAR_SBR", "BPBD", "PDAM")
    assert RULES.propose("ambulans", "Kecelakaan lalu lintas", "Palaran") == ("RSUD", "POLRES", "DISHUB")


def test_a_ticket_without_a_category_matches_its_incident_type_in_any_category() -> None:
    assert RULES.propose(None, "Kecelakaan lalu lintas", None) == ("RSUD", "POLRES", "DISHUB")
    assert RULES.propose(None, None, None) == ()


def test_sla_targets_by_category_with_the_default_for_the_others() -> None:
    assert RULES.sla_for("kebakaran") == FAST and RULES.sla_for("bencana") == SLOW and RULES.sla_for(None) == SLOW
    made = forwarded(1, "SMD-20261202-0001", "DAMKAR", "", "taker1", T0, FAST)
    assert (made.status, made.accept_by, made.process_by) == (FORWARDED, T0 + timedelta(minutes=1),
                                                              T0 + timedelta(minutes=5))


LEGAL = [(before, after) for before, targets in MOVES.items() for after in targets]
ILLEGAL = [(before, after) for before in STATUSES for after in STATUSES if (before, after) not in LEGAL]


def at_status(status: str) -> Assignment:
    return replace(forwarded(1, "SMD-20261202-0001", "DAMKAR", "", "taker1", T0, FAST), id=7, status=status)


@pytest.mark.parametrize("before, after", LEGAL)
def test_every_legal_move_stamps_its_time(before: str, after: str) -> None:
    later = T0 + timedelta(minutes=3)
    done = moved(at_status(before), after, later, SLOW)
    assert done.status == after and done.updated_at == later
    stamp = {ACCEPTED: done.accepted_at, PROCESSING: done.processing_at, DONE: done.closed_at,
             REFUSED: done.closed_at, FORWARDED: done.dispatched_at}[after]
    assert stamp == later


@pytest.mark.parametrize("before, after", ILLEGAL)
def test_every_illegal_move_is_refused_naming_both_statuses(before: str, after: str) -> None:
    with pytest.raises(IllegalMove) as refused:
        moved(at_status(before), after, T0, FAST)
    assert f"is {before}: it cannot become {after}" in str(refused.value) and "DAMKAR" in str(refused.value)


def test_LEGAL_covers_the_lifecycle() -> None:
    assert set(LEGAL) == {(FORWARDED, ACCEPTED), (ACCEPTED, PROCESSING), (PROCESSING, DONE), (FORWARDED, REFUSED),
                          (ACCEPTED, REFUSED), (PROCESSING, REFUSED), (DONE, FORWARDED), (REFUSED, FORWARDED)}


def test_a_reopen_rearms_the_sla_clocks_from_now_and_clears_the_stamps() -> None:
    closed = moved(moved(moved(at_status(FORWARDED), ACCEPTED, T0, FAST), PROCESSING, T0, FAST), DONE, T0, FAST)
    later = T0 + timedelta(hours=2)
    reopened = moved(closed, FORWARDED, later, SLOW)
    assert (reopened.dispatched_at, reopened.accept_by, reopened.process_by) == (
        later, later + timedelta(minutes=5), later + timedelta(minutes=30))
    assert reopened.accepted_at is reopened.processing_at is reopened.closed_at is None


@pytest.mark.parametrize("statuses, ticket", [
    ([], None),
    ([FORWARDED], FORWARDED), ([FORWARDED, PROCESSING, DONE], FORWARDED),
    ([ACCEPTED, PROCESSING], ACCEPTED), ([PROCESSING, DONE], PROCESSING), ([DONE, DONE], DONE),
    ([DONE, REFUSED], DONE), ([PROCESSING, REFUSED], PROCESSING), ([REFUSED, FORWARDED], FORWARDED),
    ([REFUSED], REFUSED), ([REFUSED, REFUSED], REFUSED),
])
def test_the_ticket_is_as_far_as_its_slowest_agency(statuses: list[str], ticket: str | None) -> None:
    assert ticket_status(statuses) == ticket


# the service, on plain fakes

@dataclass
class Memory:
    tickets: dict[str, Ticket] = field(default_factory=dict)
    assignments: dict[int, Assignment] = field(default_factory=dict)
    events: list[AssignmentEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    transactions: int = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        """A unit of work: what it wrote is undone if it raises, as a rolled-back transaction."""
        saved = (dict(self.tickets), dict(self.assignments), list(self.events), list(self.audit))
        self.transactions += 1
        try:
            yield None
        except BaseException:
            self.tickets, self.assignments, self.events, self.audit = saved
            raise


class FakeAssignments:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, assignment: Assignment, conn: Any = None) -> Assignment:
        stored = replace(assignment, id=len(self.m.assignments) + 1)
        self.m.assignments[stored.id] = stored
        return stored

    async def move(self, changed: Assignment, from_status: str, conn: Any = None) -> bool:
        if self.m.assignments[changed.id].status != from_status:
            return False
        self.m.assignments[changed.id] = changed
        return True

    async def get(self, assignment_id: int, conn: Any = None) -> Assignment | None:
        return self.m.assignments.get(assignment_id)

    async def of_ticket(self, ticket_id: int, conn: Any = None) -> list[Assignment]:
        return [a for a in self.m.assignments.values() if a.ticket_id == ticket_id]

    async def find(self, status: str | None = None, agency: str | None = None) -> list[Assignment]:
        return [a for a in reversed(self.m.assignments.values())
                if status in (None, a.status) and agency in (None, a.agency)]

    async def add_event(self, event: AssignmentEvent, conn: Any = None) -> None:
        self.m.events.append(event)

    async def events_of(self, assignment_ids: list[int]) -> list[AssignmentEvent]:
        return [e for e in self.m.events if e.assignment_id in assignment_ids]


class FakeTickets:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def by_number(self, number: str, conn: Any = None) -> Ticket | None:
        return self.m.tickets.get(number)

    async def change(self, number: str, values: dict[str, Any], at: datetime, conn: Any = None) -> Ticket | None:
        self.m.tickets[number] = replace(self.m.tickets[number], **values, updated_at=at)
        return self.m.tickets[number]


class FakeAudit:
    def __init__(self, m: Memory) -> None:
        self.m = m

    async def add(self, entry: AuditEntry, conn: Any = None) -> None:
        self.m.audit.append(entry)


@dataclass
class MovingClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


FIRE, CRASH = "SMD-20261202-0001", "SMD-20261202-0002"
TAKER = Actor("taker1", "calltaker", None, "10.0.0.5", "Firefox")
SUPERVISOR = Actor("spv1", "supervisor", None, "10.0.0.6", "Chrome")
DAMKAR = Actor("dmk1", "responder", "DAMKAR", "10.1.0.7", "Android Chrome")
PDAM = Actor("pdam1", "responder", "PDAM", "10.2.0.8", "Android Firefox")


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.tickets[FIRE] = Ticket(1, "1.1", NEW, "kebakaran", "+6281111111111", T0, FIRE,
                             incident_type="Kebakaran lahan/hutan", kecamatan="Palaran")
    m.tickets[CRASH] = Ticket(2, "2.1", NEW, "ambulans", "+6282222222222", T0, CRASH)
    return m


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def dispatcher(memory: Memory, clock: MovingClock) -> Dispatcher:
    return Dispatcher(DispatchStores(memory.begin, FakeAssignments(memory), FakeTickets(memory), FakeAudit(memory)),
                      RULES, clock)


async def test_the_proposal_follows_the_tickets_category_type_and_kecamatan(dispatcher: Dispatcher) -> None:
    assert await dispatcher.proposal(FIRE) == (("DAMKAR_SBR", "BPBD", "PDAM"), [])
    with pytest.raises(NotFound):
        await dispatcher.proposal("SMD-19990101-0001")


async def test_a_dispatch_makes_one_assignment_per_agency_in_one_unit_of_work(
        dispatcher: Dispatcher, memory: Memory, clock: MovingClock) -> None:
    made = await dispatcher.dispatch(FIRE, ["DAMKAR", "PDAM"], "  air dibutuhkan ", TAKER)
    assert [(a.agency, a.status, a.note, a.dispatched_by) for a in made] == [
        ("DAMKAR", FORWARDED, "air dibutuhkan", "taker1"), ("PDAM", FORWARDED, "air dibutuhkan", "taker1")]
    assert made[0].accept_by == T0 + timedelta(minutes=1) and made[0].process_by == T0 + timedelta(minutes=5)
    assert memory.transactions == 1 and memory.tickets[FIRE].status == FORWARDED
    assert [(e.actor, e.from_status, e.to_status, e.peer, e.device) for e in memory.events] == [
        ("taker1", None, FORWARDED, "10.0.0.5", "Firefox")] * 2
    [entry] = memory.audit
    assert (entry.actor, entry.action, entry.target, entry.detail["agencies"], entry.peer) == (
        "taker1", "dispatch.send", FIRE, ["DAMKAR", "PDAM"], "10.0.0.5")
    other = await dispatcher.dispatch(CRASH, ["RSUD"], None, SUPERVISOR)
    assert other[0].process_by == T0 + timedelta(minutes=30)               # ambulans has no line: default


@pytest.mark.parametrize("agencies, why", [
    ([], BadRequest), ("DAMKAR", BadRequest), (["DAMKAR", "DAMKAR"], BadRequest), (["NASA"], BadRequest),
    ([1], BadRequest)])
async def test_a_bad_dispatch_is_refused_and_writes_nothing(dispatcher: Dispatcher, memory: Memory,
                                                            agencies: Any, why: type) -> None:
    with pytest.raises(why):
        await dispatcher.dispatch(FIRE, agencies, "", TAKER)
    assert not memory.assignments and not memory.audit


async def test_an_agency_is_dispatched_once_per_ticket_and_a_responder_does_not_dispatch(
        dispatcher: Dispatcher, memory: Memory) -> None:
    await dispatcher.dispatch(FIRE, ["DAMKAR"], "", TAKER)
    with pytest.raises(Conflict, match="DAMKAR already"):
        await dispatcher.dispatch(FIRE, ["PDAM", "DAMKAR"], "", SUPERVISOR)
    assert len(memory.assignments) == 1 and len(memory.audit) == 1      # the whole dispatch rolled back
    with pytest.raises(NotAllowed):
        await dispatcher.dispatch(FIRE, ["PDAM"], "", DAMKAR)
    with pytest.raises(NotFound):
        await dispatcher.dispatch("SMD-19990101-0001", ["PDAM"], "", TAKER)


async def test_a_responder_moves_their_agencys_assignment_and_the_ticket_follows(
        dispatcher: Dispatcher, memory: Memory, clock: MovingClock) -> None:
    damkar, pdam = await dispatcher.dispatch(FIRE, ["DAMKAR", "PDAM"], "", TAKER)
    for minutes, status in ((1, ACCEPTED), (4, PROCESSING), (40, DONE)):
        clock.at = T0 + timedelta(minutes=minutes)
        await dispatcher.change(damkar.id, status, "", DAMKAR)
        assert memory.tickets[FIRE].status == FORWARDED                   # PDAM has not accepted yet
    done = memory.assignments[damkar.id]
    assert (done.accepted_at, done.processing_at, done.closed_at) == (
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=4), T0 + timedelta(minutes=40))
    await dispatcher.change(pdam.id, ACCEPTED, "", PDAM)
    assert memory.tickets[FIRE].status == ACCEPTED
    await dispatcher.change(pdam.id, REFUSED, "bukan wilayah kami", PDAM)
    assert memory.tickets[FIRE].status == DONE                           # a refusal holds nobody back
    timeline = await dispatcher.timeline(1)
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in timeline[0]["events"]] == [
        (None, FORWARDED, "taker1"), (FORWARDED, ACCEPTED, "dmk1"), (ACCEPTED, PROCESSING, "dmk1"),
        (PROCESSING, DONE, "dmk1")]
    assert timeline[1]["events"][-1]["note"] == "bukan wilayah kami"
    changes = [e for e in memory.audit if e.action == "assignment.status"]
    assert [(e.target, e.detail["from"], e.detail["to"], e.detail["device"]) for e in changes][-1] == (
        f"{FIRE}/PDAM", ACCEPTED, REFUSED, "Android Firefox")
    assert memory.transactions == 1 + 5


async def test_another_agencys_assignment_is_not_found_and_the_attempt_is_kept(
        dispatcher: Dispatcher, memory: Memory) -> None:
    damkar, _ = await dispatcher.dispatch(FIRE, ["DAMKAR", "PDAM"], "", TAKER)
    with pytest.raises(NotFound):
        await dispatcher.change(damkar.id, ACCEPTED, "", PDAM)
    assert memory.assignments[damkar.id].status == FORWARDED
    assert (memory.audit[-1].actor, memory.audit[-1].action) == ("pdam1", "refused.not_yours")
    assert [a.agency for a in await dispatcher.visible(PDAM)] == ["PDAM"]
    assert [a.agency for a in await dispatcher.visible(SUPERVISOR)] == ["PDAM", "DAMKAR"]
    assert await dispatcher.visible(DAMKAR, ACCEPTED) == []
    assert await dispatcher.visible(Actor("lost1", "responder")) == []      # a responder without an agency


async def test_a_refusal_and_a_reopen_need_a_reason_and_only_desk_roles_reopen(
        dispatcher: Dispatcher, memory: Memory, clock: MovingClock) -> None:
    [damkar] = await dispatcher.dispatch(FIRE, ["DAMKAR"], "", TAKER)
    with pytest.raises(BadRequest, match="refusal needs its reason"):
        await dispatcher.change(damkar.id, REFUSED, "  ", DAMKAR)
    await dispatcher.change(damkar.id, REFUSED, "armada sedang di lokasi lain", DAMKAR)
    assert memory.tickets[FIRE].status == REFUSED
    with pytest.raises(NotAllowed):
        await dispatcher.change(damkar.id, FORWARDED, "coba lagi", DAMKAR)
    with pytest.raises(BadRequest, match="reopen needs its reason"):
        await dispatcher.change(damkar.id, FORWARDED, "", SUPERVISOR)
    clock.at = T0 + timedelta(minutes=20)
    reopened = await dispatcher.change(damkar.id, FORWARDED, "armada lain tersedia", SUPERVISOR)
    assert reopened.accept_by == clock.at + timedelta(minutes=1) and memory.tickets[FIRE].status == FORWARDED


async def test_an_illegal_or_unknown_status_is_refused_and_writes_nothing(dispatcher: Dispatcher,
                                                                          memory: Memory) -> None:
    [damkar] = await dispatcher.dispatch(FIRE, ["DAMKAR"], "", TAKER)
    written = (len(memory.events), len(memory.audit))
    with pytest.raises(IllegalMove, match="is diteruskan: it cannot become selesai"):
        await dispatcher.change(damkar.id, DONE, "", DAMKAR)
    with pytest.raises(BadRequest, match="status: one of"):
        await dispatcher.change(damkar.id, "padam", "", DAMKAR)
    with pytest.raises(BadRequest, match="note"):
        await dispatcher.change(damkar.id, ACCEPTED, 5, DAMKAR)
    with pytest.raises(NotFound):
        await dispatcher.change(999, ACCEPTED, "", SUPERVISOR)
    assert (len(memory.events), len(memory.audit)) == written and memory.assignments[damkar.id].status == FORWARDED


async def test_of_two_people_moving_at_once_the_second_is_told(dispatcher: Dispatcher, memory: Memory,
                                                              clock: MovingClock) -> None:
    class ReadBeforeTheFirstMove(FakeAssignments):
        async def get(self, assignment_id: int, conn: Any = None) -> Assignment | None:
            return replace(self.m.assignments[assignment_id], status=FORWARDED)

    [damkar] = await dispatcher.dispatch(FIRE, ["DAMKAR"], "", TAKER)
    await dispatcher.change(damkar.id, ACCEPTED, "", DAMKAR)
    late = Dispatcher(DispatchStores(memory.begin, ReadBeforeTheFirstMove(memory), FakeTickets(memory),
                                     FakeAudit(memory)), RULES, clock)
    with pytest.raises(Conflict, match="changed meanwhile"):
        await late.change(damkar.id, ACCEPTED, "lewat radio", SUPERVISOR)
    assert len(memory.events) == 2
