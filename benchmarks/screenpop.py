"""Screen pop latency: from app_queue's AgentCalled for a call taker to that taker's desk, in a
real browser, showing the call; with 20 call takers logged in and 40 callers arriving in a burst.
Also the engine's CPU per call with the live API in use (the console and its desks connected)
against the same burst with no console and no desk. Figures and method: benchmarks/README.md.

One fresh centre per run: a real Asterisk 16 with the project's config (tests/integration/lab.py),
the real engine (`callengine run` at INFO, as deployed), the call takers as pjsua2 bots in worker
processes (callengine/bots/pool.py) that let the phone ring a few seconds before answering,
callers as sipp on the trunk address 127.0.0.2 pressing 2 in the greeting. In a desk run, the
console (`callengine console` at INFO) beside the engine on the same config, and each call taker's
desk open in its own headless Chromium (Debian's chromium and chromedriver through selenium),
logged in as the taker. Runs in a private loopback-only network namespace (re-executes itself
under `unshare --net`). Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from statistics import mean
from typing import Any

from common import (Engine, enter_loopback_namespace, percentile, proc_table, progress,  # first: tests/ on the path
                    row, sipp_counts)

from callengine.bots.pool import Behaviour, TakerPool
from callengine.calls.record import agent_account
from callengine.core.settings import Settings, load_secrets, load_settings
from console_lab import ConsoleProcess, Visitor, add_user, console_beside, log_in
from lab import AmiWatcher, Lab, free_port
from queue_delivery import roster
from sipp import sipp_load
from surge import CpuMeter, caller_scenario, processed, recorded, summarise_profiles, wait_idle

PASSWORD = "teh manis hangat"   # every console user's (the console refuses the user's own name and common ones)
TARGET_P99_MS = 500.0
TARGET_CPU_PCT = 10.0           # the engine's CPU per call with the live API in use: at most this much more
AMI_FILTER = "Event: (AgentCalled|AgentConnect|AgentRingNoAnswer)"
OBSERVER_NICE = -10             # the process that reads the clocks (see Observer)
RECORDS_IDLE_S = 30             # no new record (or processed recording) for this long: the engine is done
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=800,600")
NOW_JS = "return performance.timeOrigin + performance.now();"   # the clock desk.js stamps its pops with
# The frame that shows a pop: desk.js stamps its pop after writing the call into the page, before
# Chromium lays it out and paints it. This observer stamps, once per call, the first moment after
# the frame that follows the number's change (a task queued from requestAnimationFrame runs once
# that frame is produced).
FRAMES_JS = """
window.screenpopFrames = [];
const seen = new Set();
new MutationObserver(() => {
  const pop = window.callengineDesk.pops[window.callengineDesk.pops.length - 1];
  if (!pop || seen.has(pop.linkedid)) return;
  seen.add(pop.linkedid);
  requestAnimationFrame(() => setTimeout(() => window.screenpopFrames.push(
    { linkedid: pop.linkedid, at: performance.timeOrigin + performance.now() }), 0));
}).observe(document.getElementById("call-number"), { childList: true, characterData: true, subtree: true });
"""

REQUESTS_JS = """
return performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/")).map((e) => ({
  path: new URL(e.name).pathname, sent: performance.timeOrigin + e.startTime,
  first_byte: performance.timeOrigin + e.responseStart, end: performance.timeOrigin + e.responseEnd }));
"""


# -- what happened: AgentCalled from AMI, pops from the desks -----------------------------------
class Stamped(list):  # type: ignore[type-arg]
    """AmiWatcher's event list, each event stamped with this host's clock as it is appended."""

    def append(self, event: dict[str, str]) -> None:
        event["Received"] = f"{time.time():.6f}"
        super().append(event)


class OfferWatcher(AmiWatcher):
    """A plain AMI login of the benchmark's own, filtered to the queue's offers and answers. Each
    AgentCalled carries Asterisk's own Timestamp (timestampevents = yes) and the wall clock of its
    reception here."""

    events = property(lambda self: self._events, lambda self, value: setattr(self, "_events", Stamped(value)))

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sock.sendall(f"Action: Filter\r\nOperation: Add\r\nFilter: {AMI_FILTER}\r\n\r\n".encode())

    def offers(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(linkedid, account) → (Asterisk's Timestamp, received), the first time each pair rang."""
        found: dict[tuple[str, str], tuple[float, float]] = {}
        with self.changed:
            for e in self.events:
                if e.get("Event") == "AgentCalled" and e.get("Linkedid"):
                    found.setdefault((e["Linkedid"], agent_account(e) or "?"),
                                     (float(e["Timestamp"]), float(e["Received"])))
        return found

    def count(self, name: str) -> int:
        with self.changed:
            return sum(1 for e in self.events if e.get("Event") == name)


class SseFollower:
    """An SSE stream read in a thread; the first reception of each call.offered event, per
    (linkedid, account), stamped with this host's wall clock. As a desk (`account` set) it keeps
    what desk.js would pop (the offers to that account); as a probe, every taker's offers."""

    def __init__(self, source: str, name: str, open_stream: Callable[[], Any], account: str | None = None,
                 on_pop: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.source, self.name, self.account, self.open_stream, self.on_pop = source, name, account, open_stream, on_pop
        self.offered: dict[tuple[str, str], float] = {}
        self.connected = threading.Event()
        self.error = ""
        threading.Thread(target=self._follow, daemon=True, name=f"sse {name}").start()

    def pops(self) -> dict[tuple[str, str], float]:
        return {key: at for key, at in self.offered.items() if self.account is None or key[1] == self.account}

    def _follow(self) -> None:
        try:
            with self.open_stream() as stream:
                event, data = "message", []
                for raw in stream:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        self._event(event, json.loads("\n".join(data)), time.time())
                        event, data = "message", []
        except Exception as exc:  # noqa: BLE001 - the stream ends at teardown; the report says if it broke early
            self.error = f"{type(exc).__name__}: {exc}"

    def _event(self, event: str, data: dict[str, Any], at: float) -> None:
        if event == "snapshot" and data.get("connected", True):   # the engine's own stream has no flag
            self.connected.set()
        elif event == "call.offered" and data.get("linkedid"):
            key = (data["linkedid"], data.get("agent", ""))
            if key not in self.offered and self.on_pop is not None and key[1] == self.account:
                threading.Thread(target=self.on_pop, args=(data.get("call") or {},), daemon=True).start()
            self.offered.setdefault(key, at)


def desk_stream(url: str, user: str, source: str = "sse desk", history: bool = False) -> SseFollower:
    """A desk without a browser: the user's console session (a cookie) on /api/v1/desk/events.
    A call taker's keeps the offers to them; the probe's ("probe", not on the roster) every offer.
    With `history`, each pop fetches the caller's history as desk.js's loadHistory does."""
    visitor = Visitor(url, user, PASSWORD)
    request = urllib.request.Request(f"{url}/api/v1/desk/events", headers={"Accept": "text/event-stream"})

    def load_history(call: dict[str, Any]) -> None:
        if call.get("caller"):
            with contextlib.suppress(OSError, ValueError):
                visitor.get(f"/api/v1/desk/history?caller={urllib.parse.quote(call['caller'])}")

    return SseFollower(source, user, lambda: visitor.opener.open(request, timeout=120),
                       None if source == "console probe" else user, load_history if history else None)


def engine_stream(settings: Settings, source: str) -> SseFollower:
    """The engine's live API itself (as the console follows it), with its bearer secret."""
    url = f"http://127.0.0.1:{settings.web_port}/api/live/events"
    secret = load_secrets(settings)["engine_api"]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    return SseFollower(source, source, lambda: urllib.request.urlopen(request, timeout=120))


class Observer:
    """The benchmark's clocks, in a process of their own: AMI's offers with the time each was
    received, and the SSE streams followed (the console's desk stream as the probe and as
    SSE-only desks; the engine's live API with --engine-probes). That process starts its own
    session, so it has its own scheduler autogroup (Chromium's processes, in the benchmark's
    session, do not share their group's CPU with it), and runs at OBSERVER_NICE: its
    readings do not wait for a core while 20 browsers repaint."""

    def __init__(self, config_file: Path) -> None:
        context = mp.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.proc = context.Process(target=observe, args=(str(config_file), theirs), daemon=True)
        self.proc.start()
        self.ask("ready")

    def ask(self, *request: str) -> Any:
        self.conn.send(request)
        if not self.conn.poll(60):
            raise TimeoutError(f"the observer did not answer {request[0]!r} within 60 s")
        reply = self.conn.recv()
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def observe(config_file: str, conn: Connection) -> None:
    """The observer's process: answers the benchmark's requests until told to stop."""
    os.setsid()
    with contextlib.suppress(OSError):     # not root: the default priority, said in the report
        os.setpriority(os.PRIO_PROCESS, 0, OBSERVER_NICE)
    settings = load_settings(Path(config_file))
    watcher = OfferWatcher(settings)
    streams: list[SseFollower] = []
    while (request := conn.recv())[0] != "stop":
        try:
            reply: Any = True
            if request[0] in ("desk", "engine"):
                stream = desk_stream(request[1], request[2], request[3], request[4] == "history") \
                    if request[0] == "desk" else engine_stream(settings, request[1])
                if not stream.connected.wait(30):
                    raise TimeoutError(f"{stream.name}: no snapshot within 30 s ({stream.error or 'no error'})")
                streams.append(stream)
            elif request[0] == "results":
                reply = {"offers": watcher.offers(), "nice": os.getpriority(os.PRIO_PROCESS, 0),
                         "ami": {name: watcher.count(name) for name in ("AgentCalled", "AgentConnect",
                                                                        "AgentRingNoAnswer")},
                         "streams": [(s.source, s.name, s.pops(), s.error) for s in streams]}
        except Exception as exc:  # noqa: BLE001 - handed back to the benchmark, which raises it
            reply = RuntimeError(f"{type(exc).__name__}: {exc}")
        conn.send(reply)
    watcher.close()


class BrowserDesk:
    """One call taker's desk in its own headless Chromium: logged in as a person does, on /desk,
    its link to the engine up. desk.js keeps each pop in window.callengineDesk.pops."""

    def __init__(self, url: str, account: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait

        self.account = account
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            log_in(self.driver, url, account, PASSWORD)
            WebDriverWait(self.driver, 60).until(lambda d: "/login" not in d.current_url)
            self.driver.get(f"{url}/desk")
            WebDriverWait(self.driver, 60).until(
                lambda d: d.execute_script('return document.getElementById("link").dataset.state') == "up")
            self.driver.execute_script(FRAMES_JS)
        except Exception:
            self.close()
            raise

    @property
    def pid(self) -> int | None:
        """chromedriver's: Chromium's processes are its descendants."""
        process = self.driver.service.process
        return process.pid if process is not None else None

    def renice(self, niceness: int) -> None:
        """chromedriver and every Chromium process under it (later ones inherit it from the zygote)."""
        if self.pid is None:
            return
        for pid in {self.pid} | descendants(proc_table(), self.pid):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, niceness)

    def clock_offset(self) -> tuple[float, float]:
        """(the page's clock minus this host's, the round trip that bounds the error), seconds."""
        before = time.time()
        page = self.driver.execute_script(NOW_JS) / 1000
        after = time.time()
        return page - (before + after) / 2, after - before

    def pops(self, frames: bool = False) -> dict[tuple[str, str], float]:
        """desk.js's pops, or the frames that showed them."""
        found = self.driver.execute_script(f"return window.{'screenpopFrames' if frames else 'callengineDesk.pops'}")
        return {(p["linkedid"], self.account): p["at"] / 1000 for p in found}

    def requests(self) -> list[dict[str, Any]]:
        """The page's calls to the console's API (Resource Timing), epoch ms: when each was sent,
        its first byte back and its end."""
        return list(self.driver.execute_script(REQUESTS_JS))

    def state(self) -> str:
        return str(self.driver.execute_script('return document.getElementById("link").dataset.state'))

    def close(self) -> None:
        """Quit, and wait (up to 15 s) until Chromium's processes are gone: the next run's CPU is its own."""
        pids = descendants(proc_table(), self.pid) if self.pid is not None else set()
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - a browser that died already is closed
            pass
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)  # wait-ok: no event announces another process's exit


def descendants(table: dict[int, tuple[int, int, int]], root: int) -> set[int]:
    kids = {pid for pid, (ppid, _, _) in table.items() if ppid == root}
    return kids.union(*(descendants(table, kid) for kid in kids))


class Console(ConsoleProcess):
    """The console at INFO, as `callengine up` runs it (console_lab's logs DEBUG for the tests)."""

    def start(self) -> Console:
        self.proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(self.config_file), "console",
                                      "--log-level", "INFO"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_healthy()
        return self


# -- one run -------------------------------------------------------------------------------------
@dataclass
class Run:
    kind: str                       # "desks" or "baseline"
    number: int
    browsers: int = 0
    sse_desks: int = 0
    offers: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    pops: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)   # by source
    accounts: dict[str, set[str]] = field(default_factory=dict)                   # the desks' takers, by source
    offsets: list[tuple[float, float]] = field(default_factory=list)             # browsers' clocks
    cpu: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    records: int = 0
    answered: int = 0
    ami: dict[str, int] = field(default_factory=dict)
    observer_nice: int = 0
    sipp: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind} #{self.number}"


def run_one(kind: str, number: int, args: argparse.Namespace) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    others = subprocess.run(["pgrep", "-f", "pytest|sipp|asterisk -f|chromedriver"], capture_output=True,
                            text=True).stdout.split()
    others = [pid for pid in others if int(pid) not in descendants(proc_table(), os.getpid())]
    result = Run(kind, number)
    progress(f"{result.name}: lab in {folder}; load average {os.getloadavg()[0]:.2f}, "
             f"{len(others)} other pytest/sipp/Asterisk/chromedriver processes")
    try:
        run_in(folder, result, args)
    except Exception as exc:  # one broken run must not cost the others' figures
        last = [line for line in str(exc).splitlines() if line.strip()][-1:] or [""]   # a CLI's traceback: its end
        result.error = f"{type(exc).__name__}: {last[0][:400]}"
        progress(f"{result.name}: broke off: {result.error}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def run_in(folder: Path, result: Run, args: argparse.Namespace) -> None:
    takers = [f"taker{i}" for i in range(1, args.takers + 1)]
    rtp = 20000 + free_port() % 20000
    lab = Lab.start(folder, roster=roster(takers), rtp_start=str(rtp), rtp_end=str(rtp + 10 * args.callers + 400))
    pool: TakerPool | None = None
    console: Console | None = None
    observer: Observer | None = None
    browsers: list[BrowserDesk] = []
    engine: Engine | None = None
    try:
        engine = Engine(lab.config_file).start()
        lab.engines.append(engine)
        pool = TakerPool(Behaviour(lab.sip, answer_delay=args.answer_after, talk_s=(args.talk_min, args.talk_max)))
        pool.add([(t, lab.password(t)) for t in takers])
        for taker in takers:
            engine.wait_taker_ready(taker, timeout=30)
        progress(f"{result.name}: Asterisk, engine and {len(takers)} call takers up and in queue 112")
        observer = Observer(lab.config_file)
        if result.kind == "desks":
            console = desks(lab, takers, observer, browsers, result, args)
        burst(lab, engine, console, browsers, folder, result, args)
        seen = observer.ask("results")
        result.offers, result.ami, result.observer_nice = seen["offers"], seen["ami"], seen["nice"]
        for source, name, pops, error in seen["streams"]:
            if source.startswith("engine listener"):
                continue
            result.pops.setdefault(source, {}).update(pops)
            if error and "timed out" not in error:
                result.notes.append(f"{name}'s stream ended: {error}")
        if browsers:
            result.pops["browser"] = {k: v for b in browsers for k, v in b.pops().items()}
            result.pops["browser frame"] = {k: v for b in browsers for k, v in b.pops(frames=True).items()}
            down = [b.account for b in browsers if b.state() != "up"]
            if down:
                result.notes.append(f"desks whose link was down at the end: {', '.join(down)}")
        (folder / "screenpop.json").write_text(json.dumps({   # every offer, pop and desk request, for --keep
            "offers": [[*k, *v] for k, v in result.offers.items()],
            "pops": {source: [[*k, v] for k, v in pops.items()] for source, pops in result.pops.items()},
            "requests": {b.account: b.requests() for b in browsers}}))
        result.answered = sum(pool.close().values())
        pool = None
        result.records = len(recorded([engine]))
        errors = engine.errors() + (console.errors() if console is not None else [])
        if errors:
            result.notes.append(f"{len(errors)} error lines in the engine's and console's logs, first: {errors[0]}")
        warnings = Counter(e.get("msg") for e in (console.lines if console is not None else [])
                           if e.get("level") == "warning")
        if warnings:
            result.notes.append(f"console warnings: {dict(warnings)}")
    finally:
        for browser in browsers:
            browser.close()
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


def desks(lab: Lab, takers: list[str], observer: Observer, browsers: list[BrowserDesk], result: Run,
          args: argparse.Namespace) -> Console:
    """The console beside the engine, a user per call taker (and one for the probe), each desk
    open: the first --browsers in Chromium, the others as SSE-only clients in the observer."""
    port = console_beside(lab.config_file).port   # [console] listen on a free port, in the lab's config
    users = [*takers, "probe"]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda name: add_user(lab.config_file, name, "calltaker", PASSWORD), users))
    console = Console(lab.config_file, port).start()
    progress(f"{result.name}: console up at {console.url}, {len(users)} users")
    observer.ask("desk", console.url, "probe", "console probe", "")
    for i in range(args.engine_probes):     # the first one's readings are reported; the others add load
        observer.ask("engine", "engine probe" if i == 0 else f"engine listener {i}")
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.open_parallel) as pool:
        futures = [pool.submit(BrowserDesk, console.url, t) for t in takers[:args.browsers]]
        for future in futures:
            browsers.append(future.result())
            if len(browsers) % 5 == 0 or len(browsers) == args.browsers:
                progress(f"{result.name}: {len(browsers)} Chromium desks on /desk, link up "
                         f"({time.monotonic() - t0:.0f} s)")
    for taker in takers[args.browsers:]:
        observer.ask("desk", console.url, taker, "sse desk", "history" if args.sse_history else "")
    if args.browser_nice:
        for browser in browsers:
            browser.renice(args.browser_nice)
    result.browsers, result.sse_desks = len(browsers), len(takers) - len(browsers)
    result.accounts = {"browser": set(takers[:args.browsers]), "browser frame": set(takers[:args.browsers]),
                      "sse desk": set(takers[args.browsers:])}
    result.offsets = [b.clock_offset() for b in browsers]
    return console


def burst(lab: Lab, engine: Engine, console: Console | None, browsers: list[BrowserDesk], folder: Path, result: Run,
          args: argparse.Namespace) -> None:
    """The burst of callers; CPU measured from sipp's start until every call is recorded and
    every recording processed (the engine's work for the calls, as surge.py measures it)."""
    assert lab.asterisk.proc is not None and engine.proc is not None
    roots: dict[str, Callable[[], int | None]] = {
        "engine": lambda: engine.proc.pid if engine.proc else None,
        "asterisk": lambda: lab.asterisk.proc.pid if lab.asterisk.proc else None,
        "ours": os.getpid,
    }
    if console is not None:
        roots["console"] = lambda: console.proc.pid if console.proc else None
    for i, browser in enumerate(browsers):
        roots[f"browser{i}"] = lambda browser=browser: browser.pid
    settle(args.settle_s, result)
    profilers = [profile(name, process, result, args) for name, process in (("engine", engine), ("console", console))
                 if process is not None and args.profile is not None]
    meter = CpuMeter(roots).start()
    bound = args.callers / args.rate + args.wait + 30
    sipp = sipp_load(lab, folder, "burst", caller_scenario(args.wait * 1000), args.callers, args.rate, args.callers,
                     "-mp", str(free_port(udp=True)), "-trace_stat", "-stf", str(folder / "burst-stat.csv"),
                     "-fd", "1", "-timeout", f"{math.ceil(bound)}s")
    t0 = time.monotonic()
    progress(f"{result.name}: {args.callers} callers at {args.rate:g}/s")
    try:
        try:
            sipp.wait(bound + 30)
        except subprocess.TimeoutExpired:
            progress(f"{result.name}: sipp overran {bound + 30:.0f} s; killed")
        result.sipp = sipp_counts(folder, "burst")
        result.calls = result.sipp["OutgoingCall"]
        progress(f"{result.name}: sipp done at {time.monotonic() - t0:.0f} s: {result.sipp}; "
                 f"{len(recorded([engine]))} recorded")
        wait_idle([engine], lambda: len(recorded([engine])) >= result.calls, recorded, RECORDS_IDLE_S, 120)
        wait_idle([engine], lambda: len(processed([engine])) >= len(recorded([engine])), processed,
                  RECORDS_IDLE_S, 300)
        result.notes.append(f"{len(recorded([engine]))} recorded, {len(processed([engine]))} recordings processed "
                            f"at {time.monotonic() - t0:.0f} s")
    finally:
        result.cpu = meter.stop()
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        for profiler in profilers:
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()


def profile(name: str, process: Engine | Console, result: Run, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """py-spy on the engine or the console from the burst's start for --profile-s: collapsed
    stacks, one frame per function, sampled only while a thread holds the GIL (as surge.py does)."""
    assert process.proc is not None
    args.profile.mkdir(parents=True, exist_ok=True)
    spy = next((p for p in (Path(sys.executable).parent / "py-spy", Path("/tmp/pyspy/bin/py-spy")) if p.exists()),
               Path("py-spy"))
    stem = f"{name}-{result.kind}-{result.number}"
    with (args.profile / f"{stem}.log").open("w") as log:
        return subprocess.Popen([str(spy), "record", "--pid", str(process.proc.pid), "--rate", "100", "--format", "raw",
                                 "--function", "--gil", "--duration", str(args.profile_s),
                                 "--output", str(args.profile / f"{stem}.txt")], stdout=subprocess.DEVNULL, stderr=log)


def settle(seconds: float, result: Run) -> None:
    """Let the start-up work (Chromium's first paint, the console's logins) die down before the
    burst, so the CPU window holds the calls' work."""
    if seconds > 0:
        progress(f"{result.name}: settling {seconds:g} s (load average {os.getloadavg()[0]:.2f})")
        time.sleep(seconds)  # wait-ok: a quiet period, not an event


# -- report --------------------------------------------------------------------------------------
def latencies(run: Run, source: str, use_received: bool = False) -> tuple[list[float], int, int]:
    """Pop − AgentCalled (ms) for every offer the source popped; the offers it did not pop; the
    pops of offers AMI never showed."""
    pops = run.pops.get(source, {})
    accounts = run.accounts.get(source)         # None: a probe, which hears every offer
    mine = {k: v for k, v in run.offers.items() if accounts is None or k[1] in accounts}
    values = [(pops[k] - (received if use_received else ts)) * 1000 for k, (ts, received) in mine.items() if k in pops]
    return values, sum(1 for k in mine if k not in pops), sum(1 for k in pops if k not in run.offers)


def fmt(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.0f}" if values else "-"


SOURCES = {"browser": "Chromium desks", "browser frame": "Chromium desks, the frame showing the pop",
           "sse desk": "SSE-only desks (no browser)", "console probe": "console's desk stream (probe, every offer)",
           "engine probe": "engine's live API (probe, every offer)"}


def report(runs: list[Run], args: argparse.Namespace) -> list[str]:
    niced = f"; Chromium at nice {args.browser_nice}" if args.browser_nice else ""
    niced += "; SSE-only desks fetch the caller's history on each pop" if args.sse_history else ""
    lines = [f"{args.takers} call takers (bots answer {args.answer_after:g} s after ringing, talk "
             f"{args.talk_min:g}-{args.talk_max:g} s, wrap-up 5 s); {args.callers} callers at {args.rate:g}/s "
             f"pressing 2 in the greeting; engine and console at INFO{niced}. Latency = pop − AgentCalled's "
             f"Timestamp (Asterisk's clock); 'from reception' = pop − the wall clock when the observer's AMI login "
             f"received it.", "",
             row("run", "where", "desks", "offers", "popped", "offers without a pop", "p50 ms", "p90 ms", "p99 ms",
                 "max ms", "p99 ms from reception", f"p99 < {TARGET_P99_MS:.0f} ms"), "|" + " --- |" * 12]
    pooled: dict[str, list[float]] = {}
    for run in runs:
        if run.error:
            lines.append(row(run.name, "broke off", *["-"] * 10))
            continue
        for source in (s for s in SOURCES if s in run.pops):
            values, missed, stray = latencies(run, source)
            from_received, _, _ = latencies(run, source, use_received=True)
            pooled.setdefault(source, []).extend(values)
            desks_n = run.browsers if source.startswith("browser") else run.sse_desks if source == "sse desk" else "-"
            p99 = percentile(values, 99)
            lines.append(row(run.name, SOURCES[source], desks_n, len(values) + missed, len(values),
                             missed, fmt(values, 50), fmt(values, 90), fmt(values, 99),
                             f"{max(values):.0f}" if values else "-", fmt(from_received, 99),
                             ("met" if p99 < TARGET_P99_MS else "NOT met") if run.accounts.get(source) and values
                             else "-"))
            if stray:
                run.notes.append(f"{source}: {stray} pops of offers AMI never reported")
    if sum(1 for r in runs if r.kind == "desks" and not r.error) > 1:
        for source, values in pooled.items():
            lines.append(row("all desk runs", SOURCES[source], "-", "-", len(values), "-", fmt(values, 50),
                             fmt(values, 90), fmt(values, 99), f"{max(values):.0f}", "-", "-"))
    lines += ["", row("run", "calls", "records", "answered by takers", "engine CPU s", "engine ms/call",
                      "recording workers s", "Asterisk s", "console s", "Chromium s", "machine busy cores",
                      "others' cores", "wall s"), "|" + " --- |" * 13]
    per_call: dict[str, list[float]] = {}
    for run in (r for r in runs if not r.error):
        cpu, calls = run.cpu, max(run.calls, 1)
        engine = cpu.get("engine", 0.0)
        chromium = sum(v for k, v in cpu.items() if k.startswith("browser"))
        ours = cpu.get("ours", 0) + cpu.get("ours+", 0)        # this process and all it started
        per_call.setdefault(run.kind, []).append(engine * 1000 / calls)
        lines.append(row(run.name, run.calls, run.records, run.answered, f"{engine:.2f}",
                         f"{engine * 1000 / calls:.1f}",
                         f"{cpu.get('engine+', 0):.1f}", f"{cpu.get('asterisk', 0) + cpu.get('asterisk+', 0):.1f}",
                         f"{cpu.get('console', 0) + cpu.get('console+', 0):.1f}" if "console" in cpu else "-",
                         f"{chromium:.1f}" if chromium else "-", f"{cpu.get('machine_cores', 0):.2f}",
                         f"{cpu.get('machine_cores', 0) - ours / cpu.get('wall', 1):.2f}",
                         f"{cpu.get('wall', 0):.0f}"))
    lines.append("")
    if "desks" in per_call and "baseline" in per_call:
        with_api, without = mean(per_call["desks"]), mean(per_call["baseline"])
        more = 100 * (with_api / without - 1)
        lines.append(f"Engine CPU per call, mean over runs: {with_api:.1f} ms with the live API in use "
                     f"({len(per_call['desks'])} run(s)), {without:.1f} ms without "
                     f"({len(per_call['baseline'])} run(s)): "
                     f"ratio {with_api / without:.3f}, {more:+.1f} % (target: under +{TARGET_CPU_PCT:g} %: "
                     f"{'met' if more < TARGET_CPU_PCT else 'NOT met'}).")
        if args.engine_probes:
            listeners = args.engine_probes + 1
            lines.append(f"The engine had {listeners} listeners on its live API in the desk runs (the console and "
                         f"{args.engine_probes} probes): {(with_api - without) / listeners:.2f} ms per call per "
                         f"listener, {100 * (with_api - without) / listeners / without:+.1f} % of the baseline.")
        lines.append("")
    for run in runs:
        notes = ([f"broke off: {run.error}"] if run.error else []) + run.notes
        if run.offsets:
            worst = max(run.offsets, key=lambda o: abs(o[0]))
            notes.append(f"Chromium clocks against this host's: worst {worst[0] * 1000:+.1f} ms "
                         f"(± {worst[1] * 500:.1f} ms)")
        if run.offers:
            notes.append(f"observer at nice {run.observer_nice}")
        if run.ami:
            notes.append("AMI: " + ", ".join(f"{k} {v}" for k, v in run.ami.items()))
        if run.offers:
            delay = [(received - ts) * 1000 for ts, received in run.offers.values()]
            notes.append(f"AgentCalled reception in the observer − its Timestamp: p50 {fmt(delay, 50)} ms, "
                         f"p99 {fmt(delay, 99)} ms")
        if run.sipp:
            notes.append(f"sipp {run.sipp}")
        lines.append(f"- **{run.name}**: " + "; ".join(notes))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takers", type=int, default=20,
                        help="call takers on duty, each with a bot and a desk (default 20)")
    parser.add_argument("--browsers", type=int, help="desks in Chromium; the other takers' desks are SSE-only "
                                                     "clients (default: every taker's in Chromium)")
    parser.add_argument("--callers", type=int, default=40, help="callers in the burst (default 40)")
    parser.add_argument("--rate", type=float, default=40, help="callers arriving per second (default 40: one second)")
    parser.add_argument("--answer-after", type=float, default=3.0,
                        help="seconds a bot lets its phone ring before answering (default 3)")
    parser.add_argument("--talk-min", type=float, default=3.0,
                        help="call takers talk at least this long (s, default 3)")
    parser.add_argument("--talk-max", type=float, default=5.0, help="and at most this long (s, default 5)")
    parser.add_argument("--wait", type=int, default=60,
                        help="seconds a caller waits for a call taker after pressing 2, then hangs up (default 60)")
    parser.add_argument("--runs", nargs="+", choices=("desks", "baseline"), default=["baseline", "desks"],
                        help="which runs, in this order (default: baseline desks); 'baseline' has no console "
                             "and no desk")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the sequence of runs this many times (default 1)")
    parser.add_argument("--settle-s", type=float, default=10, help="quiet seconds before each burst (default 10)")
    parser.add_argument("--open-parallel", type=int, default=4, help="Chromium desks opened at once (default 4)")
    parser.add_argument("--engine-probes", type=int, default=0, metavar="N",
                        help="in desk runs, N more listeners on the engine's live API beside the console's; the "
                             "first one's readings are reported. Each adds its share to the engine's CPU: with "
                             "N large, (desks - baseline) / (N + 1) is what one listener costs (default 0)")
    parser.add_argument("--sse-history", action="store_true",
                        help="SSE-only desks fetch the caller's history on each pop, as desk.js does "
                             "(GET /api/v1/desk/history)")
    parser.add_argument("--browser-nice", type=int, default=0, metavar="N",
                        help="run the Chromium desks at this niceness (19: the centre's processes first, as if the "
                             "browsers were on the call takers' own PCs; default 0)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy on the engine (and the console) during each burst: DIR/engine-<run>.txt, "
                             "DIR/console-<run>.txt; the engine's summarised after the tables")
    parser.add_argument("--profile-s", type=int, default=30, help="seconds of the burst to profile (default 30)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 takers, 4 browsers, 8 callers, one run of each kind")
    parser.add_argument("--keep", action="store_true",
                        help="keep each lab folder (Asterisk logs, sipp files, engine.jsonl, console.jsonl, "
                             "screenpop.json: every offer and pop)")
    args = parser.parse_args()
    if args.quick:
        args.takers, args.callers, args.repeat, args.settle_s = 4, 8, 1, 3
    args.browsers = args.takers if args.browsers is None else min(args.browsers, args.takers)
    enter_loopback_namespace()
    progress(f"screen pop: {args.takers} takers ({args.browsers} in Chromium), {args.callers} callers, "
             f"runs {' '.join(args.runs)} x{args.repeat}")
    runs = [run_one(kind, i + 1, args) for i in range(args.repeat) for kind in args.runs]
    print("\n".join(report(runs, args)))
    if args.profile is not None:
        print("\n".join(summarise_profiles(args.profile)))


if __name__ == "__main__":
    main()
