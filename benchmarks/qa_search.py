"""Search over a year of a busy centre (issue 11): 600,000 generated calls with their tickets,
on SQLite and on PostgreSQL. The QA search's queries p50/p99 for the most common filters, in
this process through `CallRepository.search` and over HTTP from the real console
(`GET /api/v1/calls`, bearer token), as migrated (with 0016's search indexes) and, with
--without-0016, again after dropping those indexes; and the time to the first audio of a replay,
over HTTP and in headless Chromium (click on Play → `playing`). Method and figures:
benchmarks/README.md.

The year is written with SQLAlchemy Core into the migrated schema, in bulk, as
`CallRecords.save` would leave it: each call's record, and its ticket (opened at the answer for
an answered call, at the hangup for the others), numbered per local day. It is deterministic
for a seed, so both backends hold the same rows. The SQLite file is built once under --cache
and copied for each run; PostgreSQL (fsync on) is loaded anew each run.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from common import (ROOT, TICK, DurablePostgres, machine_busy, percentile, proc_table,  # first: puts tests/ on the path
                    progress, row, tree_ticks)

from sqlalchemy import event, insert, inspect, text

from callengine.audio.recordings import WAVEFORM_POINTS, process_recording
from callengine.calls.numbers import is_withheld, to_e164
from callengine.calls.record import ABANDONED, ANSWERED, ENDED_IN_IVR, FAILED
from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.models import CallRow, TicketCounterRow, TicketRow
from callengine.ivr.config import load_ivr
from callengine.qa.search import CallSearch
from callengine.tickets.desk import load_desk
from callengine.tickets.model import NEW, TicketNumbers
from console_lab import add_user, cli, log_in
from lab import free_port, write_config
from screenpop import Console    # the console at INFO, as deployed

TARGET_P99_MS = 200.0
GENERATOR = 1            # bump when the generated year changes: the cached SQLite file is rebuilt
ZONE = ZoneInfo("Asia/Makassar")             # Samarinda (WITA), as write_config's centre
YEAR_END = datetime(2026, 12, 1, tzinfo=ZONE)
DAYS = 365
TAKERS = [f"taker{i}" for i in range(1, 41)]
PASSWORD = "teh manis hangat"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900")

# -- the year --------------------------------------------------------------------------------------
HOURS = (0.45, 0.35, 0.28, 0.25, 0.30, 0.45, 0.70, 0.95, 1.15, 1.25, 1.30, 1.30,   # local hour of day
         1.25, 1.20, 1.20, 1.25, 1.30, 1.35, 1.45, 1.50, 1.45, 1.25, 0.95, 0.65)
CATEGORY_WEIGHTS = {"ambulans": 32, "kebakaran": 10, "kriminal": 17, "bencana": 8, "lainnya": 33}   # of a year's calls
OCCASIONAL, FREQUENT, PRANKSTERS = 260_000, 5_000, 300   # callers: most call once or twice a year
PREFIXES = ("811", "812", "813", "821", "822", "823", "851", "852", "853", "877", "878", "895", "896",
            "897", "898", "899", "881", "882", "831", "838", "859")
STREETS = ("Jl. Juanda", "Jl. P. Antasari", "Jl. Pahlawan", "Jl. Slamet Riyadi", "Jl. Gatot Subroto",
           "Jl. Cendana", "Jl. Siradj Salman", "Jl. M. Yamin", "Jl. Letjen Suprapto", "Jl. Ir. H. Juanda",
           "Jl. KH. Wahid Hasyim", "Jl. Dr. Soetomo", "Jl. Pangeran Suryanata", "Jl. AW. Syahranie")
NAMES = ("Budi", "Siti", "Agus", "Dewi", "Rahmat", "Nur", "Andi", "Yuliani", "Hendra", "Rina", "Syahrul",
         "Fitri", "Ahmad", "Wati", "Joko", "Lestari", "Rudi", "Ayu", "Iwan", "Sri")
SAY = ("pelapor melihat langsung", "korban masih di lokasi", "minta segera dikirim bantuan",
       "sudah dihubungi keluarga", "lokasi dekat masjid", "lokasi di gang sempit", "arus lalu lintas padat",
       "pelapor panik, dibantu tenang", "warga sudah berkumpul", "butuh ambulans dan polisi")


@dataclass
class Sample:
    """What the benchmark searches for, drawn while generating (a second seeded generator):
    callers and ticket numbers of random calls, and answered calls to give a recording."""
    callers: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    replays: list[str] = field(default_factory=list)
    seen: int = 0


class Year:
    """A busy centre's year of calls (`calls` in all), the same for the same seed."""

    def __init__(self, calls: int, seed: int) -> None:
        self.total, self.seed = calls, seed
        ivr, desk = load_ivr(ROOT / "config" / "ivr.conf"), load_desk(ROOT / "config" / "desk.conf")
        self.categories, self.priorities, self.desk = ivr.categories, ivr.priorities, desk
        self.category_weights = [CATEGORY_WEIGHTS.get(c, 10) for c in self.categories]
        self.digit_of = {category: digit for digit, category in ivr.options.items()}
        self.numbers = TicketNumbers("SMD", ZONE)     # config/callengine.conf's city_code
        rng = random.Random(seed)
        self.occasional = [_number(rng) for _ in range(OCCASIONAL)]
        self.frequent = [_number(rng) for _ in range(FREQUENT)]
        self.frequent_cum = list(itertools.accumulate(r ** -0.6 for r in range(1, FREQUENT + 1)))
        self.waveforms = [[round(min(1.0, rng.random() ** 1.5 * 1.2), 3) for _ in range(WAVEFORM_POINTS)]
                          for _ in range(64)]
        self.kelurahan = [(kec, kel) for kec, kels in desk.gazetteer.items() for kel in kels]
        weights = [1.0 + (0.08 if (YEAR_END - timedelta(days=DAYS - d)).weekday() >= 5 else 0)
                   + 0.10 * math.cos(2 * math.pi * (d - 60) / DAYS) for d in range(DAYS)]
        for d in rng.sample(range(DAYS), 6):          # floods, a big fire: days of many calls
            weights[d] *= 1.8
        self.per_day = _shares(calls, weights)
        self.sample = Sample()

    def days(self) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]]:
        """Each local day's calls and the tickets numbered so far (a ticket opened at a hangup
        after midnight is the next day's), with the day counters as the store keeps them."""
        rng, pick = random.Random(self.seed + 1), random.Random(self.seed + 2)
        pending: list[dict[str, Any]] = []
        counters: dict[str, int] = {}
        sequence = itertools.count(10_000)
        for d, count in enumerate(self.per_day):
            start = YEAR_END - timedelta(days=DAYS - d)
            start = datetime.combine(start.date(), start.time(), ZONE)
            hours = rng.choices(range(24), weights=HOURS, k=count)
            moments = sorted(start + timedelta(hours=h, seconds=rng.random() * 3600) for h in hours)
            calls = []
            for moment in moments:
                call, ticket = self._call(rng, moment.astimezone(timezone.utc), next(sequence), d)
                calls.append(call)
                pending.append(ticket)
                self._draw(pick, call, ticket)
            tomorrow = (start + timedelta(days=1)).astimezone(timezone.utc)
            done = [t for t in pending if t["created_at"] < tomorrow or d == len(self.per_day) - 1]
            pending = [t for t in pending if t["created_at"] >= tomorrow and d < len(self.per_day) - 1]
            done.sort(key=lambda t: t["created_at"])
            for ticket in done:
                day = self.numbers.day(ticket["created_at"])
                counters[day] = counters.get(day, 0) + 1
                ticket["number"] = self.numbers.number(day, counters[day])
            yield calls, done, counters

    def _draw(self, pick: random.Random, call: dict[str, Any], ticket: dict[str, Any]) -> None:
        """Reservoir samples (Algorithm R) of callers, tickets and answered recorded calls."""
        sample = self.sample
        sample.seen += 1
        for kept, value, size in ((sample.callers, call["caller"], 2000), (sample.tickets, ticket, 2000),
                                  (sample.replays, call["linkedid"] if call["disposition"] == ANSWERED else None, 20)):
            if value is None:
                continue
            if len(kept) < size:
                kept.append(value)
            elif (j := pick.randrange(sample.seen)) < size:
                kept[j] = value

    def _caller(self, rng: random.Random) -> tuple[str, str | None, str, bool]:
        """(raw, E.164, status, a prankster's number)."""
        u = rng.random()
        if u < 0.008:
            return rng.choice(("anonymous", "restricted", "")), None, "withheld", False
        if u < 0.010:
            return rng.choice(("0", "12", "0000", "999")), None, "invalid", False
        if u < 0.30:
            rank = bisect.bisect_left(self.frequent_cum, rng.random() * self.frequent_cum[-1])
            raw, e164 = self.frequent[rank]
            return raw, e164, "ok", rank < PRANKSTERS
        raw, e164 = rng.choice(self.occasional)
        return raw, e164, "ok", False

    def _call(self, rng: random.Random, started: datetime, seq: int, day: int
              ) -> tuple[dict[str, Any], dict[str, Any]]:
        raw, caller, status, prankster = self._caller(rng)
        u = rng.random()
        disposition = ANSWERED if u < 0.60 else ABANDONED if u < 0.76 else ENDED_IN_IVR if u < 0.95 else FAILED
        ghost = rng.random() < {ANSWERED: 0.10, ABANDONED: 0.35, ENDED_IN_IVR: 0.70, FAILED: 0.90}[disposition]
        prank = disposition == ANSWERED and not ghost and rng.random() < (0.6 if prankster else 0.06)
        linkedid = f"{int(started.timestamp())}.{seq}"
        category, ivr, ivr_s = self._ivr(rng, disposition, ghost, prankster)
        answered_at = agent = wait_s = talk_s = hangup_by = None
        if disposition == ANSWERED:
            wait_s = float(min(300, int(rng.lognormvariate(math.log(6), 0.9))))
            answered_at = started + timedelta(seconds=ivr_s + wait_s + rng.random())
            agent = self._taker(rng, answered_at, day)
            talk_s = float(min(1800, int(rng.lognormvariate(math.log(25 if prank else 15 if ghost else 100), 0.7))))
            ended = answered_at + timedelta(seconds=talk_s + rng.random())
            hangup_by = "caller" if rng.random() < 0.6 else "agent" if rng.random() < 0.95 else "transfer"
        elif disposition == ABANDONED:
            wait_s = float(min(600, int(rng.lognormvariate(math.log(20), 0.9))))
            ended, hangup_by = started + timedelta(seconds=ivr_s + wait_s + rng.random()), "caller"
        elif disposition == ENDED_IN_IVR:
            ended = started + timedelta(seconds=ivr_s)
        else:
            ended = started + timedelta(seconds=rng.uniform(0.1, 3.0))
        recording = None if disposition == FAILED else f"{started:%Y/%m/%d}/{linkedid}.wav"
        location, locations = self._location(rng, caller, started, disposition)
        call = {
            "linkedid": linkedid, "caller": caller, "caller_raw": raw, "dialed": "112", "started_at": started,
            "answered_at": answered_at, "ended_at": ended, "category": category,
            "queue": "112" if disposition in (ANSWERED, ABANDONED) else None, "wait_s": wait_s, "agent": agent,
            "talk_s": talk_s, "disposition": disposition, "hangup_cause": 16, "hangup_cause_text": "Normal Clearing",
            "hangup_by": hangup_by, "recording": recording, "ghost": ghost, "prank": prank, "location": location,
            "ivr": ivr, "caller_status": status, "locations": locations,
            "recording_facts": None if recording is None else {
                "path": recording, "browser_copy": recording[:-4] + ".ogg",
                "duration_s": round((ended - started).total_seconds(), 3), "sha256": f"{rng.getrandbits(256):064x}",
                "waveform": rng.choice(self.waveforms)},
            "source": "cel" if rng.random() < 0.004 else "ami",
            "sip_call_id": f"{rng.getrandbits(64):016x}@10.20.0.5" if rng.random() < 0.9 else None,
        }
        return call, self._ticket(rng, call)

    def _ivr(self, rng: random.Random, disposition: str, ghost: bool, prankster: bool
             ) -> tuple[str | None, dict[str, Any], float]:
        """(category, the IVR's notes, seconds in the IVR)."""
        if disposition == FAILED:
            return None, {}, 0.0
        chose = not ghost and rng.random() < (0.25 if disposition == ENDED_IN_IVR else 0.80)
        category = rng.choices(self.categories, weights=self.category_weights)[0] if chose else None
        if chose:
            early = rng.random() < 0.5
            path, ivr_s = (["greeting", "connecting"], rng.uniform(2.5, 4.5)) if early else (
                ["greeting", "menu", "connecting"], rng.uniform(5.5, 9.5))
            digits = self.digit_of[category]
        elif rng.random() < 0.15 and not ghost:
            path, ivr_s, digits = ["greeting", "menu", "operator", "connecting"], rng.uniform(5.5, 9.5), "0"
        else:
            path, ivr_s, digits = ["greeting", "menu", "no_input", "connecting"], 11.5 + rng.random() * 0.2, ""
        if disposition == ENDED_IN_IVR:
            cut = rng.randint(1, len(path) - 1)
            path, ivr_s = path[:cut], ivr_s * cut / len(path)
        notes: dict[str, Any] = {"ivr_path": path, "ivr_digits": digits, "ivr_language": "en" if rng.random() < 0.02
                                 else "id", "ivr_s": round(ivr_s, 3),
                                 "priority": self.priorities["prank" if prankster else category or "none"]}
        if prankster:
            notes["prank_history"] = True
        return category, notes, ivr_s

    @staticmethod
    def _taker(rng: random.Random, at: datetime, day: int) -> str:
        """Three shifts (07, 15, 23 local); each third of the takers moves to the next shift monthly."""
        hour = at.astimezone(ZONE).hour
        shift = 0 if 7 <= hour < 15 else 1 if 15 <= hour < 23 else 2
        group = (shift + day // 30) % 3
        return rng.choice(TAKERS[group::3])

    def _location(self, rng: random.Random, caller: str | None, started: datetime, disposition: str
                  ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if caller is None or caller.startswith("+62541") or disposition == FAILED or rng.random() > 0.55:
            return None, []
        found = []
        for source in ("cell", "aml") if rng.random() < 0.2 else (rng.choices(("aml", "pidf-lo", "cell"),
                                                                               weights=(50, 30, 20))[0],):
            radius = {"aml": rng.uniform(4, 60), "pidf-lo": rng.uniform(50, 500), "cell": rng.uniform(400, 3000)}
            method = {"aml": rng.choice(("gnss", "wifi")), "pidf-lo": "cell", "cell": None}[source]
            at = started + timedelta(seconds=rng.uniform(1, 20))
            found.append({"lat": round(-0.50 + rng.gauss(0, 0.05), 6), "lon": round(117.15 + rng.gauss(0, 0.05), 6),
                          "radius_m": round(radius[source], 1), "source": source, "method": method,
                          "at": at.isoformat(), "detail": {}})
        return min(found, key=lambda loc: loc["radius_m"]), found

    def _ticket(self, rng: random.Random, call: dict[str, Any]) -> dict[str, Any]:
        """As CallRecords.save leaves it: opened at the answer (the taker then fills the form),
        or at the hangup for a call nobody answered."""
        answered = call["answered_at"]
        ticket: dict[str, Any] = {
            "linkedid": call["linkedid"], "status": NEW, "category": call["category"], "caller": call["caller"],
            "created_at": answered or call["ended_at"] + timedelta(seconds=rng.uniform(0.05, 0.5)),
            "taker": call["agent"], "answered_at": answered, "legal_hold": rng.random() < 0.0005, "number": None}
        for key in ("classification", "duplicate_of", "incident_type", "description", "address", "kelurahan",
                    "kecamatan", "lat", "lon", "caller_name", "callback_number", "victims", "priority",
                    "wrapped_up_at", "updated_at"):
            ticket[key] = None
        if answered is None:
            return ticket
        kind = ("prank" if call["prank"] else "ghost" if call["ghost"] else
                rng.choices(("darurat", "informasi", "salah_sambung", "duplikat"), weights=(60, 27, 9, 4))[0])
        wrapped = call["ended_at"] + timedelta(seconds=rng.uniform(10, 150))
        ticket.update(classification=kind, wrapped_up_at=wrapped, updated_at=wrapped)
        if kind in ("darurat", "informasi", "duplikat"):
            kec, kel = rng.choice(self.kelurahan)
            where = call["location"]
            ticket.update(
                incident_type=rng.choice(self.desk.types_for(call["category"])), kecamatan=kec, kelurahan=kel,
                address=f"{rng.choice(STREETS)} No. {rng.randint(1, 250)}, RT {rng.randint(1, 40):02d}",
                description=f"{ticket['category'] or 'laporan'}: {rng.choice(SAY)}; {rng.choice(SAY)}.",
                caller_name=rng.choice(NAMES) if rng.random() < 0.7 else None,
                callback_number=call["caller"] if rng.random() < 0.1 else None,
                victims=rng.randint(0, 3) if call["category"] == "ambulans" else None,
                priority=rng.randint(1, 5), lat=where["lat"] if where else None, lon=where["lon"] if where else None,
                status="selesai" if kind == "darurat" and rng.random() < 0.9 else NEW)
        return ticket


def _number(rng: random.Random) -> tuple[str, str]:
    """A caller's number as the trunk sends it (mostly local 08…), and its E.164 form."""
    digits = (f"8{rng.choice(PREFIXES)[1:]}{rng.randrange(10 ** 7, 10 ** 8)}" if rng.random() < 0.95
              else f"541{rng.randrange(700_000, 800_000)}")
    raw = rng.choices((f"0{digits}", f"62{digits}", f"+62{digits}"), weights=(70, 20, 10))[0]
    e164 = to_e164(raw)
    assert e164 is not None and not is_withheld(raw), raw
    return raw, e164


def _shares(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights`, by largest remainder."""
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[:total - sum(counts)]:
        counts[i] += 1
    return counts


# -- the store -------------------------------------------------------------------------------------
async def load(db: Database, year: Year) -> float:
    """The year into the migrated store, a transaction per ~10,000 calls; its seconds."""
    await db.migrate()
    started, written, shown = time.monotonic(), 0, 0
    calls: list[dict[str, Any]] = []
    tickets: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for d, (day_calls, day_tickets, counters) in enumerate(year.days()):
        calls += day_calls
        tickets += day_tickets
        if len(calls) < 10_000 and d < DAYS - 1:
            continue
        async with db.begin() as c:
            await c.execute(insert(CallRow), calls)
            await c.execute(insert(TicketRow), tickets)
        written += len(calls)
        calls, tickets = [], []
        if written * 20 // year.total > shown or written == year.total:
            shown = written * 20 // year.total
            rate = written / (time.monotonic() - started)
            progress(f"{db.dialect}: {written:,} of {year.total:,} calls and their tickets written "
                     f"({rate:,.0f} calls/s, {(year.total - written) / rate:.0f} s to go)")
    async with db.begin() as c:
        await c.execute(insert(TicketCounterRow), [{"day": k, "last": v} for k, v in counters.items()])
    year.sample.tickets = [t["number"] for t in year.sample.tickets]   # type: ignore[attr-defined]
    return time.monotonic() - started


def schema_head() -> str:
    """The newest migration's file name: a cached database of an older schema is not reused."""
    return max(p.stem for p in (ROOT / "callengine" / "db" / "migrations" / "versions").glob("[0-9]*.py"))


async def cached_sqlite(args: argparse.Namespace) -> tuple[Path, Sample]:
    """The year in a SQLite file under --cache (built on first use) and what to search for."""
    args.cache.mkdir(parents=True, exist_ok=True)
    base = args.cache / f"calls-{args.calls}-seed{args.seed}-g{GENERATOR}-{schema_head()}"
    db_file, sample_file = base.with_suffix(".db"), base.with_suffix(".json")
    if db_file.exists() and sample_file.exists():
        progress(f"sqlite: using the cached year {db_file}")
        return db_file, Sample(**json.loads(sample_file.read_text()))
    partial = base.with_suffix(".partial.db")
    for stale in partial.parent.glob(partial.name + "*"):
        stale.unlink()
    year = Year(args.calls, args.seed)
    db = Database(f"sqlite+aiosqlite:///{partial}")
    try:
        seconds = await load(db, year)
    finally:
        await db.close()
    progress(f"sqlite: the year written in {seconds:.0f} s ({partial.stat().st_size / 2 ** 20:,.0f} MiB)")
    sample_file.write_text(json.dumps({k: v for k, v in vars(year.sample).items()}))
    partial.rename(db_file)
    return db_file, year.sample


# -- the filters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    name: str
    make: Callable[[random.Random, Sample, list[str]], tuple[CallSearch, dict[str, str]]]


def _local_day(rng: random.Random, days: int = 1) -> tuple[datetime, datetime]:
    """A random local day (or `days` days from it) of the year, as the page's from/to make it."""
    first = (YEAR_END - timedelta(days=DAYS)).date() + timedelta(days=rng.randrange(DAYS - days + 1))
    since = datetime.combine(first, datetime.min.time(), ZONE)
    return since, datetime.combine(first + timedelta(days=days), datetime.min.time(), ZONE)


def _month(rng: random.Random) -> tuple[datetime, datetime]:
    first = (YEAR_END - timedelta(days=DAYS)).date()
    month = first.month - 1 + rng.randrange(12)
    since = datetime(first.year + month // 12, month % 12 + 1, 1, tzinfo=ZONE)
    after = month + 1
    return since, datetime(first.year + after // 12, after % 12 + 1, 1, tzinfo=ZONE)


def _span(since: datetime, until: datetime) -> dict[str, str]:
    return {"from": since.isoformat(), "to": until.isoformat()}


def _newest(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    return CallSearch(), {}


def _by_caller(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    e164 = rng.choice(sample.callers)
    return CallSearch(caller=e164), {"caller": "0" + e164[3:]}    # typed as people say it: 0812…


def _by_taker(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    agent, (since, until) = rng.choice(TAKERS), _month(rng)
    return CallSearch(agent=agent, since=since, until=until), {"agent": agent, **_span(since, until)}


def _by_category(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    category, (since, until) = rng.choice(categories), _local_day(rng, 7)
    return CallSearch(category=category, since=since, until=until), {"category": category, **_span(since, until)}


def _by_day(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    since, until = _local_day(rng)
    return CallSearch(since=since, until=until), _span(since, until)


def _by_ticket(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    number = rng.choice(sample.tickets)
    return CallSearch(ticket=number), {"ticket": number}


def _by_talk(rng: random.Random, sample: Sample, categories: list[str]) -> tuple[CallSearch, dict[str, str]]:
    return CallSearch(sort="talk_s"), {"sort": "talk_s"}


FILTERS = (Filter("newest page, no filter", _newest), Filter("caller's number", _by_caller),
           Filter("call taker, one month", _by_taker), Filter("category, one week", _by_category),
           Filter("one day", _by_day), Filter("ticket number", _by_ticket),
           Filter("extra: no filter, sorted by talk time", _by_talk))

# The search's indexes migration 0016 creates (this benchmark proposed them), dropped in the
# benchmark's own database for the --without-0016 measurement: what they are worth on their own,
# beside the search's newer statements (no NULLS LAST on started_at, the count without the join).
INDEXES_0016 = ("ix_calls_started_at_linkedid", "ix_calls_agent_started_at")
AS_MIGRATED, WITHOUT_0016 = "as migrated", "without 0016's indexes"


@dataclass
class Timing:
    backend: str
    where: str          # store (this process) or HTTP (the console)
    indexes: str        # AS_MIGRATED, or WITHOUT_0016
    name: str
    ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    count_ms: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    spent: float = 0.0
    plans: tuple[str, str] = ("", "")     # the page query's and the count's, from EXPLAIN
    others: float = math.nan              # cores other people's work took meanwhile


class StatementClock:
    """The time of each statement the store runs (SQLAlchemy's cursor events): splits a search
    into its page query and its count."""

    def __init__(self, db: Database) -> None:
        self.times: list[tuple[str, Any, float]] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        conn.info[self] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        self.times.append((statement, params, (time.perf_counter() - conn.info.pop(self)) * 1000))

    def split(self) -> tuple[list[tuple[str, Any, float]], list[tuple[str, Any, float]]]:
        """(the page query, the count), of the statements since the last clear."""
        counts = [t for t in self.times if t[0].lstrip().startswith("SELECT count(*)")]
        return [t for t in self.times if t not in counts], counts


EXPLAINED = itertools.count()


async def explain(db: Database, statement: str, params: Any) -> str:
    """What the plan reads and whether it sorts, in a few words. Each EXPLAIN's text is new (a
    numbered comment): SQLite's EXPLAIN QUERY PLAN, once prepared and cached by the driver, gives
    the plan of when it was prepared, even after an index is dropped."""
    tag = f"/* plan {next(EXPLAINED)} */ "
    async with db.connect() as c:
        if db.dialect == "sqlite":
            lines = [r[-1] for r in await c.exec_driver_sql("EXPLAIN QUERY PLAN " + tag + statement, params)]
        else:
            lines = [r[0] for r in await c.exec_driver_sql("EXPLAIN " + tag + statement, params)]
    found: list[str] = []
    for line in lines:
        if m := re.match(r"(?:SCAN|SEARCH) (\w+)(?: USING (?:COVERING )?INDEX (\w+)| USING (INTEGER PRIMARY KEY))?", line):
            found.append(f"{m[1]}: {m[2] or m[3] or 'every row'}")
        elif "TEMP B-TREE" in line:
            found.append("sorts the rest" if "RIGHT PART" in line else "sorts")
        elif m := re.search(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using (\w+))? on (\w+)",
                            line):
            found.append(f"{m[3]}: every row" if m[1] == "Seq Scan" else m[3] if m[1] == "Bitmap Index Scan"
                         else f"{m[3]}: {m[2]}")
        elif m := re.match(r"\s*(?:->\s*)?((?:Incremental )?Sort)\s+\(", line):     # a node, not its Sort Key
            found.append(m[1].lower() + "s" if m[1] == "Sort" else "incremental sort")
    return ", ".join(dict.fromkeys(found))


def plans(args: argparse.Namespace) -> dict[str, list[tuple[CallSearch, dict[str, str]]]]:
    """Each filter's searches, drawn once: every backend and index set runs the same ones."""
    categories = load_ivr(ROOT / "config" / "ivr.conf").categories
    return {f.name: [f.make(random.Random(f"{args.seed}-{f.name}-{i}"), args.sample, categories)
                     for i in range(max(args.runs, args.http_runs) + WARMUP)] for f in FILTERS}


WARMUP = 3   # searches of each filter first, not counted: connections, statement caches


async def measure_store(db: Database, backend: str, indexes: str, args: argparse.Namespace) -> list[Timing]:
    """`CallRepository.search` in this process, the filters taken in turn (so a disturbance from
    outside touches all of them alike), each for --runs searches or --budget-s seconds."""
    repo, clock, searches = CallRepository(db), StatementClock(db), plans(args)
    timings = {name: Timing(backend, "store", indexes, name) for name in searches}
    for name, drawn in searches.items():
        for wanted, _ in drawn[:WARMUP]:
            await repo.search(wanted)
    for i in range(WARMUP, WARMUP + args.runs):
        for name, drawn in searches.items():
            timing = timings[name]
            if timing.spent > args.budget_s:
                continue
            clock.times.clear()
            started = time.perf_counter()
            _, total = await repo.search(drawn[i][0])
            timing.ms.append((time.perf_counter() - started) * 1000)
            timing.spent += timing.ms[-1] / 1000
            timing.totals.append(total)
            page, count = clock.split()
            timing.page_ms += [ms for _, _, ms in page]
            timing.count_ms += [ms for _, _, ms in count]
            if i == WARMUP:
                timing.plans = (await explain(db, *page[0][:2]), await explain(db, *count[0][:2]))
    progress(f"{backend}, {indexes}: " + ", ".join(f"{t.name} p99 {percentile(t.ms, 99):.1f} ms"
                                                    for t in timings.values()))
    return list(timings.values())


async def drop_0016(db: Database) -> None:
    """Drop 0016's search indexes (they must be there: the schema is the migrations')."""
    async with db.connect() as c:
        have = set(await c.run_sync(lambda sync: {i["name"] for i in inspect(sync).get_indexes("calls")}))
    missing = set(INDEXES_0016) - have
    assert not missing, f"not in the migrated schema: {missing}"
    for name in INDEXES_0016:
        async with db.begin() as c:
            await c.execute(text(f"DROP INDEX {name}"))
        progress(f"{db.dialect}: {name} dropped")
    if db.dialect == "postgresql":
        async with db.engine.connect() as c:
            await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE calls"))


# -- the console -----------------------------------------------------------------------------------
def console_on(folder: Path, database: str) -> tuple[Console, str]:
    """A centre's config on this database (recordings in the folder), a QA reviewer qa1 with a
    password and an API token, and the console on it; (console, token)."""
    config = write_config(folder, database=database)
    port = free_port()
    with config.open("a") as conf:
        conf.write(f"[console]\nlisten = 127.0.0.1:{port}\n")
    add_user(config, "qa1", "qa", PASSWORD)
    made = cli(config, "tokens", "create", "qa1")
    assert made.returncode == 0, made.stderr
    return Console(config, port).start(), made.stdout.strip()


async def measure_http(console: Console, token: str, backend: str, indexes: str,
                       args: argparse.Namespace) -> list[Timing]:
    """GET /api/v1/calls with the same searches, one keep-alive connection, the JSON read whole."""
    import aiohttp

    searches = plans(args)
    timings = {name: Timing(backend, "HTTP", indexes, name) for name in searches}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async def get(query: dict[str, str]) -> tuple[float, int]:
            started = time.perf_counter()
            async with http.get(f"{console.url}/api/v1/calls?{urlencode(query)}") as reply:
                body = await reply.read()
            assert reply.status == 200, (reply.status, body[:300])
            return (time.perf_counter() - started) * 1000, int(json.loads(body)["total"])
        for name, drawn in searches.items():
            for _, query in drawn[:WARMUP]:
                await get(query)
        for i in range(WARMUP, WARMUP + args.http_runs):
            for name, drawn in searches.items():
                timing = timings[name]
                if timing.spent > args.budget_s:
                    continue
                ms, total = await get(drawn[i][1])
                timing.ms.append(ms)
                timing.spent += ms / 1000
                timing.totals.append(total)
    progress(f"{backend}, HTTP, {indexes}: " + ", ".join(f"{t.name} p99 {percentile(t.ms, 99):.1f} ms"
                                                          for t in timings.values()))
    return list(timings.values())


# -- replay ----------------------------------------------------------------------------------------
SPEECH = ("Halo, seratus dua belas. Ada kebakaran di Jalan Juanda gang empat, dekat masjid. Apinya sudah "
          "besar, tolong kirim pemadam kebakaran sekarang. Ada orang tua di dalam rumah.")


def make_recording(folder: Path, seconds: float) -> Path:
    """A call's WAV as MixMonitor leaves it (8 kHz, mono, 16 bit): espeak-ng's speech, a pause,
    again, to `seconds`."""
    voice, once = folder / "voice.wav", folder / "once.wav"
    subprocess.run(["espeak-ng", "-v", "id", "-w", str(voice), SPEECH], check=True)
    subprocess.run(["sox", str(voice), "-r", "8000", "-c", "1", "-b", "16", str(once), "pad", "0", "2"], check=True)
    length = float(subprocess.run(["soxi", "-D", str(once)], check=True, capture_output=True, text=True).stdout)
    whole = folder / "call.wav"
    subprocess.run(["sox", str(once), str(whole), "repeat", str(max(0, math.ceil(seconds / length) - 1)),
                    "trim", "0", str(seconds)], check=True)
    return whole


async def give_recordings(db: Database, recordings: Path, linkedids: list[str], seconds: float) -> None:
    """The sampled answered calls get a real recording, processed as the engine does it (SHA-256,
    the browser copy, the waveform), at the path their record names."""
    repo = CallRepository(db)
    calls = [await repo.get(linkedid) for linkedid in linkedids]
    with tempfile.TemporaryDirectory() as scratch:
        wav = make_recording(Path(scratch), seconds)
        first = calls[0]
        assert first is not None and first.recording
        (recordings / first.recording).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, recordings / first.recording)
        facts = await asyncio.to_thread(process_recording, recordings, first.recording)
    copy = Path(facts.browser_copy).suffix
    for call in calls:
        assert call is not None and call.recording
        target = recordings / call.recording
        if call is not first:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(recordings / first.recording, target)
            shutil.copy((recordings / first.recording).with_suffix(copy), target.with_suffix(copy))
        own = {**facts.__dict__, "path": call.recording, "browser_copy": call.recording[:-4] + copy}
        await repo.set_recording_facts(call.linkedid, own)
    progress(f"{db.dialect}: {len(calls)} answered calls got a {seconds:.0f} s recording "
             f"({(recordings / first.recording).stat().st_size // 1024} KiB WAV, "
             f"{(recordings / first.recording).with_suffix(copy).stat().st_size // 1024} KiB {copy})")


@dataclass
class Replay:
    backend: str
    first_byte_ms: list[float] = field(default_factory=list)     # a play: Range bytes=0-
    headers_ms: list[float] = field(default_factory=list)
    later_range_ms: list[float] = field(default_factory=list)    # the player's next range: no hash, no audit
    browser: dict[str, list[float]] = field(default_factory=dict)
    others: dict[str, float] = field(default_factory=dict)       # HTTP, Chromium: others' cores meanwhile
    failures: list[str] = field(default_factory=list)            # Chromium pages that never played


async def measure_audio(console: Console, token: str, linkedids: list[str], replay: Replay,
                        args: argparse.Namespace) -> None:
    """From the request to the first bytes of the browser copy, as a player's first request
    (Range: bytes=0-, so a play: the original's SHA-256 checked and an audit row written), and
    as its later ranges (neither)."""
    import aiohttp

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(WARMUP + args.plays):
            url, size = f"{console.url}/api/v1/calls/{linkedids[i % len(linkedids)]}/audio", 0
            for later, kept in ((False, replay.first_byte_ms), (True, replay.later_range_ms)):
                began = time.perf_counter()
                async with http.get(url, headers={"Range": f"bytes={size // 2 if later else 0}-"}) as reply:
                    headers = time.perf_counter()
                    chunk = await reply.content.readany()
                    first = time.perf_counter()
                    assert reply.status == 206 and chunk, (reply.status, len(chunk))
                    assert reply.headers.get("X-Recording-Integrity") == ("unchecked" if later else "ok"), reply.headers
                    size = int(reply.headers["Content-Range"].rsplit("/", 1)[1])
                    await reply.read()
                if i >= WARMUP:
                    kept.append((first - began) * 1000)
                    if not later:
                        replay.headers_ms.append((headers - began) * 1000)
    progress(f"{replay.backend}: audio first bytes p50 {percentile(replay.first_byte_ms, 50):.1f} ms, "
             f"p99 {percentile(replay.first_byte_ms, 99):.1f} ms over {len(replay.first_byte_ms)} plays")


ARM_JS = """
const audio = document.getElementById('audio');
const seen = (window.qaBench = {buffered: audio.buffered.length ? audio.buffered.end(audio.buffered.length - 1) : 0});
document.getElementById('play').addEventListener('click', (e) => { seen.click = e.timeStamp; }, {capture: true, once: true});
audio.addEventListener('playing', (e) => { seen.playing = e.timeStamp; audio.pause(); }, {once: true});
audio.addEventListener('error', () => { seen.error = String(audio.error && audio.error.message); }, {once: true});
"""
LOADED_JS = """
const e = performance.getEntriesByType('resource').filter(r => r.name.includes('/audio'));
return {page_bytes: performance.getEntriesByType('navigation')[0].responseStart, requests: e.length,
        first_request: e.length ? e[0].startTime : null, first_bytes: e.length ? e[0].responseStart : null,
        ttfb: e.length ? e[0].responseStart - e[0].requestStart : null};
"""


def measure_browser(console: Console, linkedids: list[str], replay: Replay, args: argparse.Namespace) -> None:
    """Headless Chromium as a reviewer: open the call's page, wait for its waveform, then click
    Play; times from the page's own clock. The <audio> is preload="none" (b6df6ad): its first
    request for the copy leaves at the click."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    kept = replay.browser
    state = ("const a = document.getElementById('audio'), p = window.callenginePlayer;"
             " return {ready: a.readyState, network: a.networkState, error: a.error && a.error.message,"
             " waveform: !!(p && p.waveform), played: window.qaBench || null};")
    try:
        log_in(browser, console.url, "qa1", PASSWORD)
        WebDriverWait(browser, 30).until(lambda b: "/login" not in b.current_url)
        for i in range(1 + args.browser_plays):      # the first page warms Chromium's caches
            browser.get(f"{console.url}/calls/{linkedids[i % len(linkedids)]}")
            try:
                WebDriverWait(browser, 60).until(lambda b: b.execute_script(
                    "return !!(window.callenginePlayer && window.callenginePlayer.waveform)"))
                if i == 0:               # opened, not played: is it audited as a play all the same?
                    continue
                before = browser.execute_script(LOADED_JS)["requests"]
                browser.execute_script(ARM_JS)
                browser.find_element(By.ID, "play").click()          # a real click: the user's gesture
                marks = WebDriverWait(browser, 60).until(lambda b: b.execute_script(
                    "const s = window.qaBench; return (s.playing !== undefined || s.error !== undefined) && s"))
                # a request's Resource Timing entry is written when its response ends
                loaded = WebDriverWait(browser, 10).until(lambda b: (got := b.execute_script(LOADED_JS))[
                    "first_bytes"] is not None and got)
            except TimeoutException:
                replay.failures.append(f"page {i}: {browser.execute_script(state)}")
                continue
            if "error" in marks:
                replay.failures.append(f"page {i}: {marks}")
                continue
            for key, value in (("page's first byte (from navigation)", loaded["page_bytes"]),
                               ("audio requests before the click (not ms)", before),
                               ("click on Play → the audio's first request", loaded["first_request"] - marks["click"]),
                               ("click on Play → the audio's first bytes", loaded["first_bytes"] - marks["click"]),
                               ("the audio's request → its first bytes", loaded["ttfb"]),
                               ("click on Play → playing", marks["playing"] - marks["click"]),
                               ("seconds of audio buffered at the click (not ms)", marks["buffered"])):
                kept.setdefault(key, []).append(float(value))
    finally:
        browser.quit()
    progress(f"{replay.backend}: Chromium click → playing p50 "
             f"{percentile(kept.get('click on Play → playing', []), 50):.1f} ms over {args.browser_plays} pages; "
             f"failed: {replay.failures or 'none'}")


# -- one backend -----------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    timings: list[Timing] = field(default_factory=list)
    replay: Replay | None = None
    load_s: float | None = None           # None: the cached SQLite file
    size_mib: float = 0.0
    notes: list[str] = field(default_factory=list)


async def run_backend(name: str, args: argparse.Namespace, folder: Path) -> Backend:
    result, pg = Backend(name), None
    try:
        if name == "sqlite":
            cached, sample = await cached_sqlite(args)
            db_file = folder / "calls.db"
            shutil.copy(cached, db_file)
            url = config_url = f"sqlite+aiosqlite:///{db_file}"
            result.size_mib = db_file.stat().st_size / 2 ** 20
        else:
            pg = DurablePostgres(fsync=True)
            pg.start()
            url = pg.create_database("qa")
            config_url = url.replace("+asyncpg", "")
            year = Year(args.calls, args.seed)
            db = Database(url)
            try:
                result.load_s = await load(db, year)
                async with db.engine.connect() as c:   # autovacuum's work after a load, done now
                    await (await c.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
                    result.size_mib = (await c.execute(text("SELECT pg_database_size('qa')"))).scalar_one() / 2 ** 20
            finally:
                await db.close()
            sample = year.sample
        if args.sample is not None and vars(args.sample) != vars(sample):
            raise SystemExit("the two backends' samples differ: not the same year")
        args.sample = sample
        db = Database(url)
        try:
            await measure(db, result, folder, config_url, args,
                          Others([os.getpid(), *([pg.postmaster()] if pg is not None else [])]))
        finally:
            await db.close()
    finally:
        if pg is not None:
            pg.close()
    return result


async def measure(db: Database, result: Backend, folder: Path, config_url: str, args: argparse.Namespace,
                  others: Others) -> None:
    name = result.name
    result.timings += others.lap(await measure_store(db, name, AS_MIGRATED, args))
    console = None
    try:
        if args.http_runs or args.plays or args.browser_plays:
            replays = args.sample.replays[:5]
            await give_recordings(db, folder / "rec", replays, args.recording_s)
            console, token = console_on(folder, config_url)
            others.lap([])
            result.timings += others.lap(await measure_http(console, token, name, AS_MIGRATED, args))
            result.replay = Replay(name)
            await measure_audio(console, token, replays, result.replay, args)
            result.replay.others["HTTP"] = others.lap([])
            if args.browser_plays:
                await asyncio.to_thread(measure_browser, console, replays, result.replay, args)
                result.replay.others["Chromium"] = others.lap([])
            async with db.connect() as c:
                plays = (await c.execute(text("SELECT count(*) FROM audit WHERE action = 'recording.play'"))).scalar_one()
            result.notes.append(f"audit: {plays} recording.play rows for {WARMUP + args.plays} plays over HTTP, "
                                f"{args.browser_plays} call pages played in Chromium and "
                                f"{1 if args.browser_plays else 0} opened without pressing Play")
        if args.without_0016:
            await drop_0016(db)
            others.lap([])
            result.timings += others.lap(await measure_store(db, name, WITHOUT_0016, args))
            if console is not None:
                result.timings += others.lap(await measure_http(console, token, name, WITHOUT_0016, args))
        if console is not None:
            if errors := console.errors():
                result.notes.append(f"console errors: {errors[:3]}")
            if result.replay is not None and result.replay.failures:
                result.notes.append(f"Chromium pages that did not play: {result.replay.failures}")
    finally:
        if console is not None:
            console.stop()


class Others:
    """The cores other people's work took meanwhile: the machine's busy time minus this
    benchmark's own process tree (the console, Chromium) and PostgreSQL's."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.mark = self._now()

    def _now(self) -> tuple[float, int, int]:
        table = proc_table()
        return time.monotonic(), machine_busy(), sum(sum(tree_ticks(table, root)) for root in self.roots)

    def lap(self, timings: list[Timing]) -> Any:
        """The cores others took since the last lap, written into `timings` (returned), or returned
        when there are none."""
        (then, machine, own), self.mark = self.mark, self._now()
        now, machine_now, own_now = self.mark
        cores = max(0.0, ((machine_now - machine) - (own_now - own)) / TICK / (now - then))
        for timing in timings:
            timing.others = cores
        return timings if timings else cores


# -- report ----------------------------------------------------------------------------------------
def f(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def report(results: list[Backend], args: argparse.Namespace) -> list[str]:
    lines = [f"{args.calls:,} calls over one year (seed {args.seed}); target: p99 < {TARGET_P99_MS:.0f} ms", "",
             row("backend", "where", "indexes", "filter", "searches", "rows found (median)", "p50 ms", "p99 ms",
                 "max ms", "page query p50 / p99 ms", "count p50 / p99 ms", "p99 < 200 ms", "others' cores"),
             "|" + " --- |" * 13]
    for b in results:
        for t in b.timings:
            split = (f"{f(percentile(t.page_ms, 50))} / {f(percentile(t.page_ms, 99))}" if t.page_ms else "-",
                     f"{f(percentile(t.count_ms, 50))} / {f(percentile(t.count_ms, 99))}" if t.count_ms else "-")
            met = "met" if percentile(t.ms, 99) < TARGET_P99_MS else "**NOT met**"
            lines.append(row(t.backend, t.where, t.indexes, t.name, len(t.ms),
                             f"{percentile(t.totals, 50):,}" if t.totals else "-", f(percentile(t.ms, 50)),
                             f(percentile(t.ms, 99)), f(max(t.ms, default=math.nan)), *split,
                             met if t.totals else "-", f"{t.others:.2f}"))
    lines += ["", row("backend", "indexes", "filter", "page query plan", "count plan"), "|" + " --- |" * 5]
    lines += [row(t.backend, t.indexes, t.name, *t.plans) for b in results for t in b.timings
              if t.where == "store" and t.totals]
    replays = [b for b in results if b.replay is not None]
    if replays:
        lines += ["", row("backend", "time to first audio", "n", "p50 ms", "p99 ms", "max ms", "others' cores"),
                  "|" + " --- |" * 7]
        for b in replays:
            r = b.replay
            assert r is not None
            for label, values in (("HTTP: request → headers, a play (Range bytes=0-)", r.headers_ms),
                                  ("HTTP: request → first audio bytes, a play (Range bytes=0-)", r.first_byte_ms),
                                  ("HTTP: request → first audio bytes, a later range", r.later_range_ms),
                                  *((f"Chromium: {k}", v) for k, v in r.browser.items())):
                where = label.split(":")[0]
                lines.append(row(b.name, label, len(values), f(percentile(values, 50)), f(percentile(values, 99)),
                                 f(max(values, default=math.nan)), f"{r.others.get(where, math.nan):.2f}"))
    lines.append("")
    for b in results:
        loaded = "cached file copied" if b.load_s is None else f"loaded in {b.load_s:.0f} s"
        lines.append(f"- {b.name}: {b.size_mib:,.0f} MiB, {loaded}; " + "; ".join(b.notes))
    lines.append(f"- load average {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=600_000, help="calls in the year (default 600000)")
    parser.add_argument("--seed", type=int, default=1, help="the year's seed (default 1)")
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=100, help="searches per filter in this process (default 100)")
    parser.add_argument("--http-runs", type=int, default=50, help="searches per filter over HTTP (default 50; 0: none)")
    parser.add_argument("--budget-s", type=float, default=20,
                        help="stop a filter's searches after this many seconds of them (default 20)")
    parser.add_argument("--plays", type=int, default=50, help="plays of a recording over HTTP (default 50)")
    parser.add_argument("--browser-plays", type=int, default=10, help="call pages played in Chromium (default 10; 0: none)")
    parser.add_argument("--recording-s", type=float, default=120, help="length of the recording (default 120 s)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "callengine-qa-bench",
                        help="where the generated SQLite year is kept between runs")
    parser.add_argument("--without-0016", action="store_true",
                        help="then drop migration 0016's search indexes and measure the searches again "
                             "(store and HTTP; 4-5 more minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (config, database copy, recordings)")
    args = parser.parse_args()
    args.sample = None
    folder = Path(tempfile.mkdtemp(prefix="ce-qa-bench-"))
    try:
        results = []
        for backend in args.backends:
            (folder / backend).mkdir()
            results.append(asyncio.run(run_backend(backend, args, folder / backend)))
            if not args.keep:
                shutil.rmtree(folder / backend, ignore_errors=True)
    finally:
        if args.keep:
            progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(report(results, args)))


if __name__ == "__main__":
    main()
