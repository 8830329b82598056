"""Dispatch to the duty phone ringing (issue 10): from the dispatch (POST
/api/v1/tickets/{n}/dispatch) to Asterisk ringing the agency's duty phone, one dispatch at a time,
against a plain AMI Originate and the engine's own notify command to the same phone in the same
rounds; then floods of dispatches at once to that one phone: how many are delivered (diterima by
the phone), how many fail, whether any is lost, and in how long. Figures and method:
benchmarks/README.md.

One centre for the whole run, built as tests/integration/test_duty_phone.py builds it: a real
Asterisk 16 with the project's config (tests/integration/lab.py, SQLite), the engine (`callengine
run`) and the console (`callengine console`) at INFO as deployed, the shipped agencies.conf with
DAMKAR's one duty phone, a pjsua2 bot in this process on the telco side (127.0.0.2) that Asterisk
reaches through the trunk ([notify] voice_dial names the bot's port). The phone answers at once,
waits until it hears the spoken message, presses 1 and listens to the thanks until Asterisk hangs
up; a phone with all its lines busy answers 486 Busy Here. Runs in a private loopback-only network
namespace (re-executes itself under `unshare --net`). Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import Engine, enter_loopback_namespace, percentile, progress, row  # first: tests/ on the path

from callengine.calls.callback import national
from callengine.calls.dutyphone import CALLER_ID
from callengine.core.settings import load_secrets
from callengine.dispatch.config import load_voice
from callengine.dispatch.voice import CONFIRM_TEXT, SpokenMessages
from console_lab import add_user, call_records, cli, console_beside, save_all
from lab import AmiWatcher, Lab
from queue_delivery import Ami
from screenpop import Console
from test_console_tickets import PASSWORD, call
from test_duty_phone import DUTY, FIRE, agencies, api, records_now, voice_rows

ACCOUNT = national(DUTY)         # the bot's user part, as the test names it
RING = "30s"                     # [notify] voice_ring as shipped
FLOODS = ("2/60s/1", "10/5s/1", "10/5s/4")   # voice_retries / voice_retry_after / the phone's lines


# -- the duty phone ------------------------------------------------------------------------------
@dataclass
class Ring:
    """One INVITE that reached the phone, and what the phone did with it (monotonic seconds)."""
    arrived: float
    answered: float | None = None
    heard: float | None = None
    pressed: float | None = None
    ended: float | None = None
    declined: bool = False
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)


class DutyPhone:
    """DAMKAR's duty phone: the bot with `lines` lines. Each INVITE is stamped as pjsua hands it
    to the phone (on the pj thread, in this process: the moment Asterisk's INVITE arrived); the
    bot rings (180) and this phone answers it, or declines it with 486 when its lines are taken
    or `accepting` is off (the baseline rounds). pjsua itself answers 486 beyond its own limit of
    call legs (SipBots.max_calls), before any callback: those INVITEs are not seen here."""

    def __init__(self, bots: Any, lines: int) -> None:
        self.bot = bots.call_taker(ACCOUNT, "", None, bind_ip="127.0.0.2", auto_answer=False)
        self.port = int(self.bot.uri.rsplit(":", 1)[1])
        self.lines, self.accepting = lines, True
        self.rings: list[Ring] = []
        self.changed = threading.Condition()
        self._taken = 0
        self._arrivals: queue.Queue[tuple[Any, Ring] | None] = queue.Queue()
        ring = self.bot.ring

        def stamped(bot_call: Any) -> None:     # pj thread
            arrived = time.monotonic()
            ring(bot_call)                      # 180 Ringing
            self._arrivals.put((bot_call, Ring(arrived)))

        self.bot.ring = stamped  # type: ignore[method-assign]
        threading.Thread(target=self._serve, daemon=True, name="duty phone").start()

    def wait_ring(self, index: int, timeout: float) -> Ring:
        """The index-th INVITE this phone saw (0 first)."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.rings) > index, timeout):
                raise TimeoutError(f"the duty phone did not ring within {timeout} s")
            return self.rings[index]

    def busiest(self, since: int) -> int:
        """The most calls this phone had answered at once, among the rings from index `since`."""
        with self.changed:
            spans = [(r.answered, r.ended or time.monotonic()) for r in self.rings[since:]
                     if r.answered is not None]
        return most_at_once(spans)

    def close(self) -> None:
        self._arrivals.put(None)
        self.bot.close()

    def _serve(self) -> None:
        while (arrival := self._arrivals.get()) is not None:
            bot_call, ring = arrival
            with self.changed:
                self.rings.append(ring)
                take = self.accepting and self._taken < self.lines
                self._taken += take
                self.changed.notify_all()
            target = self._take if take else self._decline
            threading.Thread(target=target, args=(bot_call, ring), daemon=True).start()

    def _take(self, bot_call: Any, ring: Ring) -> None:
        try:
            bot_call.answer(200)
            ring.answered = time.monotonic()
            bot_call.wait_heard(15)             # the spoken message, as RTP loud enough to hear
            ring.heard = time.monotonic()
            bot_call.send_dtmf("1")
            ring.pressed = time.monotonic()
            bot_call.wait_state("disconnected", 30)   # "Terima kasih. Tugas diterima.", then Asterisk hangs up
        except Exception as exc:  # noqa: BLE001 - the round reports it; the phone goes on
            ring.error = f"{type(exc).__name__}: {exc}"
            bot_call.hangup()
        finally:
            ring.ended = time.monotonic()
            with self.changed:
                self._taken -= 1
            ring.done.set()

    def _decline(self, bot_call: Any, ring: Ring) -> None:
        ring.declined = True
        try:
            bot_call.hangup(486)
            bot_call.wait_state("disconnected", 10)
        except Exception as exc:  # noqa: BLE001
            ring.error = f"{type(exc).__name__}: {exc}"
        finally:
            ring.ended = time.monotonic()
            ring.done.set()


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans open at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


# -- the centre ----------------------------------------------------------------------------------
@dataclass
class Centre:
    lab: Lab
    phone: DutyPhone
    engine: Engine
    console: Console
    ami: Ami
    token: str
    agencies_file: Path
    channel: str                  # the Originate channel that reaches the phone ([notify] voice_dial)
    tickets: list[str]
    notify: tuple[int, str] = (0, "")   # [notify] voice_retries, voice_retry_after the console runs with

    @property
    def voice_dir(self) -> Path:
        return self.lab.settings.runtime_dir / "voice"

    def next_ticket(self) -> str:
        return self.tickets.pop(0)

    def set_notify(self, retries: int, retry_after: str) -> None:
        """[notify] voice_retries and voice_retry_after in agencies.conf; the console restarted
        on it when they change (it reads them at start; the engine needs only ring and dial)."""
        if (retries, retry_after) == self.notify:
            return
        text = self.agencies_file.read_text()
        text = re.sub(r"voice_retries = \S+", f"voice_retries = {retries}", text)
        self.agencies_file.write_text(re.sub(r"voice_retry_after = \S+", f"voice_retry_after = {retry_after}", text))
        if self.notify != (0, ""):
            self.console.stop()
            self.console = Console(self.lab.config_file, self.console.port).start()
            wait_linked(self.console)
        self.notify = (retries, retry_after)


def build(folder: Path, bots: Any, tickets: int, lines: int, retries: int, retry_after: str) -> Centre:
    """The centre of test_duty_phone.centre(), with the engine and the console at INFO."""
    lab = Lab.start(folder)
    phone = DutyPhone(bots, lines)
    try:
        conf = agencies(lab.folder, phone.port, RING, retries)
        text = conf.read_text()
        conf.write_text(re.sub(r"voice_retry_after = \S+", f"voice_retry_after = {retry_after}", text))
        lab.config_file.write_text(lab.config_file.read_text().replace(
            "[paths]\n", f"[paths]\nagencies = {conf}\n", 1))
        engine = Engine(lab.config_file).start()
        lab.engines.append(engine)
        numbers = seed(lab.config_file, tickets)
        add_user(lab.config_file, "taker1", "calltaker", PASSWORD)
        token = cli(lab.config_file, "tokens", "create", "taker1").stdout.strip()
        port = console_beside(lab.config_file).port     # [console] listen on a free port, in the lab's config
        console = Console(lab.config_file, port).start()
        wait_linked(console)
        asyncio.run(SpokenMessages(lab.settings.runtime_dir / "voice").wav(CONFIRM_TEXT))   # for the notify rounds
        channel = load_voice(conf).channel(ACCOUNT)
        return Centre(lab, phone, engine, console, Ami(AmiWatcher(lab.settings)), token, conf, channel, numbers,
                      (retries, retry_after))
    except Exception:
        phone.close()
        lab.close()
        raise


def wait_linked(console: Console) -> None:
    """Until the console follows the engine's live stream (the phone's word comes that way)."""
    console.wait_log("engine live stream connected", timeout=30)


def seed(config_file: Path, count: int) -> list[str]:
    """`count` answered calls, each its own caller, and their tickets made fires as the test's
    fire_ticket does: each dispatch has a ticket (and a spoken message) of its own."""
    async def make() -> list[str]:
        async with call_records(config_file) as records:
            numbers = await save_all(records, [call(f"10.{i}", f"+628129{i:07d}", "answered", 5)
                                               for i in range(1, count + 1)])
            now = records_now()
            for number in numbers.values():
                await records.tickets.change(number, FIRE, now)
            return list(numbers.values())
    return asyncio.run(make())


def engine_notify(centre: Centre, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/live/notify on the engine, as the console's link sends it."""
    settings = centre.lab.settings
    request = urllib.request.Request(f"http://127.0.0.1:{settings.web_port}/api/live/notify", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {load_secrets(settings)['engine_api']}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return dict(json.load(reply))


def epoch(entry: dict[str, Any]) -> float:
    """A JSON log line's own time (ms resolution)."""
    return datetime.fromisoformat(entry["ts"]).timestamp()


def logged(process: Any, msg: str, start: int = 0) -> list[dict[str, Any]]:
    with process.changed:
        return [e for e in process.lines[start:] if e.get("msg") == msg]


# -- one at a time -------------------------------------------------------------------------------
@dataclass
class Round:
    ami_ms: float = 0.0            # AMI Originate sent → INVITE at the phone
    notify_ms: float = 0.0         # the engine's notify command sent → INVITE
    dispatch_ms: float = 0.0       # POST /dispatch sent → INVITE
    reply_ms: float = 0.0          # POST /dispatch sent → its 201
    wav_ms: float = 0.0            # POST /dispatch sent → the message's WAV written (espeak-ng)
    accepted_ms: float = 0.0       # POST /dispatch sent → the console accepted (diterima)
    pressed_ms: float = 0.0        # INVITE → 1 pressed on the phone (answer, hear, press)
    held_ms: float = 0.0           # INVITE → the call ended (Asterisk hung up after the thanks): the line taken
    result: str = ""
    error: str = ""


def one_round(centre: Centre, number: int) -> Round:
    result = Round()
    phone = centre.phone
    # the baseline: AMI straight to the phone, as the engine's [dutyphone-out] Dial does it
    phone.accepting = False
    index, mark = len(phone.rings), centre.ami.mark()
    started = time.monotonic()
    reply = centre.ami.action("Originate", Channel=centre.channel, Application="Wait", Data="1",
                              CallerID=CALLER_ID, Timeout="10000", Async="true")
    ring = phone.wait_ring(index, 15)
    result.ami_ms = (ring.arrived - started) * 1000
    action = reply[0]["ActionID"]
    centre.ami.wait(lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == action, mark, 15)
    ring.done.wait(15)
    # the engine's own command, as the console sends it (its Local channel through [dutyphone-out])
    index, start = len(phone.rings), len(centre.engine.lines)
    started = time.monotonic()
    placed = engine_notify(centre, {"assignment_id": 900000 + number, "agency": "DAMKAR", "phone": DUTY,
                                    "ticket": f"BENCH-{number}", "prompt": SpokenMessages.name(CONFIRM_TEXT)})
    ring = phone.wait_ring(index, 15)
    result.notify_ms = (ring.arrived - started) * 1000
    centre.engine.wait_log("duty phone call ended", timeout=15, start=start, call=placed["call_id"])
    ring.done.wait(15)
    # the dispatch, through the console
    phone.accepting = True
    ticket, index, start = centre.next_ticket(), len(phone.rings), len(centre.console.lines)
    wavs = set(centre.voice_dir.glob("*.wav"))
    wall, started = time.time(), time.monotonic()
    status, body = api(centre.console, centre.token, "POST", f"/api/v1/tickets/{ticket}/dispatch",
                       {"agencies": ["DAMKAR"]})
    result.reply_ms = (time.monotonic() - started) * 1000
    if status != 201:
        raise RuntimeError(f"dispatch of {ticket} answered {status}: {body}")
    assignment = body["assignments"][0]["id"]
    ring = phone.wait_ring(index, 30)
    result.dispatch_ms = (ring.arrived - started) * 1000
    done = centre.console.wait_log("duty phone round", timeout=60, start=start, assignment=assignment)
    result.result = str(done.get("result"))
    ring.done.wait(30)
    result.error = ring.error
    accepted = [e for e in logged(centre.console, "assignment accepted by phone", start)
                if e.get("assignment") == assignment]
    if accepted:
        result.accepted_ms = (epoch(accepted[0]) - wall) * 1000
    if ring.pressed is not None and ring.ended is not None:
        result.pressed_ms = (ring.pressed - ring.arrived) * 1000
        result.held_ms = (ring.ended - ring.arrived) * 1000
    made = set(centre.voice_dir.glob("*.wav")) - wavs
    if made:
        result.wav_ms = (max(p.stat().st_mtime for p in made) - wall) * 1000
    return result


def sequential(centre: Centre, count: int) -> list[Round]:
    progress(f"one at a time: {count} rounds of AMI Originate, engine notify, dispatch")
    rounds = []
    for number in range(1, count + 1):
        rounds.append(one_round(centre, number))
        if number % 10 == 0 or number == count:
            progress(f"{number} rounds; last: AMI {rounds[-1].ami_ms:.0f} ms, notify {rounds[-1].notify_ms:.0f} ms, "
                     f"dispatch {rounds[-1].dispatch_ms:.0f} ms, diterima {rounds[-1].accepted_ms:.0f} ms")
    return rounds


# -- a flood -------------------------------------------------------------------------------------
@dataclass
class Post:
    wall: float
    sent: float
    returned: float
    status: int
    assignment: int | None
    error: str = ""


@dataclass
class Flood:
    name: str
    retries: int
    retry_after: str
    lines: int
    posts: list[Post] = field(default_factory=list)
    first_ring_ms: float = 0.0
    settled_s: float = 0.0                                        # first POST sent → every delivery decided
    accepted: dict[int, float] = field(default_factory=dict)      # assignment → s from its POST to diterima
    rows: Counter[str] = field(default_factory=Counter)           # voice rows in the delivery log, by status
    last_errors: Counter[str] = field(default_factory=Counter)    # the failed rows' last error
    no_row: int = 0
    attempts: Counter[int] = field(default_factory=Counter)       # assignment → calls placed by the engine
    results: Counter[str] = field(default_factory=Counter)        # how the engine's calls ended
    first_call_s: list[float] = field(default_factory=list)       # POST sent → the engine placed its first call
    engine_most: int = 0
    rings: int = 0
    declined: int = 0
    phone_most: int = 0
    timed_out: bool = False
    errors: list[str] = field(default_factory=list)


def flood(centre: Centre, spec: str, count: int) -> Flood:
    retries, retry_after, lines = spec.split("/")
    result = Flood(spec, int(retries), retry_after, int(lines))
    centre.set_notify(result.retries, result.retry_after)
    phone = centre.phone
    phone.lines, phone.accepting = result.lines, True
    tickets = [centre.next_ticket() for _ in range(count)]
    rings, engine_start, console_start = len(phone.rings), len(centre.engine.lines), len(centre.console.lines)
    gate = threading.Barrier(count)
    progress(f"flood {spec}: {count} dispatches at once; voice_retries {retries}, voice_retry_after {retry_after}, "
             f"the phone takes {lines} call(s) at once")

    def post(ticket: str) -> Post:
        gate.wait()
        wall, sent = time.time(), time.monotonic()
        try:
            status, body = api(centre.console, centre.token, "POST", f"/api/v1/tickets/{ticket}/dispatch",
                               {"agencies": ["DAMKAR"]})
        except Exception as exc:  # noqa: BLE001 - a POST that failed is a figure
            return Post(wall, sent, time.monotonic(), 0, None, f"{type(exc).__name__}: {exc}")
        assignment = body["assignments"][0]["id"] if status == 201 else None
        return Post(wall, sent, time.monotonic(), status, assignment, "" if status == 201 else str(body)[:200])

    with ThreadPoolExecutor(count) as pool:
        result.posts = list(pool.map(post, tickets))
    first = min(p.sent for p in result.posts)
    progress(f"flood {spec}: {sum(p.status == 201 for p in result.posts)} of {count} POSTs answered 201 in "
             f"{max(p.returned for p in result.posts) - first:.2f} s")
    wanted = {p.assignment for p in result.posts if p.assignment is not None}

    def decided() -> set[Any]:
        lines_ = centre.console.lines[console_start:]
        return {e.get("assignment") for e in lines_
                if e.get("msg") in ("duty phone delivery sent", "duty phone delivery failed")}

    limit = (result.retries + 1) * (seconds(RING) + seconds(result.retry_after) + 20) + 60
    with centre.console.changed:
        result.timed_out = not centre.console.changed.wait_for(lambda: wanted <= decided(), limit)
    result.settled_s = time.monotonic() - first
    for ring in phone.rings[rings:]:
        ring.done.wait(40)
    progress(f"flood {spec}: every delivery decided at {result.settled_s:.1f} s" if not result.timed_out else
             f"flood {spec}: gave up waiting after {limit:.0f} s")
    by_assignment = {p.assignment: p for p in result.posts if p.assignment is not None}
    for entry in logged(centre.console, "assignment accepted by phone", console_start):
        post_ = by_assignment.get(entry.get("assignment"))
        if post_ is not None:
            result.accepted.setdefault(entry["assignment"], epoch(entry) - post_.wall)
    statuses = final_rows(centre, wanted)
    for found in statuses.values():
        result.rows.update(status for status, _ in found)
        result.last_errors.update(error for status, error in found if status == "failed")
        result.no_row += not found
    spans: dict[str, list[float]] = {}
    for entry in logged(centre.engine, "duty phone called", engine_start):
        if entry.get("assignment") in by_assignment:
            result.attempts[entry["assignment"]] += 1
            spans[entry["call"]] = [epoch(entry)]
            if result.attempts[entry["assignment"]] == 1:
                result.first_call_s.append(epoch(entry) - by_assignment[entry["assignment"]].wall)
    for entry in logged(centre.engine, "duty phone call ended", engine_start):
        if entry.get("call") in spans:
            result.results[str(entry.get("result"))] += 1
            spans[entry["call"]].append(epoch(entry))
    result.engine_most = most_at_once([(s[0], s[-1] if len(s) > 1 else time.time()) for s in spans.values()])
    seen = phone.rings[rings:]
    result.rings, result.declined = len(seen), sum(r.declined for r in seen)
    result.first_ring_ms = (min(r.arrived for r in seen) - first) * 1000 if seen else 0.0
    result.phone_most = phone.busiest(rings)
    result.errors = [p.error for p in result.posts if p.error] + [r.error for r in seen if r.error]
    return result


def final_rows(centre: Centre, assignments: set[int], timeout: float = 10) -> dict[int, list[tuple[str, str]]]:
    """Each assignment's voice rows (status, last error), once none is pending (the notifier has
    closed them when it logs the delivery sent or failed), or as they are after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = {a: [(r[2], r[4]) for r in voice_rows(centre.lab, a) if r[0] == "voice"] for a in assignments}
        if all(s and all(status != "pending" for status, _ in s) for s in found.values()) \
                or time.monotonic() > deadline:
            return found
        time.sleep(0.2)  # wait-ok: another process's database rows have no event to wait on


def seconds(duration: str) -> float:
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"s": 1, "m": 60, "h": 3600}[unit]


# -- report --------------------------------------------------------------------------------------
def stats(values: list[float]) -> list[str]:
    if not values:
        return ["-"] * 5
    return [f"{percentile(values, q):.0f}" for q in (50, 90, 99)] + [f"{max(values):.0f}", f"{values[0]:.0f}"]


def report(rounds: list[Round], floods: list[Flood], args: argparse.Namespace, max_calls: int) -> list[str]:
    lines = [f"One at a time: {len(rounds)} rounds, each an AMI Originate, an engine notify command and a dispatch "
             f"of a new ticket (a new message to speak), to the one duty phone; the phone declines the first two "
             f"(486) and answers the dispatch's at once, presses 1 when it hears the message.", "",
             row("from → to", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "first round ms"), "|" + " --- |" * 7]
    done = [r for r in rounds if r.result == "accepted"]
    for label, values in (
            ("AMI Originate sent → INVITE at the phone (baseline)", [r.ami_ms for r in rounds]),
            ("engine notify command sent → INVITE", [r.notify_ms for r in rounds]),
            ("**dispatch POST sent → INVITE at the phone**", [r.dispatch_ms for r in rounds]),
            ("dispatch POST sent → its 201 reply", [r.reply_ms for r in rounds]),
            ("dispatch POST sent → message WAV written (espeak-ng)", [r.wav_ms for r in rounds if r.wav_ms]),
            ("message WAV written → INVITE", [r.dispatch_ms - r.wav_ms for r in rounds if r.wav_ms]),
            ("INVITE → 1 pressed (answer, hear the message, press)", [r.pressed_ms for r in rounds if r.pressed_ms]),
            ("INVITE → Asterisk hung up after the thanks (the phone's line taken)",
             [r.held_ms for r in rounds if r.held_ms]),
            ("**dispatch POST sent → diterima** (the console accepted)", [r.accepted_ms for r in done])):
        lines.append(row(label, len(values), *stats(values)))
    results = Counter(r.result for r in rounds)
    lines += ["", f"Rounds by the notifier's result: {dict(results)}"
              + (f"; phone errors: {[r.error for r in rounds if r.error][:3]}" if any(r.error for r in rounds) else ""),
              ""]
    if not floods:
        return lines
    lines += [f"Floods: {args.flood} dispatches of new tickets at once (one thread each, behind a barrier) to the one "
              f"duty phone, which takes LINES calls at once and answers 486 to the others (pjsua's own limit in this "
              f"process: {max_calls} call legs). voice_ring {RING}.", "",
              row("flood (retries/retry_after/lines)", "POSTs 201", "all POSTs returned s", "POST p50 / max ms",
                  "first INVITE ms", "**delivered (diterima)**", "failed (delivery log)", "**lost**",
                  "last diterima s", "every delivery decided s"), "|" + " --- |" * 10]
    for f in floods:
        first = min(p.sent for p in f.posts)
        took = [(p.returned - p.sent) * 1000 for p in f.posts]
        lost = len([p for p in f.posts if p.assignment is not None]) - f.rows["sent"] - f.rows["failed"]
        lines.append(row(f.name, sum(p.status == 201 for p in f.posts),
                         f"{max(p.returned for p in f.posts) - first:.2f}",
                         f"{percentile(took, 50):.0f} / {max(took):.0f}", f"{f.first_ring_ms:.0f}",
                         f"{f.rows['sent']} of {len(f.posts)}", f.rows["failed"], lost,
                         f"{max(f.accepted.values()):.1f}" if f.accepted else "-",
                         f"{f.settled_s:.1f}" + (" (gave up)" if f.timed_out else "")))
    lines += ["", row("flood", "calls placed by the engine", "how they ended", "calls per assignment (max)",
                      "POST → first call placed p50 / max s", "most calls at once: engine / phone",
                      "INVITEs seen at the phone (declined 486)", "diterima p50 / max s"), "|" + " --- |" * 8]
    for f in floods:
        accepted = sorted(f.accepted.values())
        lines.append(row(f.name, sum(f.attempts.values()), ", ".join(f"{k} {v}" for k, v in f.results.most_common()),
                         max(f.attempts.values(), default=0),
                         f"{percentile(f.first_call_s, 50):.2f} / {max(f.first_call_s, default=0):.2f}",
                         f"{f.engine_most} / {f.phone_most}", f"{f.rings} ({f.declined})",
                         f"{percentile(accepted, 50):.1f} / {accepted[-1]:.1f}" if accepted else "-"))
    lines.append("")
    for f in floods:
        lines.append(f"- {f.name}: the failed deliveries' last error in the delivery log: "
                     + (", ".join(f"{k} {v}" for k, v in f.last_errors.most_common()) or "none"))
        if f.errors or f.no_row:
            lines.append(f"- {f.name}: {f.no_row} assignments without a voice row; errors: {f.errors[:3]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="dispatches one at a time, each with its two "
                                                                "baseline calls before it (default 50)")
    parser.add_argument("--flood", type=int, default=30, help="dispatches at once in each flood (default 30)")
    parser.add_argument("--floods", nargs="*", default=list(FLOODS), metavar="RETRIES/RETRY_AFTER/LINES",
                        help="the floods, in order: [notify] voice_retries / voice_retry_after (at most 10 and "
                             "e.g. 60s) / calls the phone takes at once (1 to pjsua's limit, 4). Default: "
                             f"{' '.join(FLOODS)} (the first is the shipped [notify]); none: no flood")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 rounds, one flood of 6 (1/3s/1)")
    parser.add_argument("--keep", action="store_true", help="keep the lab folder (Asterisk's logs, engine.jsonl, "
                                                            "console.jsonl)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.flood, args.floods = 5, 6, ["1/3s/1"]
    for spec in args.floods:
        if not re.fullmatch(r"\d+/\d+[smh]/\d+", spec):
            parser.error(f"a flood is RETRIES/RETRY_AFTER/LINES, e.g. 2/60s/1: not {spec!r}")
    enter_loopback_namespace()
    from callengine.bots.softphone import SipBots   # pjsua2 loads inside the namespace

    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    progress(f"lab in {folder}; load average {os.getloadavg()[0]:.2f}")
    first = args.floods[0].split("/") if args.floods else ["2", "60s", "1"]
    bots = SipBots()
    centre: Centre | None = None
    try:
        if any(int(spec.split("/")[2]) > bots.max_calls for spec in args.floods):
            parser.error(f"the bot takes at most {bots.max_calls} calls at once")
        centre = build(folder, bots, args.rounds + args.flood * len(args.floods), int(first[2]), int(first[0]),
                       first[1])
        progress(f"Asterisk, engine, console and the duty phone (127.0.0.2:{centre.phone.port}) up")
        rounds = sequential(centre, args.rounds)
        floods = [flood(centre, spec, args.flood) for spec in args.floods]
        errors = centre.engine.errors() + centre.console.errors()
        print("\n".join(report(rounds, floods, args, bots.max_calls)))
        print(f"Error lines in the engine's and console's logs: {len(errors)}"
              + (f", first: {json.dumps(errors[0])[:300]}" if errors else "") +
              f"; load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        if centre is not None:
            centre.console.stop()
            centre.phone.close()
            centre.ami.watcher.close()
            centre.lab.close()
            for name, process in (("engine", centre.engine), ("console", centre.console)):
                with (folder / f"{name}.jsonl").open("w") as out:
                    out.writelines(json.dumps(e) + "\n" for e in process.lines)
        bots.close()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
