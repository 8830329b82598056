"""The wallboard with 30 supervisors' and viewers' boards open during a burst of 100 calls: the
console's CPU, and the delay from an AMI event to the first `wallboard` Server-Sent Event that
shows it, p50/p99; the same with 1 board as the baseline. Figures and method: benchmarks/README.md.

One fresh centre per run, built as screenpop.py builds it: a real Asterisk 16 with the project's
config (tests/integration/lab.py), the engine and the console at INFO, the call takers as pjsua2
bots that let the phone ring before answering, callers as sipp on the trunk address pressing 2.
Each board is a console user (a third supervisors, the others viewers) with a bearer token from
`callengine tokens create`, following `GET /api/v1/wallboard/events` with aiohttp in the
observer: a process of its own (own session, nice -10) that also keeps the AMI events as
Asterisk sent them (QueueCallerJoin, AgentCalled, AgentConnect, AgentComplete). `--runs 30:2000`
puts a day of 2000 calls (60,000 a month) into the store first (report_build.py's month).
Runs in a private loopback-only network namespace (re-executes itself under `unshare --net`).
Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from common import Engine, enter_loopback_namespace, percentile, proc_table, progress, row  # first: tests/ on the path

from callengine.bots.pool import Behaviour, TakerPool
from callengine.calls.record import agent_account
from callengine.core.settings import Settings, load_settings
from callengine.db.database import Database
from callengine.queueing.roster import load_roster
from callengine.queueing.stats import day_window
from console_lab import add_user, cli, console_beside
from lab import Lab, free_port
from queue_delivery import roster
from report_build import Month, proc_cpu
from screenpop import Console, Observer, OfferWatcher, Run, burst, descendants, fmt
from surge import recorded

PASSWORD = "teh manis hangat"
OBSERVER_NICE = -10
OPEN_S = 300                    # the boards' first frames, at the most
BOARD_FILTER = "Event: (QueueCallerJoin|AgentComplete)"   # beside OfferWatcher's AgentCalled/Connect/RingNoAnswer
KINDS = {   # AMI event → what a board shows once it knows
    "QueueCallerJoin": "caller in the queue: among those waiting",
    "AgentCalled": "taker's phone rings: the caller ringing that taker",
    "AgentConnect": "taker answers: the taker's row talking with the call",
    "AgentComplete": "call over: the taker's row no longer on it",
}


# -- the observer: AMI events and the boards ----------------------------------------------------
class BoardWatcher(OfferWatcher):
    """screenpop's AMI login (each event stamped at reception), filtered to the events a board shows."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sock.sendall(f"Action: Filter\r\nOperation: Add\r\nFilter: {BOARD_FILTER}\r\n\r\n".encode())

    def stamped(self) -> list[tuple[str, str, str, float, float]]:
        """(event, linkedid, account, Asterisk's Timestamp, received here)."""
        with self.changed:
            return [(e["Event"], e.get("Linkedid", ""), agent_account(e) or "", float(e["Timestamp"]),
                     float(e["Received"])) for e in self.events if e.get("Event") in KINDS and e.get("Timestamp")]


@dataclass
class Board:
    """One open wallboard: every `wallboard` frame with the time its last byte arrived, its size
    and a digest (the frames are the same bytes for every board; each distinct one is kept once)."""
    name: str
    frames: list[tuple[float, int, bytes]] = field(default_factory=list)
    error: str = ""
    ended: float | None = None          # the stream ended before the benchmark closed it
    opened: float = 0.0                 # when its request was sent


async def follow(session: Any, url: str, token: str, board: Board, seen: dict[bytes, bytes]) -> None:
    try:
        async with session.get(f"{url}/api/v1/wallboard/events", headers={
                "Authorization": f"Bearer {token}", "Accept": "text/event-stream"}) as reply:
            if reply.status != 200:
                board.error, board.ended = f"HTTP {reply.status}", time.time()
                return
            buffer = b""
            async for chunk in reply.content.iter_any():
                at = time.time()
                buffer += chunk
                while (end := buffer.find(b"\n\n")) >= 0:
                    block, buffer = buffer[:end], buffer[end + 2:]
                    if block.startswith(b"event: wallboard\n"):
                        digest = hashlib.blake2b(block, digest_size=8).digest()
                        seen.setdefault(digest, block)
                        board.frames.append((at, len(block) + 2, digest))
        board.ended = time.time()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported: a board cut off
        board.error, board.ended = f"{type(exc).__name__}: {exc}", time.time()


class Boards:
    """The boards' asyncio loop, in a thread of the observer."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.boards: list[Board] = []
        self.seen: dict[bytes, bytes] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.session: Any = None

    def open(self, url: str, tokens: list[tuple[str, str]]) -> None:
        asyncio.run_coroutine_threadsafe(self._open(url, tokens), self.loop).result(30)

    async def _open(self, url: str, tokens: list[tuple[str, str]]) -> None:
        import aiohttp

        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
                                                 connector=aiohttp.TCPConnector(limit=0))
        for name, token in tokens:
            board = Board(name, opened=time.time())
            self.boards.append(board)
            self.tasks.append(asyncio.ensure_future(follow(self.session, url, token, board, self.seen)))

    def firsts(self) -> list[float | None]:
        """Seconds from each board's request to its first frame (None: none yet)."""
        return [b.frames[0][0] - b.opened if b.frames else None for b in self.boards]

    def close(self) -> None:
        async def stop() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            if self.session is not None:
                await self.session.close()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)


def summary(block: bytes) -> dict[str, Any]:
    """What a frame says that the delays are matched on: its composition time, the callers
    waiting, (call, taker) ringing and talking; and how much of what it carries."""
    state = json.loads(block.split(b"\ndata: ", 1)[1])
    waiting, takers = state["waiting"], state["takers"]
    ringing = {(w["linkedid"], a) for w in waiting for a in w.get("ringing") or []}
    ringing |= {(t["linkedid"], t["account"]) for t in takers if t.get("state") == "ringing" and t.get("linkedid")}
    return {"at": datetime.fromisoformat(state["at"]).timestamp(), "waiting": {w["linkedid"] for w in waiting},
            "ringing": ringing,
            "talking": {(t["linkedid"], t["account"]) for t in takers if t.get("state") == "talking"},
            "present": {w["linkedid"] for w in waiting} | {t["linkedid"] for t in takers if t.get("linkedid")},
            "size": len(block) + 2, "parts": {k: len(json.dumps(v, ensure_ascii=False)) for k, v in state.items()},
            "incidents": len(state.get("incidents") or []), "sla": len(state.get("sla") or [])}


def watch(config_file: str, conn: Connection) -> None:
    """The observer's process: answers the benchmark's requests until told to stop."""
    os.setsid()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, OBSERVER_NICE)
    watcher = BoardWatcher(load_settings(Path(config_file)))
    boards = Boards()
    while (request := conn.recv())[0] != "stop":
        try:
            reply: Any = True
            if request[0] == "boards":
                boards.open(request[1], request[2])
            elif request[0] == "firsts":
                reply = boards.firsts()
            elif request[0] == "frames":
                reply = sum(len(b.frames) for b in boards.boards)
            elif request[0] == "results":
                boards.close()
                reply = {"events": watcher.stamped(), "nice": os.getpriority(os.PRIO_PROCESS, 0),
                         "boards": [(b.name, b.frames, b.error, b.ended) for b in boards.boards],
                         "frames": {digest: summary(block) for digest, block in boards.seen.items()}}
        except Exception as exc:  # noqa: BLE001 - handed back to the benchmark, which raises it
            reply = RuntimeError(f"{type(exc).__name__}: {exc}")
        conn.send(reply)
    watcher.close()


class BoardObserver(Observer):
    """screenpop's Observer process, running `watch`."""

    def __init__(self, config_file: Path) -> None:
        context = mp.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.proc = context.Process(target=watch, args=(str(config_file), theirs), daemon=True)
        self.proc.start()
        self.ask("frames")


# -- one run -------------------------------------------------------------------------------------
@dataclass
class BoardRun(Run):
    boards: int = 0
    day_calls: int = 0
    history: str = ""
    idle: dict[str, float] = field(default_factory=dict)        # CPU s per s with the boards open, no call
    events: list[tuple[str, str, str, float, float]] = field(default_factory=list)
    streams: list[tuple[str, list[tuple[float, int, bytes]], str, float | None]] = field(default_factory=list)
    frames: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    observer_cpu: float = 0.0
    first_s: list[float] = field(default_factory=list)         # each board's request → its first frame

    @property
    def name(self) -> str:
        return f"{self.boards} board{'s' if self.boards != 1 else ''}" + (
            f", a day of {self.day_calls} calls stored" if self.day_calls else "") + f" #{self.number}"


def run_one(boards: int, day_calls: int, number: int, args: argparse.Namespace) -> BoardRun:
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    others = subprocess.run(["pgrep", "-f", "pytest|sipp|asterisk -f|chromedriver"], capture_output=True,
                            text=True).stdout.split()
    others = [pid for pid in others if int(pid) not in descendants(proc_table(), os.getpid())]
    result = BoardRun("boards", number, boards=boards, day_calls=day_calls)
    progress(f"{result.name}: lab in {folder}; load average {os.getloadavg()[0]:.2f}, "
             f"{len(others)} other pytest/sipp/Asterisk/chromedriver processes")
    try:
        run_in(folder, result, args)
    except Exception as exc:  # one broken run must not cost the others' figures
        last = [line for line in str(exc).splitlines() if line.strip()][-1:] or [""]
        result.error = f"{type(exc).__name__}: {last[0][:400]}"
        progress(f"{result.name}: broke off: {result.error}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def run_in(folder: Path, result: BoardRun, args: argparse.Namespace) -> None:
    takers = [f"taker{i}" for i in range(1, args.takers + 1)]
    rtp = 20000 + free_port() % 20000
    lab = Lab.start(folder, roster=roster(takers), rtp_start=str(rtp), rtp_end=str(rtp + 10 * args.callers + 400))
    pool: TakerPool | None = None
    console: Console | None = None
    observer: BoardObserver | None = None
    engine: Engine | None = None
    try:
        if result.day_calls:
            result.history = asyncio.run(store_a_day(lab.settings, result.day_calls))
            progress(f"{result.name}: {result.history}")
        engine = Engine(lab.config_file).start()
        lab.engines.append(engine)
        pool = TakerPool(Behaviour(lab.sip, answer_delay=args.answer_after, talk_s=(args.talk_min, args.talk_max)))
        pool.add([(t, lab.password(t)) for t in takers])
        for taker in takers:
            engine.wait_taker_ready(taker, timeout=30)
        progress(f"{result.name}: Asterisk, engine and {len(takers)} call takers up and in queue 112")
        observer = BoardObserver(lab.config_file)
        console = open_boards(lab, observer, result)
        assert console.proc is not None and observer.proc.pid is not None
        idle(console, engine, observer, result, args)
        observer_cpu0 = proc_cpu(observer.proc.pid)
        burst(lab, engine, console, [], folder, result, argparse.Namespace(**{**vars(args), "settle_s": 0}))
        result.observer_cpu = proc_cpu(observer.proc.pid) - observer_cpu0
        quiet(observer)
        seen = observer.ask("results")
        result.events, result.streams, result.frames = seen["events"], seen["boards"], seen["frames"]
        result.observer_nice = seen["nice"]
        result.answered = sum(pool.close().values())
        pool = None
        result.records = len(recorded([engine]))
        errors = engine.errors() + console.errors()
        if errors:
            result.notes.append(f"{len(errors)} error lines in the engine's and console's logs, first: {errors[0]}")
        result.warnings = Counter(e.get("msg") for e in console.lines if e.get("level") == "warning")
    finally:
        if observer is not None:
            observer.close()
        if console is not None:
            console.stop()
        if pool is not None:
            pool.close()
        lab.close()
        for name, process in (("engine", engine), ("console", console)):
            if process is not None:
                with (folder / f"{name}.jsonl").open("w") as out:
                    out.writelines(json.dumps(e) + "\n" for e in process.lines)


async def store_a_day(settings: Settings, per_day: int) -> str:
    """Yesterday's calls and today's so far (the roster's days), `per_day` a day, with their
    tickets, dispatches, ratings and scores, as report_build.py writes a month: what the board
    reads on every rebuild in a centre that has been running."""
    zone = settings.timezone
    roster = load_roster(settings.roster_file, zone)
    now = datetime.now(zone)
    today, _ = day_window(roster, now.date())
    if today > now:
        today -= timedelta(days=1)
    start, end = today - timedelta(days=1), now - timedelta(minutes=2)
    count = round(per_day * (end - start).total_seconds() / 86400)
    db = Database(settings.database_url)
    try:
        await db.migrate()
        made = await Month(db, roster, zone, settings.city_code).write(start, end, count, dispatch_before=end,
                                                                        checked=10)
    finally:
        await db.close()
    return f"stored {made.calls} calls from {start:%Y-%m-%d %H:%M} to {end:%H:%M} ({made.line()})"


def open_boards(lab: Lab, observer: BoardObserver, result: BoardRun) -> Console:
    """The console beside the engine; a third of the boards' users supervisors, the others
    viewers, each with a token; every board open and shown its first frame."""
    port = console_beside(lab.config_file).port
    supervisors = max(1, result.boards // 3)
    users = [(f"spv{i}" if i <= supervisors else f"view{i - supervisors}",
              "supervisor" if i <= supervisors else "viewer") for i in range(1, result.boards + 1)]

    def account(user: tuple[str, str]) -> tuple[str, str]:
        add_user(lab.config_file, user[0], user[1], PASSWORD)
        made = cli(lab.config_file, "tokens", "create", user[0])
        if made.returncode != 0:
            raise RuntimeError(f"tokens create {user[0]}: {made.stderr.strip()}")
        return user[0], made.stdout.strip()

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(account, users))
    console = Console(lab.config_file, port).start()
    progress(f"{result.name}: console up at {console.url}; {supervisors} supervisors and "
             f"{result.boards - supervisors} viewers with tokens")
    observer.ask("boards", console.url, tokens)
    deadline = time.monotonic() + OPEN_S
    while None in (firsts := observer.ask("firsts")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{firsts.count(None)} of {len(firsts)} boards had no frame {OPEN_S} s after opening")
        time.sleep(0.25)  # wait-ok: polling another process's boards
    result.first_s = firsts
    progress(f"{result.name}: {result.boards} boards open at once; each shown its first frame within "
             f"{max(firsts):.1f} s")
    return console


def quiet(observer: BoardObserver, still_s: float = 1.5, limit_s: float = 15) -> None:
    """Until no board has received a frame for `still_s`: the last call's end reaches the boards
    0.3 s or more after its events, possibly after the burst's window closed."""
    deadline, count, since = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < still_s:
        now = observer.ask("frames")
        if now != count:
            count, since = now, time.monotonic()
        time.sleep(0.25)  # wait-ok: polling another process's count


def idle(console: Console, engine: Engine, observer: BoardObserver, result: BoardRun, args: argparse.Namespace) -> None:
    """The quiet seconds before the burst (the start-up work dies down), the last of them
    measured: what the open boards cost with no call (a rebuild every 10 s)."""
    assert console.proc is not None and engine.proc is not None and observer.proc.pid is not None
    progress(f"{result.name}: settling {args.settle_s:g} s (load average {os.getloadavg()[0]:.2f})")
    time.sleep(max(0.0, args.settle_s - args.idle_s))  # wait-ok: a quiet period, not an event
    pids = {"console": console.proc.pid, "engine": engine.proc.pid, "observer": observer.proc.pid}
    before, t0 = {k: proc_cpu(p) for k, p in pids.items()}, time.monotonic()
    time.sleep(args.idle_s)  # wait-ok: the measured quiet period
    wall = time.monotonic() - t0
    result.idle = {k: (proc_cpu(p) - before[k]) / wall for k, p in pids.items()}


# -- what the boards showed, and when ------------------------------------------------------------
def shows(kind: str, linkedid: str, account: str, frame: dict[str, Any]) -> bool:
    if kind == "QueueCallerJoin":
        return linkedid in frame["present"]
    if kind == "AgentCalled":
        return (linkedid, account) in frame["ringing"] or (linkedid, account) in frame["talking"]
    if kind == "AgentConnect":
        return (linkedid, account) in frame["talking"]
    return (linkedid, account) not in frame["talking"] and linkedid not in frame["waiting"]   # AgentComplete


@dataclass
class Delays:
    """Per AMI event kind: (delay from the Timestamp, the event's Timestamp → the frame's
    composition start, composition start → the board's reception) for every (event, board)."""
    total: dict[str, list[float]] = field(default_factory=dict)
    to_compose: dict[str, list[float]] = field(default_factory=dict)
    compose_send: dict[str, list[float]] = field(default_factory=dict)
    unseen: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)


def delays(run: BoardRun) -> Delays:
    found = Delays()
    firsts: dict[tuple[str, str, str], tuple[str, str, str, float, float]] = {}
    for e in run.events:                    # the first of each (event, call, taker): a ring retried counts once
        firsts.setdefault((e[0], e[1], e[2]), e)
    for _, frames, _, _ in run.streams:
        times = [f[0] for f in frames]
        for kind, linkedid, account, ts, _ in firsts.values():
            found.events[kind] += 1
            shown = next(((at, digest) for at, _, digest in frames[bisect.bisect_left(times, ts):]
                          if shows(kind, linkedid, account, run.frames[digest])), None)
            if shown is None:
                found.unseen[kind] += 1
                continue
            at, digest = shown
            composed = run.frames[digest]["at"]
            found.total.setdefault(kind, []).append((at - ts) * 1000)
            found.to_compose.setdefault(kind, []).append((composed - ts) * 1000)
            found.compose_send.setdefault(kind, []).append((at - composed) * 1000)
    return found


def fanout(run: BoardRun) -> list[float]:
    """Per frame seen by every board: last board's reception − first board's (ms)."""
    by_frame: dict[tuple[bytes, int], list[float]] = {}
    for _, frames, _, _ in run.streams:
        counts: Counter[bytes] = Counter()
        for at, _, digest in frames:
            counts[digest] += 1
            by_frame.setdefault((digest, counts[digest]), []).append(at)
    return [(max(v) - min(v)) * 1000 for v in by_frame.values() if len(v) == len(run.streams) and len(v) > 1]


def report(runs: list[BoardRun], args: argparse.Namespace) -> list[str]:
    lines = [f"{args.takers} call takers (bots answer {args.answer_after:g} s after ringing, talk {args.talk_min:g}-"
             f"{args.talk_max:g} s, wrap-up 5 s); {args.callers} callers at {args.rate:g}/s pressing 2; engine and "
             f"console at INFO. Delay = the first `wallboard` frame at a board that shows the event − the event's "
             f"Timestamp (Asterisk's clock, the same host's); one sample per (event, board). The wallboard "
             f"rebuilds at most every 0.3 s after an event (REBUILD_S): a floor by design. A frame's `at` is "
             f"stamped as its composition starts; the live calls are read after the database, so a slow "
             f"composition can show an event later than its `at` (negative).", "",
             row("run", "event → what the board shows", "events", "samples", "not shown", "p50 ms", "p90 ms",
                 "p99 ms", "max ms", "event → frame's `at` p50 / p99 ms", "`at` → board p50 / p99 ms"),
             "|" + " --- |" * 11]
    for run in runs:
        if run.error:
            lines.append(row(run.name, "broke off", *["-"] * 9))
            continue
        found = delays(run)
        for kind in KINDS:
            values = found.total.get(kind, [])
            boards = max(1, len(run.streams))
            lines.append(row(run.name, f"{kind} → {KINDS[kind].split(': ')[1]}", found.events[kind] // boards,
                             len(values), found.unseen[kind], fmt(values, 50), fmt(values, 90), fmt(values, 99),
                             f"{max(values):.0f}" if values else "-",
                             f"{fmt(found.to_compose.get(kind, []), 50)} / {fmt(found.to_compose.get(kind, []), 99)}",
                             f"{fmt(found.compose_send.get(kind, []), 50)} / "
                             f"{fmt(found.compose_send.get(kind, []), 99)}"))
        every = [v for values in found.total.values() for v in values]
        lines.append(row(run.name, "**every event**", sum(found.events.values()) // max(1, len(run.streams)),
                         len(every), sum(found.unseen.values()), f"**{fmt(every, 50)}**", fmt(every, 90),
                         f"**{fmt(every, 99)}**", f"{max(every):.0f}" if every else "-", "", ""))
    lines += ["", row("run", "calls", "answered", "console CPU s", "console ms/call", "engine CPU s", "engine ms/call",
                      "idle: console / engine ms per s", "boards (observer) CPU s", "Asterisk s", "machine busy cores",
                      "others' cores", "wall s"), "|" + " --- |" * 13]
    for run in (r for r in runs if not r.error):
        cpu, calls = run.cpu, max(run.calls, 1)
        ours = cpu.get("ours", 0) + cpu.get("ours+", 0)
        lines.append(row(run.name, run.calls, run.answered, f"{cpu.get('console', 0):.2f}",
                         f"{cpu.get('console', 0) * 1000 / calls:.1f}", f"{cpu.get('engine', 0):.2f}",
                         f"{cpu.get('engine', 0) * 1000 / calls:.1f}",
                         f"{run.idle.get('console', 0) * 1000:.1f} / {run.idle.get('engine', 0) * 1000:.1f}",
                         f"{run.observer_cpu:.2f}", f"{cpu.get('asterisk', 0) + cpu.get('asterisk+', 0):.1f}",
                         f"{cpu.get('machine_cores', 0):.2f}",
                         f"{cpu.get('machine_cores', 0) - ours / cpu.get('wall', 1):.2f}",
                         f"{cpu.get('wall', 0):.0f}"))
    lines += ["", row("run", "first frame after opening p50 / max s", "frames per board", "distinct frames",
                      "frame KB p50 / max", "KB per board", "largest parts of the largest frame (KB)",
                      "fan-out spread p50 / p99 ms", "boards cut off"), "|" + " --- |" * 9]
    for run in (r for r in runs if not r.error):
        counts = [len(frames) for _, frames, _, _ in run.streams]
        sizes = [f["size"] / 1024 for f in run.frames.values()]
        biggest = max(run.frames.values(), key=lambda f: f["size"]) if run.frames else {"parts": {}}
        parts = sorted(biggest["parts"].items(), key=lambda kv: -kv[1])[:4]
        cut = [f"{name} ({error or 'closed by the console'})" for name, _, error, ended in run.streams if ended]
        spread = fanout(run)
        per_board = [sum(size for _, size, _ in frames) / 1024 for _, frames, _, _ in run.streams]
        opening = f"{percentile(run.first_s, 50):.2f} / {max(run.first_s):.2f}" if run.first_s else "-"
        lines.append(row(run.name, opening,
                         f"{min(counts)}–{max(counts)}" if counts else "-", len(run.frames),
                         f"{percentile(sizes, 50):.1f} / {max(sizes):.1f}" if sizes else "-",
                         f"{max(per_board):.0f}" if per_board else "-",
                         ", ".join(f"{k} {v / 1024:.1f}" for k, v in parts),
                         f"{fmt(spread, 50)} / {fmt(spread, 99)}" if spread else "-",
                         "; ".join(cut) if cut else "none"))
    lines.append("")
    for run in runs:
        notes = ([f"broke off: {run.error}"] if run.error else []) + ([run.history] if run.history else []) + run.notes
        if run.events:
            delay = [(received - ts) * 1000 for _, _, _, ts, received in run.events]
            notes.append(f"AMI reception in the observer − Timestamp: p50 {fmt(delay, 50)} ms, "
                         f"p99 {fmt(delay, 99)} ms")
            notes.append(f"observer at nice {run.observer_nice}")
        if run.warnings:
            notes.append(f"console warnings: {dict(run.warnings)}")
        if run.sipp:
            notes.append(f"sipp {run.sipp}")
        lines.append(f"- **{run.name}**: " + "; ".join(notes))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", metavar="BOARDS[:DAY_CALLS]",
                        help="the runs, in order: boards open, and the calls a day already in the store (default: "
                             "'30 1'; e.g. 30:2000 stores yesterday's and today's calls at 2000 a day first)")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the sequence of runs this many times (default 1)")
    parser.add_argument("--takers", type=int, default=20, help="call takers on duty, each a bot (default 20)")
    parser.add_argument("--callers", type=int, default=100, help="callers in the burst (default 100)")
    parser.add_argument("--rate", type=float, default=50, help="callers arriving per second (default 50: 2 s)")
    parser.add_argument("--answer-after", type=float, default=2.0,
                        help="seconds a bot lets its phone ring before answering (default 2)")
    parser.add_argument("--talk-min", type=float, default=3.0,
                        help="call takers talk at least this long (s, default 3)")
    parser.add_argument("--talk-max", type=float, default=6.0, help="and at most this long (s, default 6)")
    parser.add_argument("--wait", type=int, default=120,
                        help="seconds a caller waits for a call taker after pressing 2, then hangs up (default 120)")
    parser.add_argument("--settle-s", type=float, default=15, help="quiet seconds before each burst (default 15)")
    parser.add_argument("--idle-s", type=float, default=10,
                        help="the last of them measured: the boards' cost with no call (default 10)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 takers, 12 callers, 5 boards and 1")
    parser.add_argument("--keep", action="store_true",
                        help="keep each lab folder (Asterisk logs, sipp files, engine.jsonl, console.jsonl)")
    args = parser.parse_args()
    if args.quick:
        args.takers, args.callers, args.settle_s, args.idle_s = 4, 12, 12, 10
    args.runs = args.runs or (["5", "1"] if args.quick else ["30", "1"])
    args.profile = None                       # screenpop.burst's option, not offered here
    plan = [(int(spec.split(":")[0]), int(spec.split(":")[1]) if ":" in spec else 0) for spec in args.runs]
    enter_loopback_namespace()
    progress(f"wallboard: {args.takers} takers, {args.callers} callers, runs {' '.join(args.runs)} x{args.repeat}")
    runs = [run_one(boards, day_calls, i + 1, args) for i in range(args.repeat) for boards, day_calls in plan]
    print("\n".join(report(runs, args)))


if __name__ == "__main__":
    main()
