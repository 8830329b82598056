"""A monthly report over 60,000 calls: how long `callengine report --month` takes to build each
format (CSV, XLSX, PDF) end to end, and the console's `GET /api/v1/reports?month=` (JSON), with
peak memory. Figures and method: benchmarks/README.md.

The month is written into a fresh database the way the centre writes it: the calls and their
tickets (numbered by day, the desk's form filled in, prank calls marked) as bulk inserts of the
rows CallRepository.add, TicketRepository.open_at_answer/open_for/attach/change would leave;
the dispatches and every status move through the real Dispatcher with the shipped agencies and
SLA targets; the citizens' ratings through RatingRepository.rate; QA scores (the shipped form,
some corrected) through ScoreRepository.add. SQLite by default, PostgreSQL too with
`--backends sqlite postgresql`. No Asterisk: the console runs on the database alone. Progress
goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from common import TICK, DurablePostgres, progress, row  # first: tests/ on the path

from sqlalchemy import bindparam, event, func, insert, select, update

from callengine.calls.record import CallRecord
from callengine.core.settings import DEFAULT_AGENCIES, DEFAULT_DESK, PROJECT_DIR, load_settings
from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.models import (AssignmentEventRow, AssignmentRow, CallRow, RatingRequestRow, TicketCounterRow,
                                  TicketRow)
from callengine.db.ratings import RatingRepository
from callengine.db.scores import ScoreRepository
from callengine.db.tickets import TicketRepository
from callengine.dispatch.config import load_agencies
from callengine.dispatch.model import (ACCEPTED, DONE, PROCESSING, Actor, Assignment, AssignmentEvent, forwarded, moved,
                                       ticket_status)
from callengine.dispatch.service import Dispatcher, DispatchStores
from callengine.qa.forms import load_forms
from callengine.qa.scoring import Score, evaluate, read_answers
from callengine.queueing.roster import Roster, load_roster
from callengine.rating.service import GIVEN_UP, LINK, RATED, SKIPPED, USED, VOICE, Rating
from callengine.tickets.desk import load_desk
from callengine.tickets.model import NEW, Ticket, TicketNumbers
from console_lab import add_user, cli
from lab import free_port, write_config
from screenpop import Console

PASSWORD = "teh manis hangat"
GENERATOR = 2                  # bump when the month's shape changes: cached databases are then rebuilt
FORMATS = ("csv", "xlsx", "pdf")
CATEGORIES = ("ambulans", "kebakaran", "kriminal", "bencana", "lainnya")
# the IVR's category (None: no digit, or the operator); the answered calls' classification
CATEGORY_SHARE = {"ambulans": 0.26, "kebakaran": 0.07, "kriminal": 0.12, "bencana": 0.04, "lainnya": 0.16, None: 0.35}
CLASSIFICATION_SHARE = {"prank": 0.28, "ghost": 0.06, "salah_sambung": 0.08, "informasi": 0.34, "darurat": 0.24}
# relative calls per local hour: quiet before dawn, busiest in the evening (prank calls after school)
HOURLY = (0.9, 0.6, 0.45, 0.35, 0.35, 0.5, 0.9, 1.3, 1.6, 1.8, 1.9, 1.9,
          1.8, 1.8, 1.8, 1.8, 1.9, 2.0, 2.1, 2.1, 1.9, 1.6, 1.3, 1.1)
REGULARS = 600                 # numbers that call again and again (pranksters, the lonely, the confused)
REGULAR_SHARE = 0.3            # of all calls
RATING_DELAY, RATING_RETRY = timedelta(minutes=10), timedelta(minutes=30)   # config/callengine.conf [rating]


# -- a month of calls, written as the engine and the console write it ------------------------------
@dataclass
class Story:
    """One call and what the centre did with it."""
    record: CallRecord
    ticket_at: datetime                          # answered: at the answer (TicketOpener); else at hangup
    classification: str | None = None
    form: dict[str, Any] = field(default_factory=dict)   # the desk's form, with wrapped_up_at
    agencies: tuple[str, ...] = ()
    number: str = ""


@dataclass
class Written:
    calls: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    tickets: int = 0
    forms: int = 0
    dispatched: int = 0
    assignments: int = 0
    moves: int = 0
    ratings: int = 0
    requests: int = 0             # rating requests: the call backs (and links) as the rating service left them
    scores: int = 0
    checked: int = 0              # tickets dispatched and moved through the real Dispatcher
    differing: int = 0            # of those, whose rows differ from what the bulk path computes
    seconds: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.calls} calls ({', '.join(f'{k} {v}' for k, v in self.dispositions.most_common())}), "
                f"{self.tickets} tickets ({self.forms} with the desk's form), {self.dispatched} dispatched: "
                f"{self.assignments} assignments, {self.moves} status moves (the first {self.checked} tickets through "
                f"the Dispatcher, {self.differing} of them differing from the bulk path's rows); {self.ratings} "
                f"ratings ({self.requests} rating requests), {self.scores} QA scores")


class Month:
    """Writes `count` calls started within [start, end) into `db`, with their tickets, dispatches,
    ratings and QA scores. Deterministic for a seed."""

    def __init__(self, db: Database, roster: Roster, zone: ZoneInfo, city_code: str, seed: int = 112) -> None:
        self.db, self.roster, self.zone, self.numbers = db, roster, zone, TicketNumbers(city_code, zone)
        self.rng = random.Random(seed)
        self.desk = load_desk(DEFAULT_DESK)
        self.rules = load_agencies(DEFAULT_AGENCIES, self.desk)
        self.form = load_forms(PROJECT_DIR / "config" / "qa.conf", CATEGORIES)["standar"]
        self.regulars = [f"+62812{self.rng.randrange(10**7):07d}" for _ in range(REGULARS)]
        self.regular_weights = [1 / (i + 1) for i in range(REGULARS)]       # Zipf: a few call very often

    async def write(self, start: datetime, end: datetime, count: int, say: Callable[[str], None] = progress,
                    dispatch_before: datetime | None = None, checked: int = 40) -> Written:
        """`dispatch_before`: no dispatch, move, rating or score after it (a day still going on)."""
        made = Written()
        t0 = time.monotonic()
        stories = [self._story(self._moment(start, end), i) for i in range(count)]
        stories.sort(key=lambda s: s.record.started_at)
        self._number(stories)
        made.calls, made.tickets = len(stories), len(stories)
        made.dispositions = Counter(s.record.disposition for s in stories)
        made.forms = sum(1 for s in stories if s.form)
        say(f"month: {count} calls planned ({time.monotonic() - t0:.1f} s); writing calls and tickets")
        t1 = time.monotonic()
        await self._bulk(stories)
        made.seconds["calls and tickets (bulk)"] = time.monotonic() - t1
        t2 = time.monotonic()
        limit = dispatch_before or end + timedelta(days=3650)
        self.closed: dict[str, datetime] = {}
        await self._dispatch([s for s in stories if s.agencies], made, limit, checked, say)
        made.seconds["dispatches and moves"] = time.monotonic() - t2
        t3 = time.monotonic()
        await self._rate_and_score(stories, made, limit)
        made.seconds["ratings and QA scores"] = time.monotonic() - t3
        say(f"month written in {time.monotonic() - t0:.0f} s: {made.line()}")
        return made

    # -- the calls ---------------------------------------------------------------------------------
    def _moment(self, start: datetime, end: datetime) -> datetime:
        span, top = (end - start).total_seconds(), max(HOURLY)
        while True:
            moment = start + timedelta(seconds=self.rng.random() * span)
            if self.rng.random() * top < HOURLY[moment.astimezone(self.zone).hour]:
                return moment.replace(microsecond=self.rng.randrange(0, 1000) * 1000)

    def _story(self, started: datetime, seq: int) -> Story:
        rng = self.rng
        regular = rng.random() < REGULAR_SHARE
        caller = (rng.choices(self.regulars, self.regular_weights)[0] if regular
                  else f"+628{rng.choice('1235')}{rng.randrange(10**9):09d}")
        withheld = rng.random() < 0.01
        linkedid = f"{int(started.timestamp())}.{seq}"
        category = rng.choices(list(CATEGORY_SHARE), list(CATEGORY_SHARE.values()))[0]
        fate = rng.random()
        ivr_s = round(rng.uniform(6.0, 11.6), 3)
        notes: dict[str, Any] = {"ivr_path": ["greeting", "menu", "connecting"] if category else ["greeting", "menu"],
                                 "ivr_digits": "" if category is None else str(1 + CATEGORIES.index(category)),
                                 "ivr_language": "id", "ivr_s": ivr_s, "priority": 10 if category in (
                                     "ambulans", "kebakaran") else 8 if category else 5}
        if regular and rng.random() < 0.3:
            notes["prank_history"] = True
            notes["priority"] = 0
        base = dict(linkedid=linkedid, caller=None if withheld else caller,
                    caller_raw="anonymous" if withheld else "0" + caller[3:], dialed="112", started_at=started,
                    category=category, ivr=notes, caller_status="withheld" if withheld else "ok",
                    hangup_cause=16, hangup_cause_text="Normal Clearing")
        recording = f"{started.astimezone(self.zone):%Y/%m/%d}/{linkedid}.wav"
        if fate < 0.015:                                           # never reached the recording
            record = CallRecord(**{**base, "category": None, "ivr": {}}, answered_at=None,
                                ended_at=started + timedelta(seconds=rng.uniform(0.5, 3)), queue=None, wait_s=None,
                                agent=None, talk_s=None, disposition="failed", hangup_by="system", recording=None)
        elif fate < 0.335:                                         # ended in the IVR, mostly silent
            record = CallRecord(**{**base, "category": None}, answered_at=None,
                                ended_at=started + timedelta(seconds=rng.uniform(2, ivr_s)), queue=None,
                                wait_s=None, agent=None, talk_s=None, disposition="ended_in_ivr",
                                hangup_by="caller", recording=recording, ghost=rng.random() < 0.75)
        elif fate < 0.42:                                          # hung up waiting in the queue
            wait = round(rng.uniform(2, 75), 2)
            record = CallRecord(**base, answered_at=None, ended_at=started + timedelta(seconds=ivr_s + wait),
                                queue="112", wait_s=wait, agent=None, talk_s=None, disposition="abandoned",
                                hangup_by="caller", recording=recording)
        else:
            return self._answered(base, recording, ivr_s, regular)
        if record.recording:
            record.recording_facts = self._facts(record)
        self._locate(record)
        return Story(record, record.ended_at)

    def _answered(self, base: dict[str, Any], recording: str, ivr_s: float, regular: bool) -> Story:
        rng = self.rng
        wait = round(min(120.0, rng.lognormvariate(math.log(6), 0.8)), 2)
        answered = base["started_at"] + timedelta(seconds=ivr_s + wait)
        shares = dict(CLASSIFICATION_SHARE)
        if regular:
            shares["prank"] *= 2.5
        classification = rng.choices(list(shares), list(shares.values()))[0]
        talk = round(rng.lognormvariate(math.log({"darurat": 150, "informasi": 70}.get(classification, 18)), 0.5), 1)
        agent = rng.choice(sorted(self.roster.duty_at(answered).accounts))
        record = CallRecord(**base, answered_at=answered, ended_at=answered + timedelta(seconds=talk), queue="112",
                            wait_s=wait, agent=agent, talk_s=talk, disposition="answered",
                            hangup_by=rng.choice(("caller", "agent")), recording=recording,
                            prank=classification == "prank", ghost=classification == "ghost")
        record.recording_facts = self._facts(record)
        self._locate(record)
        story = Story(record, answered, classification)
        wrapped = record.ended_at + timedelta(seconds=rng.uniform(10, 90))
        story.form = {"classification": classification, "wrapped_up_at": wrapped, "updated_at": wrapped}
        if classification in ("darurat", "informasi"):
            kecamatan = rng.choice(sorted(self.desk.gazetteer))
            incident = rng.choice(self.desk.types_for(record.category))
            story.form |= {"incident_type": incident, "kecamatan": kecamatan,
                           "kelurahan": rng.choice(self.desk.gazetteer[kecamatan]),
                           "address": f"Jl. {rng.choice(('Pahlawan', 'Juanda', 'Antasari', 'Slamet Riyadi'))} "
                                      f"No. {rng.randrange(1, 200)}",
                           "description": "Pelapor menyampaikan kejadian; petugas mencatat dan memberi arahan.",
                           "caller_name": rng.choice(("Budi", "Siti", "Rahmat", "Dewi", "Agus", "Nur")),
                           "victims": rng.choice((None, 0, 1, 2)), "priority": rng.choice((1, 2, 3))}
            if classification == "darurat" and rng.random() < 0.85:
                story.agencies = self.rules.propose(record.category, incident, kecamatan) or ("POLRES",)
        return story

    def _facts(self, record: CallRecord) -> dict[str, Any]:
        """What the recording worker stores: paths, duration, SHA-256, a 160-point waveform."""
        assert record.recording is not None
        rng = self.rng
        return {"path": record.recording, "browser_copy": record.recording[:-4] + ".ogg",
                "duration_s": round((record.ended_at - record.started_at).total_seconds(), 3),
                "sha256": "%064x" % rng.getrandbits(256), "waveform": [round(rng.random(), 3) for _ in range(160)]}

    def _locate(self, record: CallRecord) -> None:
        """AML from about half of the handsets: the best location and every one received."""
        if record.caller and self.rng.random() < 0.5 and record.disposition != "failed":
            at = (record.started_at + timedelta(seconds=self.rng.uniform(3, 20))).isoformat()
            best = {"lat": round(-0.5 + self.rng.uniform(-0.08, 0.08), 6),
                    "lon": round(117.15 + self.rng.uniform(-0.08, 0.08), 6),
                    "radius_m": self.rng.choice((8, 15, 30, 120)), "source": "aml", "at": at}
            record.location, record.locations = best, [best]

    def _number(self, stories: list[Story]) -> None:
        """Ticket numbers from each local day's sequence, in the order the tickets were opened."""
        sequence: Counter[str] = Counter()
        for story in sorted(stories, key=lambda s: s.ticket_at):
            day = self.numbers.day(story.ticket_at)
            sequence[day] += 1
            story.number = self.numbers.number(day, sequence[day])
        self.counters = dict(sequence)

    async def _bulk(self, stories: list[Story], chunk: int = 2000) -> None:
        """The rows CallRecords.save (with TicketOpener's ticket at the answer) and the desk's
        form would leave, inserted a few thousand at a time."""
        call_fields = [f.name for f in fields(CallRecord)]
        by_opening = sorted(stories, key=lambda s: s.ticket_at)        # ids in the order tickets were opened
        for i in range(0, len(stories), chunk):
            async with self.db.begin() as c:
                await c.execute(insert(CallRow), [{k: getattr(s.record, k) for k in call_fields}
                                                  for s in stories[i:i + chunk]])
                await c.execute(insert(TicketRow), [_ticket_row(s) for s in by_opening[i:i + chunk]])
        async with self.db.begin() as c:
            for day, last in self.counters.items():
                statement = self.db.insert(TicketCounterRow).values(day=day, last=last)
                await c.execute(statement.on_conflict_do_update(index_elements=["day"], set_={"last": last}))

    # -- the dispatches --------------------------------------------------------------------------
    def _plan(self, story: Story, limit: datetime) -> Plan | None:
        """When the taker dispatches (during the call) and when each agency moves its assignment:
        diterima (97 %), diproses (95 % of those), selesai (90 % of those), in the order they happen."""
        rng = self.rng
        at = story.record.answered_at + timedelta(seconds=rng.uniform(40, 120))  # type: ignore[operator]
        if at >= limit:
            return None
        moves = []
        for i in range(len(story.agencies)):
            when = at
            for status, minutes, chance in ((ACCEPTED, 1.0, 0.97), (PROCESSING, 8.0, 0.95), (DONE, 55.0, 0.9)):
                when = when + timedelta(minutes=rng.lognormvariate(math.log(minutes), 0.7))
                if rng.random() > chance or when >= limit:
                    break
                moves.append((when, i, status))
        return Plan(story, at, sorted(moves))

    async def _dispatch(self, stories: list[Story], made: Written, limit: datetime, checked: int,
                        say: Callable[[str], None]) -> None:
        """The first `checked` tickets through the real Dispatcher (one transaction per dispatch
        or move: assignment, event, ticket status, audit row), the others as the rows it would
        leave (model.forwarded, model.moved, model.ticket_status), inserted in bulk; the rows of
        the first ones are compared with what the bulk path computes for them."""
        plans = [p for p in (self._plan(s, limit) for s in stories) if p is not None]
        async with self.db.connect() as c:
            ids = dict((await c.execute(select(TicketRow.number, TicketRow.id))).all())
        for plan in plans:
            plan.ticket_id = ids[plan.story.number]
        sample, rest = plans[:checked], plans[checked:]
        await self._through_dispatcher(sample)
        made.checked, made.differing = len(sample), await self._compare(sample)
        say(f"month: {len(sample)} tickets through the Dispatcher, {made.differing} differ from the bulk path; "
            f"{len(rest)} more in bulk")
        simulated = [self._simulate(plan) for plan in rest]
        for i in range(0, len(simulated), 1000):
            async with self.db.begin() as c:
                chunk = simulated[i:i + 1000]
                rows = [{k: getattr(a, k) for k in _ASSIGNMENT_STORED} for sim in chunk for a in sim.assignments]
                new_ids = (await c.execute(insert(AssignmentRow).returning(AssignmentRow.id,
                                                                           sort_by_parameter_order=True),
                                           rows)).scalars().all()
                it = iter(new_ids)
                events = []
                for sim in chunk:
                    own = [next(it) for _ in sim.assignments]
                    events += [{**asdict(e), "assignment_id": own[k]} for k, e in sim.events]
                await c.execute(insert(AssignmentEventRow), events)
                await c.execute(update(TicketRow).where(TicketRow.id == bindparam("tid"))
                                .values(status=bindparam("st"), updated_at=bindparam("ua")),
                                [{"tid": sim.plan.ticket_id, "st": sim.status, "ua": sim.updated_at} for sim in chunk])
        for sim in [self._simulate(plan) for plan in sample] + simulated:
            made.dispatched += 1
            made.assignments += len(sim.assignments)
            made.moves += len(sim.plan.moves)
            if sim.closed_at is not None:
                self.closed[sim.plan.story.number] = sim.closed_at

    async def _through_dispatcher(self, plans: list[Plan]) -> None:
        clock = SetClock()
        dispatcher = Dispatcher(DispatchStores(self.db.begin, AssignmentRepository(self.db),
                                               TicketRepository(self.db), AuditRepository(self.db)),
                                self.rules, clock)
        for plan in plans:
            clock.at = plan.at
            made = await dispatcher.dispatch(plan.story.number, list(plan.story.agencies), "", _taker(plan.story))
            for when, i, status in plan.moves:
                clock.at = when
                note = "beres" if status == DONE else ""
                await dispatcher.change(made[i].id, status, note, _responder(made[i].agency))

    def _simulate(self, plan: Plan) -> Simulated:
        """What the Dispatcher would leave for this plan: the assignments, their events (by the
        assignment's index), the ticket's status and when it last changed, when it became selesai."""
        story, sla = plan.story, self.rules.sla_for(plan.story.record.category)
        taker = _taker(story)
        current = [forwarded(plan.ticket_id, story.number, code, "", taker.name, plan.at, sla)
                   for code in story.agencies]
        events = [(i, AssignmentEvent(0, plan.at, taker.name, None, a.status, "", taker.peer, taker.device))
                  for i, a in enumerate(current)]
        status, updated, closed = ticket_status([a.status for a in current]), plan.at, None
        for when, i, to in plan.moves:
            before, current[i] = current[i].status, moved(current[i], to, when, sla)
            who = _responder(current[i].agency)
            events.append((i, AssignmentEvent(0, when, who.name, before, to, "beres" if to == DONE else "", who.peer,
                                              who.device)))
            now = ticket_status([a.status for a in current])
            if now != status:
                status, updated = now, when
                closed = when if now == DONE else closed
        return Simulated(plan, current, events, status or NEW, updated, closed)

    async def _compare(self, plans: list[Plan]) -> int:
        """How many of these tickets' stored assignments, events or status differ from _simulate's."""
        repo, differing = AssignmentRepository(self.db), 0
        for plan in plans:
            sim = self._simulate(plan)
            stored = await repo.of_ticket(plan.ticket_id)
            events = await repo.events_of([a.id for a in stored])
            async with self.db.connect() as c:
                ticket = (await c.execute(select(TicketRow.status, TicketRow.updated_at)
                                          .where(TicketRow.id == plan.ticket_id))).one()
            same = ([replace(a, id=0) for a in stored] == sim.assignments
                    and sorted((e.at, e.to_status, e.actor, e.from_status, e.note) for e in events)
                    == sorted((e.at, e.to_status, e.actor, e.from_status, e.note) for _, e in sim.events)
                    and (ticket.status, ticket.updated_at) == (sim.status, sim.updated_at))
            differing += not same
        return differing

    async def _rate_and_score(self, stories: list[Story], made: Written, limit: datetime) -> None:
        """The call back of each closed ticket as the rating service leaves it (a voice request
        10 min after selesai: rated by about a third of the citizens, given up for the others,
        skipped without a caller ID), a few ratings through a link instead; and QA scores of 2 %
        of the answered calls: a second reviewer on a fifth of them, a correction on one in twenty."""
        rng = self.rng
        ratings, scores = RatingRepository(self.db), ScoreRepository(self.db)
        async with self.db.connect() as c:
            ids = dict((await c.execute(select(TicketRow.number, TicketRow.id))).all()) if self.closed else {}
        requests, callers = [], {s.number: s.record.caller for s in stories}
        for number, closed in self.closed.items():
            caller, due = callers[number], closed + RATING_DELAY
            if due + timedelta(minutes=2) >= limit:
                continue                                    # not called yet: the console will schedule it
            score = rng.choices((5, 4, 3, 2, 1), (45, 30, 12, 6, 7))[0]
            voice = caller is not None and rng.random() < 0.35
            request = {"ticket_id": ids[number], "kind": VOICE, "created_at": closed + timedelta(seconds=3),
                       "created_by": "system", "number": caller, "tries": 1 if voice else (0 if caller is None else 2),
                       "status": RATED if voice else (SKIPPED if caller is None else GIVEN_UP),
                       "last_error": None if voice else "no valid caller ID to call" if caller is None else "no answer",
                       "updated_at": due + timedelta(minutes=1) if voice else due + RATING_RETRY}
            requests.append(request)
            if voice:
                given = Rating(ids[number], score, None, VOICE, caller, due + timedelta(minutes=1))
            elif rng.random() < 0.08 and (at := closed + timedelta(hours=rng.uniform(1, 24))) < limit:
                given = Rating(ids[number], score, rng.choice((None, "Cepat sekali, terima kasih")), LINK,
                               "link", at)
                requests.append({"ticket_id": ids[number], "kind": LINK, "status": USED, "created_at": closed,
                                 "created_by": "taker1", "token_hash": "%064x" % rng.getrandbits(256),
                                 "expires_at": closed + timedelta(days=7), "updated_at": at})
            else:
                continue
            if await ratings.rate(given):
                made.ratings += 1
        if requests:
            async with self.db.begin() as c:
                for i in range(0, len(requests), 1000):
                    for kind in (VOICE, LINK):
                        rows = [r for r in requests[i:i + 1000] if r["kind"] == kind]
                        if rows:
                            await c.execute(insert(RatingRequestRow), rows)
        made.requests = len(requests)
        answered = [s for s in stories if s.record.disposition == "answered"]
        for story in rng.sample(answered, k=len(answered) // 50):
            reviewed = story.record.ended_at + timedelta(days=rng.uniform(0.5, 5))
            if reviewed >= limit:
                continue
            for reviewer in ("qa1", "qa2") if rng.random() < 0.2 else ("qa1",):
                first = await scores.add(self._score(story, reviewer, reviewed))
                made.scores += 1
                if rng.random() < 0.05:
                    await scores.add(self._score(story, reviewer, reviewed + timedelta(hours=2), first))
                    made.scores += 1

    def _score(self, story: Story, reviewer: str, at: datetime, corrects: Score | None = None) -> Score:
        rng, category = self.rng, story.record.category
        raw: dict[str, Any] = {}
        for c in self.form.criteria:
            if c.na and rng.random() < 0.15:
                raw[c.id] = "na"
            elif c.out_of == 1:
                raw[c.id] = "yes" if rng.random() < (0.9 if c.critical else 0.8) else "no"
            else:
                raw[c.id] = rng.randint(max(0, c.out_of - 3), c.out_of)
        answers = read_answers(self.form, raw, category)
        share, counted, failed = evaluate(answers)
        return Score(0, story.record.linkedid, reviewer, 2 if corrects else 1, corrects.id if corrects else None,
                     "spv1" if corrects else reviewer, "dinilai ulang bersama supervisor" if corrects else None,
                     self.form.name, self.form.version, category, None, share, counted, failed, at,
                     answers=answers)


@dataclass
class Plan:
    story: Story
    at: datetime                                    # the dispatch
    moves: list[tuple[datetime, int, str]]          # (when, the assignment's index, to)
    ticket_id: int = 0


@dataclass
class Simulated:
    plan: Plan
    assignments: list[Assignment]
    events: list[tuple[int, AssignmentEvent]]
    status: str
    updated_at: datetime
    closed_at: datetime | None


_ASSIGNMENT_STORED = [f.name for f in fields(Assignment) if f.name not in ("id", "ticket_number")]


def _taker(story: Story) -> Actor:
    return Actor(story.record.agent or "taker1", "calltaker", None, "10.0.0.5", "Firefox")


def _responder(agency: str) -> Actor:
    return Actor(f"{agency.lower()}1", "responder", agency, "10.1.0.9", "Android")


def _ticket_row(story: Story) -> dict[str, Any]:
    """The ticket as the store leaves it: opened at the answer (taker, answered_at) or at the
    hangup, numbered, then the desk's form."""
    r = story.record
    values = {f.name: None for f in fields(Ticket) if f.name != "id"}
    values |= {"linkedid": r.linkedid, "status": NEW, "category": r.category, "caller": r.caller,
               "created_at": story.ticket_at, "number": story.number, "taker": r.agent, "answered_at": r.answered_at,
               "legal_hold": False, **story.form}
    return values


class SetClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def month_roster(takers: int = 24) -> str:
    """24 call takers in three teams, the shipped shifts and rotation."""
    names = [f"taker{i}" for i in range(1, takers + 1)]
    size = takers // 3
    teams = "".join(f"{t} = {', '.join(names[i * size:(i + 1) * size])}\n" for i, t in enumerate("ABC"))
    return ("[calltakers]\n" + "".join(f"{n} = Operator {n[5:]}\n" for n in names) +
            "[supervisors]\nspv1 = Supervisor Satu\n[teams]\n" + teams +
            "[shifts]\npagi = 07:00-15:00\nsiang = 15:00-23:00\nmalam = 23:00-07:00\n"
            "[rotation]\nstart = 2026-01-01\n1 = pagi A, siang B, malam C\n2 = pagi C, siang A, malam B\n"
            "3 = pagi B, siang C, malam A\n")


async def write_month(config: Path, month: str, calls: int, seed: int) -> Written:
    settings = load_settings(config)
    zone = settings.timezone
    first = date.fromisoformat(f"{month}-01")
    after = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(after, datetime.min.time(), zone)
    db = Database(settings.database_url)
    quick(db)
    try:
        await db.migrate()
        return await Month(db, load_roster(settings.roster_file, zone), zone, settings.city_code, seed).write(
            start, end, calls)
    finally:
        await db.close()


def quick(db: Database) -> None:
    """While the month is written: SQLite without an fsync per commit (what is written is the
    same; only a crash could lose it)."""
    if db.dialect == "sqlite":
        def no_sync(connection: Any, _record: object) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()
        event.listen(db.engine.sync_engine, "connect", no_sync)


async def stored(url: str) -> dict[str, int]:
    """Rows per table, read back."""
    from callengine.db.models import AssignmentRow, RatingRow, ScoreRow
    db = Database(url)
    try:
        async with db.connect() as c:
            return {table.__tablename__: int((await c.execute(select(func.count()).select_from(table))).scalar_one())
                    for table in (CallRow, TicketRow, AssignmentRow, RatingRow, ScoreRow)}
    finally:
        await db.close()


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Timing:
    what: str
    backend: str
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    size: int
    phases: dict[str, float] = field(default_factory=dict)     # CLI: seconds per step from its progress lines
    stall_ms: float = math.nan                                  # API: the console's slowest /healthz meanwhile
    ok: bool = True
    note: str = ""


PHASES = (("membaca panggilan", "start-up"), ("membaca tiket", "read calls"), ("menyusun tabel", "read the rest"),
          ("menulis", "tables"))


def run_cli(config: Path, month: str, shape: str, out: Path, backend: str) -> Timing:
    """`callengine report` end to end: wall time, the child's CPU and ru_maxrss (os.wait4), and
    the time of each step from its progress lines on stderr."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(config), "report", "--month", month,
                             "--format", shape, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    stamps: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stamps.append((time.monotonic(), line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(10)
    stdout = proc.stdout.read() if proc.stdout else ""
    phases: dict[str, float] = {}
    previous = t0
    for prefix, name in PHASES:
        at = next((t for t, line in stamps if line.startswith(prefix)), None)
        if at is not None:
            phases[name] = at - previous
            previous = at
    phases["write and exit"] = t0 + wall - previous
    ok = proc.returncode == 0 and out.exists()
    return Timing(f"CLI {shape}", backend, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                  out.stat().st_size if out.exists() else 0, phases, ok=ok,
                  note="" if ok else f"exit {proc.returncode}: {(stamps[-1][1] if stamps else stdout)[:200]}")


def proc_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def proc_mem(pid: int) -> dict[str, float]:
    """VmHWM (the peak resident set so far) and VmRSS, MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return found


class Stalls:
    """/healthz every 50 ms from a thread: the console's slowest answer while it builds a report
    shows how long its event loop was held."""

    def __init__(self, url: str) -> None:
        self.url, self.worst, self.done = url, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.wait(0.05):
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=120) as reply:
                    reply.read()
            except OSError:
                pass
            self.worst = max(self.worst, time.monotonic() - t0)

    def stop(self) -> float:
        self.done.set()
        self.thread.join(130)
        return self.worst * 1000


def run_api(console: Console, token: str, path: str, what: str, backend: str) -> Timing:
    assert console.proc is not None
    pid = console.proc.pid
    request = urllib.request.Request(f"{console.url}{path}", headers={"Authorization": f"Bearer {token}"})
    cpu0 = proc_cpu(pid)
    stalls = Stalls(console.url)
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            body = reply.read()
            ok, note = reply.status == 200, ""
    except OSError as exc:
        body, ok, note = b"", False, str(exc)[:200]
    wall = time.monotonic() - t0
    stall = stalls.stop()
    if ok and what.endswith("JSON"):
        tables = json.loads(body)["tables"]
        note = f"{len(tables)} tables"
    return Timing(what, backend, wall, proc_cpu(pid) - cpu0, proc_mem(pid)["VmHWM"], len(body), stall_ms=stall,
                  ok=ok, note=note)


# -- one backend ---------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    written: Written | None = None
    rows: dict[str, int] = field(default_factory=dict)
    timings: list[Timing] = field(default_factory=list)
    console_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def run_backend(name: str, args: argparse.Namespace) -> Backend:
    folder = Path(tempfile.mkdtemp(prefix="ce-report-"))
    result = Backend(name)
    pg: DurablePostgres | None = None
    console: Console | None = None
    progress(f"{name}: lab in {folder}; load average {os.getloadavg()[0]:.2f}")
    try:
        url = "sqlite"
        if name == "postgresql":
            pg = DurablePostgres(fsync=False)
            pg.start()
            url = pg.create_database("report")
        port = free_port()
        config = write_config(folder, roster=month_roster(), database=url)
        with config.open("a") as conf:
            conf.write(f"[console]\nlisten = 127.0.0.1:{port}\n")
        settings = load_settings(config)
        prepare(name, settings.database_url, config, result, args)
        result.rows = asyncio.run(stored(settings.database_url))
        progress(f"{name}: stored rows {result.rows}")
        for run in range(1, args.runs + 1):
            for shape in args.formats:
                timing = run_cli(config, args.month, shape, folder / f"laporan.{shape}", name)
                result.timings.append(timing)
                progress(f"{name}: run {run}: CLI {shape}: {timing.wall_s:.2f} s, {timing.maxrss_mb:.0f} MB "
                         f"({'ok' if timing.ok else timing.note}; load average {os.getloadavg()[0]:.2f})")
        if args.api:
            add_user(config, "spv1", "supervisor", PASSWORD)
            token = cli(config, "tokens", "create", "spv1").stdout.strip()
            console = Console(config, port).start()
            assert console.proc is not None
            result.console_mb["started"] = proc_mem(console.proc.pid)["VmRSS"]
            for run in range(1, args.runs + 1):
                asked = [("API JSON", f"/api/v1/reports?month={args.month}")] + [
                    (f"API export {shape}", f"/api/v1/reports/export?month={args.month}&format={shape}")
                    for shape in args.api_exports]
                for what, path in asked:
                    timing = run_api(console, token, path, what, name)
                    result.timings.append(timing)
                    progress(f"{name}: run {run}: {what}: {timing.wall_s:.2f} s, console CPU {timing.cpu_s:.2f} s, "
                             f"/healthz at worst {timing.stall_ms:.0f} ms ({'ok' if timing.ok else timing.note})")
            result.console_mb |= {"after": proc_mem(console.proc.pid)["VmRSS"],
                                  "peak": proc_mem(console.proc.pid)["VmHWM"]}
            errors = console.errors()
            if errors:
                result.notes.append(f"{len(errors)} error lines in the console's log, first: {errors[0]}")
    except Exception as exc:  # one broken backend must not cost the other's figures
        result.error = f"{type(exc).__name__}: {str(exc)[:400]}"
        progress(f"{name}: broke off: {result.error}")
    finally:
        if console is not None:
            console.stop()
        if pg is not None:
            pg.close()
        if args.keep:
            progress(f"{name}: kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def prepare(name: str, url: str, config: Path, result: Backend, args: argparse.Namespace) -> None:
    """The month in the database: written now, or (SQLite) copied from --cache when it holds the
    same month, size, seed and generator."""
    cached = args.cache / f"month-{args.month}-{args.calls}-{args.seed}-g{GENERATOR}.db" if args.cache else None
    target = Path(url.split("///", 1)[-1]) if name == "sqlite" else None
    if cached is not None and target is not None and cached.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target)
        result.notes.append(f"the month copied from {cached} (written by an earlier run)")
        progress(f"{name}: the month copied from {cached}")
        written = json.loads(cached.with_suffix(".json").read_text())
        result.written = Written(**{**written, "dispositions": Counter(written["dispositions"])})
        return
    progress(f"{name}: writing {args.calls} calls for {args.month}")
    result.written = asyncio.run(write_month(config, args.month, args.calls, args.seed))
    if cached is not None and target is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, cached)
        w = result.written
        cached.with_suffix(".json").write_text(json.dumps({**w.__dict__, "dispositions": dict(w.dispositions)}))


# -- report --------------------------------------------------------------------------------------
def report(backends: list[Backend], args: argparse.Namespace) -> list[str]:
    lines = [f"A month ({args.month}) of {args.calls} calls; {args.runs} run(s) of each; load average at the end "
             f"{os.getloadavg()[0]:.2f}. CLI: `callengine report --month {args.month} --format F --out FILE`, wall "
             f"time from the fork to the exit, CPU and peak RSS of the child (os.wait4). API: a supervisor's bearer "
             f"token on the console (INFO), wall time to the last byte, the console's CPU during the request, its "
             f"peak RSS (VmHWM) after it, and its slowest /healthz (polled every 50 ms) meanwhile.", ""]
    for b in backends:
        if b.written:
            lines.append(f"- **{b.name}**: {b.written.line()}; rows stored {b.rows}; written in "
                         + ", ".join(f"{k} {v:.0f} s" for k, v in b.written.seconds.items()))
        for note in b.notes + ([f"broke off: {b.error}"] if b.error else []):
            lines.append(f"- **{b.name}**: {note}")
    lines += ["", row("backend", "what", "runs", "wall s (median)", "min", "max", "CPU s (median)", "peak RSS MB",
                      "output KB", "console's slowest /healthz ms", "ok"), "|" + " --- |" * 11]
    for b in backends:
        for what in dict.fromkeys(t.what for t in b.timings):
            runs = [t for t in b.timings if t.what == what]
            walls = [t.wall_s for t in runs]
            stall = [t.stall_ms for t in runs if not math.isnan(t.stall_ms)]
            lines.append(row(b.name, what, len(runs), f"{median(walls):.2f}", f"{min(walls):.2f}", f"{max(walls):.2f}",
                             f"{median(t.cpu_s for t in runs):.2f}", f"{max(t.maxrss_mb for t in runs):.0f}",
                             f"{max(t.size for t in runs) / 1024:.0f}",
                             f"{max(stall):.0f}" if stall else "-",
                             "yes" if all(t.ok for t in runs) else "; ".join(t.note for t in runs if not t.ok)))
    phased = [t for b in backends for t in b.timings if t.phases]
    if phased:
        names = list(dict.fromkeys(k for t in phased for k in t.phases))
        lines += ["", "Where the CLI's time goes (medians, s; from its progress lines on stderr):", "",
                  row("backend", "format", *names), "|" + " --- |" * (2 + len(names))]
        for b in backends:
            for what in dict.fromkeys(t.what for t in b.timings if t.phases):
                runs = [t for t in b.timings if t.what == what]
                lines.append(row(b.name, what.removeprefix("CLI "),
                                 *(f"{median(t.phases.get(n, 0.0) for t in runs):.2f}" for n in names)))
    for b in backends:
        if b.console_mb:
            lines.append("")
            lines.append(f"- **{b.name}** console RSS: {b.console_mb.get('started', 0):.0f} MB after start, "
                         f"{b.console_mb.get('after', 0):.0f} MB after the requests, peak "
                         f"{b.console_mb.get('peak', 0):.0f} MB")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60000, help="calls in the month (default 60000)")
    parser.add_argument("--month", default=_last_month(), help="YYYY-MM (default: last month, %(default)s)")
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite"],
                        help="default: sqlite")
    parser.add_argument("--runs", type=int, default=3, help="runs of each format and request (default 3)")
    parser.add_argument("--formats", nargs="*", choices=FORMATS, default=list(FORMATS),
                        help="the CLI's formats (default: csv xlsx pdf)")
    parser.add_argument("--no-api", dest="api", action="store_false", help="leave out the console's API")
    parser.add_argument("--api-exports", nargs="*", choices=FORMATS, default=[],
                        help="also time GET /api/v1/reports/export in these formats (default: none)")
    parser.add_argument("--seed", type=int, default=112, help="the month's random seed (default 112)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ce-report-month",
                        help="keep the written SQLite month here and reuse it (default %(default)s; '' for none)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3,000 calls, one run, no cache")
    parser.add_argument("--keep", action="store_true", help="keep the lab folder (config, database, the files)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.runs, args.cache = 3000, 1, None
    elif args.cache is not None and not str(args.cache):
        args.cache = None
    progress(f"report build: {args.calls} calls in {args.month}, backends {' '.join(args.backends)}, "
             f"{args.runs} run(s)")
    backends = [run_backend(name, args) for name in args.backends]
    print("\n".join(report(backends, args)))


def _last_month() -> str:
    first = date.today().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


if __name__ == "__main__":
    main()
