"""Queue delivery (issue 4): from a caller entering queue 112 to a call taker's phone ringing,
with 1 and 20 call takers and a burst of callers, against Asterisk's ring time for a plain Dial
to the same bots in the same run. Figures and method: benchmarks/README.md.

One real Asterisk with the project's config and the real engine (IVR over FastAGI, shift keeper
managing queue 112). Callers are sipp on the trunk address 127.0.0.2; call takers are pjsua2 bots
in worker processes (callengine/bots/pool.py). All timing comes from Asterisk's AMI event
timestamps, so the measuring process's own latency does not enter the figures.

Runs in a private loopback-only network namespace (re-executes itself under `unshare --net`),
like ./scripts/test: the SIP bots then advertise 127.0.0.1 and nothing leaves the host.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from common import enter_loopback_namespace, percentile, progress, row  # first: puts tests/ on the path

from callengine.core.settings import DEFAULT_CONFIG, load_settings
from callengine.pbx.process import Asterisk
from callengine.pbx.render import render
from lab import AmiWatcher, EngineProcess, Lab, free_port, write_config
from sipp import scenario, sipp_load
from callengine.bots.pool import Behaviour, TakerPool

BENCH_CONTEXT = "ce-bench"  # added over AMI for the baseline, in memory only
RINGING = "5"               # ChannelState of an outgoing channel once the phone sent 180


# -- the centre --------------------------------------------------------------------------------
def roster(takers: list[str]) -> str:
    """Everybody on every shift: which of them ring is decided by who is registered."""
    people = "".join(f"{t} = Operator {t[5:]}\n" for t in takers)
    return (f"[calltakers]\n{people}[teams]\nT = {', '.join(takers)}\n"
            "[rotation]\n1 = pagi T, siang T, malam T\n")


def set_options(path: Path, section: str, **options: str) -> None:
    """Set keys of one section of an Asterisk-syntax config file, replacing any value there."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("["):
            current = line.strip()[1:].split("]")[0]
            out.append(line)
            if current == section:
                out += [f"{key} = {value}" for key, value in options.items()]
            continue
        if current == section and line.split("=")[0].strip() in options:
            continue
        out.append(line)
    path.write_text("\n".join(out) + "\n")


def start_lab(folder: Path, takers: list[str], args: argparse.Namespace) -> Lab:
    """Lab.start, but with the production queue settings (strategy, overflow, announcements
    unless overridden) and the given wrap-up, which lab.py's test config does not carry."""
    prod = load_settings(DEFAULT_CONFIG)
    rtp = 20000 + free_port() % 20000
    config_file = write_config(folder, roster(takers))
    set_options(config_file, "asterisk", rtp_start=str(rtp), rtp_end=str(rtp + 1000))  # 100 callers + takers
    set_options(config_file, "queue", strategy=prod.queue_strategy, wrapup=str(args.wrapup),
                overflow=str(prod.queue_overflow_s),
                hold_announce=str(prod.hold_announce_s if args.hold_announce is None else args.hold_announce),
                position_announce=str(prod.position_announce_s if args.position_announce is None
                                      else args.position_announce))
    settings = load_settings(config_file)
    asterisk = Asterisk(render(settings), settings.asterisk_binary)
    asterisk.start()
    return Lab(folder, config_file, settings, asterisk)


class InfoEngine(EngineProcess):
    """`callengine run` at INFO, as deployed (lab.py's engine logs at DEBUG for the tests)."""

    def start(self) -> InfoEngine:
        self.proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(self.config_file),
                                      "run", "--log-level", "INFO"], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_log("AMI connected", timeout=20)
        return self


# -- AMI -----------------------------------------------------------------------------------------
# Only what the figures need: Asterisk sends every RTCP report, VarSet and Newexten otherwise,
# and this process would then compete with Asterisk for the 2 cores.
FILTER = ("Event: (QueueCallerJoin|QueueCallerAbandon|AgentCalled|AgentConnect|AgentRingNoAnswer|"
          "DialBegin|Newstate|Hangup|OriginateResponse)")


class Ami:
    """The lab's raw AMI watcher, filtered, plus actions and waits on events from an index."""

    def __init__(self, watcher: AmiWatcher) -> None:
        self.watcher = watcher
        self.ids = count(1)
        self.action("Filter", Operation="Add", Filter=FILTER)

    @property
    def events(self) -> list[dict[str, str]]:
        return self.watcher.events

    def mark(self) -> int:
        return len(self.watcher.events)

    def wait(self, match: Callable[[dict[str, str]], bool], start: int, timeout: float, n: int = 1) -> bool:
        """Until n events from index `start` on match; False on timeout. Each event is looked
        at once, however long the list grows."""
        seen, found = start, 0

        def done() -> bool:
            nonlocal seen, found
            events = self.watcher.events
            found += sum(1 for e in events[seen:] if match(e))
            seen = len(events)
            return found >= n

        with self.watcher.changed:
            return self.watcher.changed.wait_for(done, timeout)

    def action(self, name: str, until: str = "", **fields: str) -> list[dict[str, str]]:
        """Send an action; return its response (and, for list actions, its events up to `until`)."""
        action_id = f"qd-{next(self.ids)}"
        start = self.mark()
        body = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        self.watcher.sock.sendall(f"Action: {name}\r\nActionID: {action_id}\r\n{body}\r\n".encode())
        last = (lambda e: e.get("Event") == until) if until else (lambda e: "Response" in e)
        if not self.wait(lambda e: e.get("ActionID") == action_id and last(e), start, 15):
            raise TimeoutError(f"no reply to AMI {name} within 15 s")
        reply = [e for e in self.events[start:] if e.get("ActionID") == action_id]
        if reply[0].get("Response") == "Error":
            raise RuntimeError(f"AMI {name} failed: {reply[0].get('Message')}")
        return reply


def members(ami: Ami, queue: str) -> dict[str, tuple[bool, str]]:
    """Each member's (paused, status) from QueueStatus; status 1 = not in use."""
    reply = ami.action("QueueStatus", until="QueueStatusComplete", Queue=queue)
    return {e["Location"].split("/", 1)[1]: (e["Paused"] == "1", e["Status"])
            for e in reply if e.get("Event") == "QueueMember"}


def wait_ready(ami: Ami, queue: str, names: list[str], timeout: float = 30) -> None:
    """Until exactly these members of the queue are unpaused and idle (the engine unpauses a
    call taker once its softphone registers; AMI reports no event for 'idle and unpaused')."""
    deadline = time.monotonic() + timeout
    while True:
        state = members(ami, queue)
        ready = sorted(n for n, (paused, status) in state.items() if not paused and status == "1")
        if ready == sorted(names):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"queue {queue}: ready {ready}, wanted {sorted(names)}")
        time.sleep(0.2)  # polling a state, not waiting for an event: nothing announces it


# -- callers -------------------------------------------------------------------------------------
def burst(lab: Lab, folder: Path, callers: int, rate: float, hold_s: int) -> subprocess.Popen[bytes]:
    """112 callers who stay on the line until Asterisk hangs up (after the call taker's BYE); a
    caller never answered hangs up after `hold_s`, so every run is bounded."""
    caller = scenario("+628110[call_number]", hold_ms=hold_s * 1000, hangs_up=False)
    return sipp_load(lab, folder, "caller", caller, callers, rate, callers,
                     "-timeout", str(hold_s + 30), "-timeout_error")


# -- analysis ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ring:
    """One member rung for one caller, in seconds. ready = when a waiting caller and a free
    taker both existed: the caller's join (taker idle) or the taker's last hangup (caller waiting)."""
    idle: bool               # the taker was free when the caller joined
    decide: float            # ready → DialBegin: the queue's own part
    sip: float               # DialBegin → Ringing: INVITE out, 180 back (as for a plain Dial)

    @property
    def total(self) -> float:
        return self.decide + self.sip


@dataclass
class Delivery:
    """One scenario's samples."""
    rings: list[Ring] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)  # join → first ringing, every caller rung
    joins: int = 0
    callers: int = 0
    connected: int = 0
    abandoned: int = 0
    fallback: int = 0      # callers whose IVR overran and who joined <queue>-fallback instead
    join_spread: float = 0.0


def by_name(events: list[dict[str, str]], name: str, **fields: str) -> list[dict[str, str]]:
    return [e for e in events if e.get("Event") == name and all(e.get(k) == v for k, v in fields.items())]


def first_ringing(events: list[dict[str, str]]) -> dict[str, float]:
    """Uniqueid → time its channel first reached Ringing."""
    found: dict[str, float] = {}
    for e in by_name(events, "Newstate", ChannelState=RINGING):
        found.setdefault(e["Uniqueid"], float(e["Timestamp"]))
    return found


def queue_delivery(events: list[dict[str, str]], queue: str) -> Delivery:
    """Each ring of a member for a caller, classified by which came last: the caller joining
    (the taker was idle: 'idle') or the taker's previous call ending (the caller was waiting:
    'dispatch'). Either way it is the time from 'a caller and a free taker both exist' to ring."""
    d = Delivery()
    joins = by_name(events, "QueueCallerJoin", Queue=queue)
    joined = {e["Uniqueid"]: float(e["Timestamp"]) for e in joins}
    d.joins, d.callers = len(joins), len(joined)
    d.connected = len(by_name(events, "AgentConnect", Queue=queue))
    d.abandoned = len(by_name(events, "QueueCallerAbandon", Queue=queue))
    d.fallback = len(by_name(events, "QueueCallerJoin", Queue=f"{queue}-fallback"))
    if joined:
        d.join_spread = max(joined.values()) - min(joined.values())
    ringing = first_ringing(events)
    dial_begin = {e["DestUniqueid"]: float(e["Timestamp"]) for e in by_name(events, "DialBegin")}
    hangup = {e["Uniqueid"]: float(e["Timestamp"]) for e in by_name(events, "Hangup")}
    rings: dict[str, list[tuple[float, str, str]]] = defaultdict(list)  # member → (ring, caller, leg)
    for e in by_name(events, "AgentCalled", Queue=queue):
        leg = e["DestUniqueid"]
        if leg in ringing:
            rings[e["Interface"]].append((ringing[leg], e["Uniqueid"], leg))
    seen: set[str] = set()
    for calls in rings.values():
        calls.sort()
        previous_end: float | None = None
        for ring, caller, leg in calls:
            join = joined[caller]
            ready = join if previous_end is None else max(join, previous_end)
            if caller not in seen:  # a caller rung twice (a taker did not answer) counts once
                seen.add(caller)
                d.wait.append(ring - join)
            d.rings.append(Ring(ready == join, dial_begin[leg] - ready, ring - dial_begin[leg]))
            previous_end = hangup.get(leg, math.inf)
    return d


def dial_ring_times(events: list[dict[str, str]]) -> list[float]:
    """DialBegin → Ringing of the PJSIP legs that Dial() in BENCH_CONTEXT placed."""
    ringing = first_ringing(events)
    return [ringing[e["DestUniqueid"]] - float(e["Timestamp"]) for e in by_name(events, "DialBegin")
            if e.get("Context") == BENCH_CONTEXT and e["DestUniqueid"] in ringing]


def stats(values: list[float]) -> tuple[str, str, int]:
    if not values:
        return "-", "-", 0
    return f"{percentile(values, 50) * 1000:.1f}", f"{percentile(values, 99) * 1000:.1f}", len(values)


# -- the run -------------------------------------------------------------------------------------
def run_queue(lab: Lab, ami: Ami, engine: EngineProcess, folder: Path, args: argparse.Namespace,
              takers: int) -> Delivery:
    progress(f"queue {lab.settings.queue}: {args.callers} callers at {args.rate}/s, {takers} call taker(s)")
    start, recorded = ami.mark(), len(by_name_lines(engine, "call recorded"))
    sipp = burst(lab, folder, args.callers, args.rate, args.window + 60)
    try:
        if not ami.wait(lambda e: e.get("Event") == "AgentConnect", start, args.window, args.callers):
            progress(f"{args.window} s window over: Asterisk hangs up the callers still waiting")
            ami.action("Hangup", Channel="/^PJSIP/trunk-/")
        sipp.wait(30)  # the last callers' BYEs
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    if sipp.returncode != 0:
        progress(f"sipp exited {sipp.returncode}: see {folder / 'caller-errors.log'}")
    wait_records(engine, recorded + args.callers)
    return queue_delivery(ami.events[start:], lab.settings.queue)


def by_name_lines(engine: EngineProcess, msg: str) -> list[dict[str, object]]:
    return [e for e in list(engine.lines) if e.get("msg") == msg]


def wait_records(engine: EngineProcess, expected: int, timeout: float = 30) -> None:
    """The engine writes one record per call after hangup; report if it falls behind."""
    with engine.changed:
        engine.changed.wait_for(lambda: len(by_name_lines(engine, "call recorded")) >= expected, timeout)
    records = by_name_lines(engine, "call recorded")
    kinds = Counter(str(r.get("disposition")) for r in records)
    progress(f"engine: {len(records)} call records (expected {expected}): {dict(kinds)}; "
             f"{len(engine.errors())} error lines")
    for line in engine.errors()[:5]:
        progress(f"engine error: {json.dumps(line)[:400]}")


def wait_recordings(engine: EngineProcess, timeout: float = 120) -> None:
    """Until the engine has post-processed every call's recording (browser copy, waveform).
    That work competes with the IVR for the engine's CPU: a new burst during it overruns the
    IVR budget and lands in the fallback queue (README), which is not what this scenario measures."""
    started = time.monotonic()

    def done() -> bool:
        finished = sum(1 for e in list(engine.lines) if str(e.get("msg", "")).startswith("recording"))
        return finished >= len(by_name_lines(engine, "call recorded"))

    with engine.changed:
        complete = engine.changed.wait_for(done, timeout)
    progress(f"engine post-processed the recordings in {time.monotonic() - started:.1f} s"
             + ("" if complete else f" (gave up after {timeout} s)"))


def run_baseline(ami: Ami, accounts: list[str], dials: int) -> list[float]:
    """Plain Dial(PJSIP/takerN) from a Local channel, one at a time, round robin over the bots:
    Asterisk's own ring time to the same phones, on an otherwise idle system."""
    progress(f"plain Dial: {dials} calls to {len(accounts)} bots, one at a time")
    for account in accounts:
        ami.action("DialplanExtensionAdd", Context=BENCH_CONTEXT, Extension=account, Priority="1",
                   Application="Dial", ApplicationData=f"PJSIP/{account}", Replace="yes")
    start = ami.mark()
    for i in range(dials):
        account = accounts[i % len(accounts)]
        mark = ami.mark()
        reply = ami.action("Originate", Channel=f"Local/{account}@{BENCH_CONTEXT}/n", Application="Hangup",
                           Async="true", Timeout="10000")
        action_id = reply[0]["ActionID"]
        # OriginateResponse comes at answer; then Hangup ends all 3 legs (Local;1, ;2, PJSIP).
        answered = ami.wait(lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == action_id,
                            mark, 15)
        if not (answered and ami.wait(lambda e: e.get("Event") == "Hangup", mark, 15, n=3)):
            raise TimeoutError(f"plain Dial to {account} did not complete within 15 s")
    return dial_ring_times(ami.events[start:])


def report(results: dict[int, Delivery], dial: list[float], args: argparse.Namespace, lab: Lab) -> list[str]:
    lines = [row("scenario", "takers", "callers", "p50 ms", "p99 ms", "n"), "|" + " --- |" * 6]
    for takers, d in results.items():
        for label, values in (
                ("queue: join → ringing, taker idle at join", [r.total for r in d.rings if r.idle]),
                ("queue: taker free → ringing, callers waiting", [r.total for r in d.rings if not r.idle]),
                ("queue: join → ringing, every caller rung (queue wait)", d.wait)):
            lines.append(row(label, takers, args.callers, *stats(values)))
    lines.append(row("plain Dial: DialBegin → ringing", args.takers, "-", *stats(dial)))
    lines += ["", row("takers", "ring", "ready → DialBegin p50 ms", "p99 ms", "DialBegin → ringing p50 ms",
                      "p99 ms", "n", "over 1.1 s"), "|" + " --- |" * 8]
    for takers, d in results.items():
        for label, rings in (("taker idle", [r for r in d.rings if r.idle]),
                             ("caller waiting", [r for r in d.rings if not r.idle])):
            decide, sip = stats([r.decide for r in rings]), stats([r.sip for r in rings])
            slow = sum(r.total > 1.1 for r in rings)  # beyond the queue's 1 s retry: held by something else
            lines.append(row(takers, label, decide[0], decide[1], sip[0], sip[1], decide[2], slow))
    lines.append("")
    for takers, d in results.items():
        lines.append(f"{takers} taker(s): {d.callers} callers joined ({d.joins} joins) over {d.join_spread:.2f} s, "
                     f"{d.connected} connected, {d.abandoned} hung up by the window's end, "
                     f"{d.fallback} sent to the fallback queue")
    s = lab.settings
    lines.append(f"queue {s.queue}: strategy {s.queue_strategy}, wrapup {s.queue_wrapup_s} s, position announce "
                 f"{s.position_announce_s} s, hold announce {s.hold_announce_s} s; takers answer "
                 f"{args.answer_delay} s after 180, talk {args.talk[0]}-{args.talk[1]} s; window {args.window} s")
    return lines


def bench(args: argparse.Namespace, folder: Path) -> list[str]:
    accounts = [f"taker{i}" for i in range(1, args.takers + 1)]
    lab = start_lab(folder, accounts, args)
    pool = TakerPool(Behaviour(lab.sip, args.answer_delay, (args.talk[0], args.talk[1])))
    try:
        ami = Ami(AmiWatcher(lab.settings))
        engine = InfoEngine(lab.config_file).start()
        lab.engines.append(engine)
        for account in accounts:  # all in the queue (paused, unregistered) before any registers
            engine.wait_log("call taker joined the queue", account=account, timeout=20)
        progress(f"registering {len(accounts)} call takers")
        pool.add([(accounts[0], lab.password(accounts[0]))])  # alone in its process: it stays on
        others = pool.add([(a, lab.password(a)) for a in accounts[1:]])
        wait_ready(ami, lab.settings.queue, accounts)
        # Baseline first, on a quiet system; then the big queue, then one taker alone, after
        # the engine has digested the first burst (see wait_recordings).
        dial = run_baseline(ami, accounts, args.dials)
        results: dict[int, Delivery] = {}
        if others:
            results[args.takers] = run_queue(lab, ami, engine, folder, args, args.takers)
            if not args.no_settle:
                wait_recordings(engine)
            pool.stop(others)
            wait_ready(ami, lab.settings.queue, accounts[:1])
        results[1] = run_queue(lab, ami, engine, folder, args, 1)
        if args.keep:
            (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ami.events))
            (folder / "engine.jsonl").write_text("".join(json.dumps(e) + "\n" for e in engine.lines))
        progress(f"calls answered per bot: {pool.close()}")
        return report(dict(sorted(results.items())), dial, args, lab)
    finally:
        pool.close()
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=100, help="callers per burst")
    parser.add_argument("--rate", type=float, default=100, help="burst arrival rate, calls/s")
    parser.add_argument("--takers", type=int, default=20, help="call takers of the large scenario")
    parser.add_argument("--dials", type=int, default=100, help="plain Dial calls of the baseline")
    parser.add_argument("--answer-delay", type=float, default=0.2, help="s from 180 Ringing to 200 OK")
    parser.add_argument("--talk", type=float, nargs=2, default=[0.2, 0.8], metavar=("MIN", "MAX"),
                        help="s a call taker talks before hanging up, uniformly random")
    parser.add_argument("--wrapup", type=int, default=0, help="queue wrap-up s (production: 5)")
    parser.add_argument("--window", type=int, default=90,
                        help="s from the burst to hanging up the callers still waiting (IVR ~12 s included)")
    parser.add_argument("--position-announce", type=int, help="queue position_announce s (default: production)")
    parser.add_argument("--hold-announce", type=int, help="queue hold_announce s (default: production)")
    parser.add_argument("--no-settle", action="store_true",
                        help="start the second burst while the engine still post-processes the first "
                             "burst's recordings (shows IVR overruns into the fallback queue)")
    parser.add_argument("--keep", action="store_true", help="keep the lab folder (Asterisk logs, sipp errors)")
    args = parser.parse_args()
    enter_loopback_namespace()
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    progress(f"lab in {folder}")
    print("\n".join(bench(args, folder)))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
