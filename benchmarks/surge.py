"""Surge and faults (issue 8): callers arriving at a set rate up to N at once, each pressing a
digit and waiting, some answered by bot call takers; then the same surge with one fault in
turn (engine killed, AMI cut, PostgreSQL stopped, Asterisk restarted). Per run: sipp's
success, INVITE → 200, records against Asterisk's own account of the calls (CEL), no
duplicate, categories, hangup → record, and the engine's CPU against Asterisk's. Method and
figures: benchmarks/README.md.

One fresh centre per run: a real Asterisk 16 with the project's config (tests/integration/lab.py),
the real engine (`callengine run` at INFO, as deployed), call takers as pjsua2 bots in worker
processes (callengine/bots/pool.py), callers as sipp on the trunk address 127.0.0.2. Runs in a
private loopback-only network namespace (re-executes itself under `unshare --net`).
Progress goes to stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import (DurablePostgres, Engine, enter_loopback_namespace, machine_busy,  # first: puts tests/ on the path
                    percentile, proc_table, progress, row, sipp_counts, spooled, TICK, tree_ticks)

from callengine.bots.pool import Behaviour, TakerPool
from callengine.calls.rebuild import read_cel
from callengine.telephony.dialplan import EMERGENCY_CONTEXTS
from lab import Lab, free_port
from sipp import _caller_hangs_up, scenario, sipp_load
from tcpcut import TcpCut

LEVELS = (50, 100, 200, 400)
FAULTS = ("kill", "ami-cut", "pg-stop", "asterisk-restart")
TAKERS = [f"taker{i}" for i in range(1, 9)]
CALLER = "+62812000"            # + sipp's call number: each caller its own E.164 number
DIGIT = "2"                     # kebakaran in config/ivr.conf
DIGIT_AFTER_MS = 1500           # during the greeting (3.4 s): barge-in
UP_RESTART_S = 1.0              # `callengine up` restarts a dead engine after 1 s (then 2, 4 … 30)
IDLE_S = 45                     # no new record for this long: the engine has written all it will
RECORDINGS_IDLE_S = 30          # the same for the recording workers
TARGET_CPU_PCT = 5.0


def roster() -> str:
    on_duty = "+".join(TAKERS)
    return ("[calltakers]\n" + "".join(f"{t} = Operator {t[5:]}\n" for t in TAKERS) +
            f"[supervisors]\nspv1 = Supervisor Satu\n[rotation]\n1 = pagi {on_duty}, siang {on_duty}, malam {on_duty}\n")


def caller_scenario(wait_ms: int) -> str:
    """The tests' 112 call (sipp.scenario) pressing DIGIT by RFC 2833 after DIGIT_AFTER_MS, then
    waiting `wait_ms` for the far end's BYE (a call taker who answered and hung up, or Asterisk
    going away); if none comes, the caller hangs up. Either way the call counts as a success."""
    text = scenario(f"{CALLER}[call_number]", hold_ms=wait_ms, hangs_up=False, digit=DIGIT,
                    digit_after_ms=DIGIT_AFTER_MS)
    waits = f'<recv request="BYE" timeout="{wait_ms}"/>'
    assert waits in text
    return (text.replace(waits, f'<recv request="BYE" timeout="{wait_ms}" ontimeout="hangup"/>')
            .replace("</scenario>", f'  <nop next="end"/>\n  <label id="hangup"/>\n'
                                    f'{_caller_hangs_up(f"{CALLER}[call_number]", 0)}\n  <label id="end"/>\n</scenario>'))


# -- CPU -----------------------------------------------------------------------------------------
class CpuMeter:
    """CPU seconds per role over a window, from /proc twice a second. A role is a process tree
    whose root a callable names: the root may change (engine killed and restarted, Asterisk
    restarted). A root counts from the window's start, or from its own start if it began
    within the window, to the last sample that saw it: a killed process loses at most 0.5 s."""

    def __init__(self, roots: dict[str, Callable[[], int | None]]) -> None:
        self.roots = roots
        self.first: dict[tuple[str, int], tuple[int, int]] = {}
        self.last: dict[tuple[str, int], tuple[int, int]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> CpuMeter:
        self.machine0, self.t0 = machine_busy(), time.monotonic()
        self._sample(initial=True)
        self.thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Seconds per role (`role` its root's own CPU, `role+` its descendants'), machine
        busy cores and wall seconds."""
        self.done.set()
        self.thread.join(5)
        self._sample()
        spent: dict[str, float] = Counter()
        for key, (own, kids) in self.last.items():
            own0, kids0 = self.first[key]
            spent[key[0]] += (own - own0) / TICK
            spent[key[0] + "+"] += (kids - kids0) / TICK
        wall = time.monotonic() - self.t0
        return {**spent, "wall": wall, "machine_cores": (machine_busy() - self.machine0) / TICK / wall}

    def _poll(self) -> None:
        while not self.done.wait(0.5):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        table = proc_table()
        for role, root in self.roots.items():
            try:
                pid = root()
            except (OSError, ValueError, AttributeError):  # e.g. PostgreSQL stopped: no postmaster.pid
                continue
            if pid is None or pid not in table:
                continue
            ticks = tree_ticks(table, pid)
            self.first.setdefault((role, pid), ticks if initial else (0, 0))
            self.last[(role, pid)] = ticks


# -- one run -------------------------------------------------------------------------------------
@dataclass
class Run:
    level: int
    fault: str | None
    sipp: dict[str, int] = field(default_factory=dict)
    sipp_failures: dict[str, int] = field(default_factory=dict)   # failed calls by sipp's reason
    rtt_ms: list[float] = field(default_factory=list)          # INVITE → 200, per call (sipp -trace_rtt)
    records: list[dict[str, Any]] = field(default_factory=list)  # the store, read at the end
    cel: dict[str, dict[str, Any]] = field(default_factory=dict)  # Asterisk's 112 calls by linkedid
    live_ms: list[float] = field(default_factory=list)         # the engine's hangup_to_commit_ms
    all_ms: dict[str, float] = field(default_factory=dict)     # per record: its log line's ts - ended_at
    cpu: dict[str, float] = field(default_factory=dict)
    answered_by_bots: int = 0
    spooled: int = 0
    rejected: int = 0
    log_counts: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    error: str = ""                                            # the run broke off: why
    recordings: tuple[int, int] = (0, 0)                      # processed, recorded

    @property
    def name(self) -> str:
        return f"surge {self.level}" if self.fault is None else f"{self.fault} at {self.level}"


LOG_COUNTS = {  # engine log lines worth a count in the report
    "adopted": ("live calls adopted", "adopted"),
    "rebuilt from CEL": ("call rebuilt from CEL", None),
    "spooled": ("database unavailable; call record spooled", None),
    "finished after AMI gap": ("call ended while AMI was away; finishing it", None),
    "not in CEL": ("call not found in CEL; recording it from the events seen", None),
    "IVR never reported": ("IVR never reported; recording the call without its notes", None),
    "already stored": ("call record already stored", None),
    "no AgentComplete": ("no AgentComplete for an answered call; talk time from the hangup", None),
}


def run_one(level: int, fault: str | None, args: argparse.Namespace) -> Run:
    """One surge (with its fault) in a fresh lab folder, removed afterwards unless --keep."""
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    others = subprocess.run(["pgrep", "-f", "pytest|sipp|asterisk -f"], capture_output=True, text=True).stdout.split()
    progress(f"{Run(level, fault).name}: lab in {folder}; load average {os.getloadavg()[0]:.2f}, "
             f"{len(others)} other pytest/sipp/Asterisk processes")
    try:
        result = run_in(folder, level, fault, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    progress(f"{result.name}: {len(result.records)} records for {result.sipp.get('OutgoingCall')} calls "
             f"({len(result.cel)} in CEL), sipp {result.sipp}, CPU {fmt_cpu(result.cpu)}")
    return result


def run_in(folder: Path, level: int, fault: str | None, args: argparse.Namespace) -> Run:
    """The centre up (PostgreSQL, Asterisk, the engine, the call takers on duty), the surge,
    the store read, everything stopped; then Asterisk's CEL and the spool read."""
    result = Run(level, fault)
    pg = DurablePostgres(fsync=True) if fault == "pg-stop" else None
    proxy: TcpCut | None = None
    lab: Lab | None = None
    pool: TakerPool | None = None
    engines: list[Engine] = []
    try:
        url = "sqlite"
        if pg is not None:
            pg.start()
            url = pg.create_database("surge")
        rtp = 20000 + free_port() % 20000
        lab = Lab.start(folder, roster=roster(), database=url, rtp_start=str(rtp), rtp_end=str(rtp + 10 * level + 400))
        config = lab.config_file
        if fault == "ami-cut":   # the engine reaches AMI through a proxy that can be cut
            proxy = TcpCut(lab.settings.ami_port)
            config = folder / "engine.conf"   # beside roster.conf, which it names
            config.write_text(lab.config_file.read_text().replace(
                f"ami_port = {lab.settings.ami_port}", f"ami_port = {proxy.port}"))
        engines.append(Engine(config).start())
        lab.engines.append(engines[-1])
        pool = TakerPool(Behaviour(lab.sip, answer_delay=0.2, talk_s=(args.talk_min, args.talk_max)))
        pool.add([(t, lab.password(t)) for t in TAKERS])
        for taker in TAKERS:
            engines[-1].wait_taker_ready(taker, timeout=30)
        surge(lab, engines, folder, pg, proxy, result, args)
        result.answered_by_bots = sum(pool.close().values())
        pool = None
        result.records = list_calls(lab)
    finally:
        if pool is not None:
            pool.close()
        if lab is not None:
            stop(lab, folder, engines)
        if proxy is not None:
            proxy.close()
        if pg is not None:
            pg.close()
    result.cel = cel_calls(lab.settings.runtime_dir / "log" / "cel-custom" / "Master.csv")
    result.spooled = spooled(lab.settings.runtime_dir)
    rejected = lab.settings.runtime_dir / "spool" / "call-records.rejected"
    result.rejected = len(rejected.read_text().splitlines()) if rejected.exists() else 0
    latencies(engines, result)
    return result


def surge(lab: Lab, engines: list[Engine], folder: Path, pg: DurablePostgres | None, proxy: TcpCut | None,
          result: Run, args: argparse.Namespace) -> None:
    """Place the surge (and the fault), then wait for the records and their recordings; CPU
    measured over all of it."""
    assert lab.asterisk.proc is not None
    roots: dict[str, Callable[[], int | None]] = {
        "engine": lambda: engines[-1].proc.pid if engines[-1].proc else None,
        "asterisk": lambda: lab.asterisk.proc.pid if lab.asterisk.proc else None,
        "ours": os.getpid,      # this process and every child: sipp, bots, engine, Asterisk
    }
    if pg is not None:
        roots["postgres"] = pg.postmaster
    profiler = profile(engines[-1], result, args)
    meter = CpuMeter(roots).start()
    bound = result.level / args.rate + args.wait + DIGIT_AFTER_MS / 1000 + 90
    sipp = sipp_load(lab, folder, "surge", caller_scenario(args.wait * 1000), result.level, args.rate, result.level,
                     "-mp", str(free_port(udp=True)), "-trace_stat", "-stf", str(folder / "surge-stat.csv"), "-fd", "1",
                     "-trace_rtt", "-rtt_freq", "1", "-timeout", f"{math.ceil(bound)}s")
    t0 = time.monotonic()
    stop_progress = threading.Event()
    threading.Thread(target=report_progress, args=(engines, folder, result.name, t0, stop_progress), daemon=True).start()
    try:
        if result.fault is not None:
            inject(result.fault, lab, engines, pg, proxy, t0, result, args)
        try:
            sipp.wait(max(1.0, bound + 30 - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            sipp.kill()
            sipp.wait()
            progress(f"{result.name}: sipp overran {bound + 30:.0f} s; killed")
        result.sipp = sipp_counts(folder, "surge")
        result.sipp_failures = sipp_failures(folder, "surge")
        result.timeline.append(f"sipp done at {time.monotonic() - t0:.1f} s")
        wait_idle(engines, lambda: len(recorded(engines)) >= result.sipp["OutgoingCall"], recorded, IDLE_S, 600)
        result.timeline.append(f"{len(recorded(engines))} recorded at {time.monotonic() - t0:.1f} s")
        wait_idle(engines, lambda: len(processed(engines)) >= len(recorded(engines)), processed, RECORDINGS_IDLE_S, 900)
        result.recordings = (len(processed(engines)), len(recorded(engines)))
        result.timeline.append(f"{result.recordings[0]} recordings processed at {time.monotonic() - t0:.1f} s")
    finally:
        stop_progress.set()
        result.cpu = meter.stop()
        if sipp.poll() is None:   # the fault or a wait failed: no caller outlives the run
            sipp.kill()
            sipp.wait()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)   # py-spy writes its file on Ctrl-C, or at --duration
            try:
                profiler.wait(60)
            except subprocess.TimeoutExpired:
                profiler.kill()
    result.rtt_ms = rtt(folder, "surge")
    for name, (msg, key) in LOG_COUNTS.items():
        lines = [e for engine in engines for e in engine.lines if e.get("msg") == msg]
        result.log_counts[name] = sum(int(e.get(key, 0)) for e in lines) if key else len(lines)
    result.log_counts["error lines"] = sum(len(engine.errors()) for engine in engines)


def inject(fault: str, lab: Lab, engines: list[Engine], pg: DurablePostgres | None, proxy: TcpCut | None,
           t0: float, result: Run, args: argparse.Namespace) -> None:
    """The fault, `--fault-at` seconds into the surge; returns once it is over (the engine back,
    AMI reconnected, PostgreSQL up, Asterisk booted)."""
    time.sleep(max(0.0, t0 + args.fault_at - time.monotonic()))  # wait-ok: a point in the surge's timeline

    def mark(what: str) -> None:
        result.timeline.append(f"{what} at {time.monotonic() - t0:.1f} s")
        progress(f"{result.name}: {what}")

    if fault == "kill":
        mark("engine killed (kill -9)")
        engines[-1].kill()
        time.sleep(UP_RESTART_S)  # wait-ok: `callengine up`'s restart delay
        mark("engine restarted")
        engines.append(Engine(engines[-1].config_file).start())
        lab.engines.append(engines[-1])
        mark("restarted engine's AMI connected")
    elif fault == "ami-cut":
        assert proxy is not None
        at = len(engines[-1].lines)
        mark(f"AMI cut for {args.cut_s:g} s")
        proxy.cut(args.cut_s)
        engines[-1].wait_log("AMI connection lost; reconnecting", start=at, timeout=30)
        engines[-1].wait_log("AMI connected", start=at, timeout=args.cut_s + 60)
        mark("AMI reconnected")
    elif fault == "pg-stop":
        assert pg is not None
        mark(f"PostgreSQL stopped for {args.pg_stop_s:g} s")
        pg.stop()
        time.sleep(args.pg_stop_s)  # wait-ok: the outage's length
        pg.start()
        mark("PostgreSQL started")
    elif fault == "asterisk-restart":
        at = len(engines[-1].lines)
        mark("Asterisk stopped (SIGTERM)")
        lab.asterisk.stop()
        mark("Asterisk stopped; starting it")
        lab.asterisk.start()
        mark("Asterisk fully booted")
        engines[-1].wait_log("AMI connected", start=at, timeout=60)
        mark("engine's AMI reconnected")


def recorded(engines: list[Engine]) -> set[str]:
    return {e["linkedid"] for engine in engines for e in engine.lines if e.get("msg") == "call recorded"}


def processed(engines: list[Engine]) -> set[str]:
    done = ("recording processed", "recording not processed", "recording facts not stored")
    return {e.get("linkedid") for engine in engines for e in engine.lines if e.get("msg", "").split(":")[0] in done}


def wait_idle(engines: list[Engine], done: Callable[[], bool], seen: Callable[[list[Engine]], set[str]],
              idle_s: float, limit_s: float) -> None:
    """Until `done`, or nothing new was seen for `idle_s`, or `limit_s` passed."""
    deadline = time.monotonic() + limit_s
    count = -1
    while not done() and count < (now := len(seen(engines))) and time.monotonic() < deadline:
        count = now
        with engines[-1].changed:
            engines[-1].changed.wait_for(lambda: done() or len(seen(engines)) > count,
                                         min(idle_s, max(0.0, deadline - time.monotonic())))


def report_progress(engines: list[Engine], folder: Path, name: str, t0: float, stop: threading.Event) -> None:
    while not stop.wait(10):
        try:
            header, *rows = (folder / "surge-stat.csv").read_text().splitlines()
            last = dict(zip(header.split(";"), rows[-1].split(";")))
            calls = f"sipp {last['OutgoingCall(C)']} placed, {last['CurrentCall']} up, {last['FailedCall(C)']} failed"
        except (OSError, ValueError, IndexError, KeyError):
            calls = "sipp starting"
        progress(f"{name}: {time.monotonic() - t0:5.0f} s, {calls}; {len(recorded(engines))} recorded, "
                 f"{len(processed(engines))} recordings processed, {sum(len(e.errors()) for e in engines)} error lines")


def profile(engine: Engine, result: Run, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """py-spy on the engine for the surge itself (not the faults): collapsed stacks, one frame per
    function (`--function`: named by the function's first line), sampled only while a thread
    holds the GIL (`--gil`), i.e. running Python. Without it, threads blocked in C (aiosqlite's
    queue, the executors, select) count as busy: py-spy's idle detection misses them here."""
    if args.profile is None or result.fault is not None:
        return None
    assert engine.proc is not None
    args.profile.mkdir(parents=True, exist_ok=True)
    seconds = math.ceil(result.level / args.rate + args.wait + DIGIT_AFTER_MS / 1000 + 10)
    with (args.profile / f"py-spy-{result.level}.log").open("w") as log:
        return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(engine.proc.pid),
                                 "--rate", "100", "--format", "raw", "--function", "--gil", "--duration", str(seconds),
                                 "--output", str(args.profile / f"engine-{result.level}.txt")],
                                stdout=subprocess.DEVNULL, stderr=log)


def list_calls(lab: Lab) -> list[dict[str, Any]]:
    """Every record in the store (lab.calls() would give the newest 100 only)."""
    done = subprocess.run([sys.executable, "-m", "callengine", "--config", str(lab.config_file), "calls", "list",
                           "--json", "--limit", "0"], capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in done.stdout.splitlines()]


def cel_calls(path: Path) -> dict[str, dict[str, Any]]:
    """Asterisk's own account: every call whose first channel reached the emergency contexts,
    with its caller number and whether CEL saw it end."""
    calls = {}
    for linkedid, rows in read_cel(path).items():
        caller = [r for r in rows if r["uniqueid"] == linkedid]
        start = next((r for r in caller if r["eventtype"] == "CHAN_START"), None)
        if start is not None and any(r["context"] in EMERGENCY_CONTEXTS for r in caller):
            calls[linkedid] = {"caller": start["cid_num"], "started": float(start["eventtime"]),
                               "ended": any(r["eventtype"] == "LINKEDID_END" for r in rows)}
    return calls


def sipp_failures(folder: Path, name: str) -> dict[str, int]:
    """sipp's failed calls by reason (FailedTimeoutOnRecv, FailedUnexpectedMessage …), non-zero only."""
    header, *rows = (folder / f"{name}-stat.csv").read_text().splitlines()
    last = dict(zip(header.split(";"), rows[-1].split(";")))
    return {k[6:-3]: int(v) for k, v in last.items() if k.startswith("Failed") and k.endswith("(C)")
            and k != "FailedCall(C)" and v.strip() not in ("", "0")}


def rtt(folder: Path, name: str) -> list[float]:
    """sipp's -trace_rtt file: one response time (ms) per call, from the INVITE sent to the 200."""
    values = []
    for path in folder.glob(f"{name}_*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            try:
                values.append(float(fields[1]))
            except (IndexError, ValueError):
                continue
    return values


def latencies(engines: list[Engine], result: Run) -> None:
    """The engine's own figure for live records, and for every record the first 'call recorded'
    line's timestamp minus the record's end (spooled and rebuilt records included)."""
    ended = {r["linkedid"]: datetime.fromisoformat(r["ended_at"]).timestamp() for r in result.records}
    for engine in engines:
        for e in engine.lines:
            if e.get("msg") != "call recorded":
                continue
            if "hangup_to_commit_ms" in e:
                result.live_ms.append(float(e["hangup_to_commit_ms"]))
            if e["linkedid"] in ended and e["linkedid"] not in result.all_ms:
                result.all_ms[e["linkedid"]] = (datetime.fromisoformat(e["ts"]).timestamp() - ended[e["linkedid"]]) * 1000


def stop(lab: Lab, folder: Path, engines: list[Engine]) -> None:
    """Engine and Asterisk stopped; the engines' log lines kept in the folder (see --keep)."""
    try:
        lab.close()
    except AssertionError as exc:   # lab.py's "engine ignored SIGTERM": killed, Asterisk stopped anyway
        progress(str(exc)[:300])
    finally:
        with (folder / "engine.jsonl").open("w") as out:
            for engine in engines:
                out.writelines(json.dumps(e) + "\n" for e in engine.lines)


# -- report --------------------------------------------------------------------------------------
def fmt_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())


def check(run: Run) -> dict[str, Any]:
    """Records against Asterisk's calls and against the callers sipp placed."""
    ids = Counter(r["linkedid"] for r in run.records)
    by_caller = Counter(r["caller"] for r in run.records)
    in_cel = set(run.cel)
    lost = sorted(in_cel - ids.keys())                      # Asterisk had the call; the store has no record
    stray = sorted(ids.keys() - in_cel)                     # a record for a call CEL does not know
    doubled = sorted(k for k, n in ids.items() if n > 1)
    callers = {f"{CALLER}{n}" for n in range(1, run.sipp.get("OutgoingCall", 0) + 1)}
    cel_callers = Counter(c["caller"] for c in run.cel.values())
    unheard = sorted(callers - cel_callers.keys())          # never reached the emergency context
    twice = sorted(c for c, n in by_caller.items() if n > 1)
    uncategorised = [r for r in run.records if r["category"] is None]
    return {"lost": lost, "stray": stray, "doubled": doubled, "unheard": unheard, "twice": twice,
            "uncategorised": Counter((r["queue"], r["disposition"]) for r in uncategorised),
            "sources": Counter(r["source"] for r in run.records),
            "dispositions": Counter(r["disposition"] for r in run.records),
            "cel_unended": sum(1 for c in run.cel.values() if not c["ended"])}


def report(runs: list[Run], args: argparse.Namespace) -> list[str]:
    def ms(values: list[float], q: float) -> str:
        return f"{percentile(values, q):.0f}" if values else "-"

    lines = [f"Callers at {args.rate:g}/s up to N at once, each pressing {DIGIT} after {DIGIT_AFTER_MS} ms and "
             f"waiting {args.wait} s; {len(TAKERS)} bot call takers (answer 0.2 s, talk {args.talk_min:g}-{args.talk_max:g} s); "
             f"faults at {args.fault_at:g} s into the surge; engine log level INFO.", "",
             row("run", "calls", "sipp ok / failed", "INVITE→200 p50 / p99 ms", "Asterisk calls (CEL)", "records",
                 "lost / doubled", "categorised", "answered by takers", "hangup→record p50 / p99 ms (live)",
                 "p99 / max ms (all records)", "nothing lost or doubled"),
             "|" + " --- |" * 12]
    for run in runs:
        if run.error:
            lines.append(row(run.name, "broke off", *["-"] * 10))
            continue
        c = check(run)
        ok = not c["lost"] and not c["doubled"] and not c["stray"] and not c["twice"]
        live, every = run.live_ms, list(run.all_ms.values())
        lines.append(row(run.name, run.sipp.get("OutgoingCall"), f"{run.sipp.get('SuccessfulCall')} / {run.sipp.get('FailedCall')}",
                         f"{ms(run.rtt_ms, 50)} / {ms(run.rtt_ms, 99)}", len(run.cel), len(run.records),
                         f"{len(c['lost'])} / {len(c['doubled']) + len(c['twice'])}",
                         f"{len(run.records) - sum(c['uncategorised'].values())} / {len(run.records)}",
                         run.answered_by_bots, f"{ms(live, 50)} / {ms(live, 99)}",
                         f"{ms(every, 99)} / {max(every):.0f}" if every else "-", "met" if ok else "NOT met"))
    lines += ["", row("run", "engine CPU s", "recording workers s", "Asterisk CPU s", "engine ms/call",
                      "Asterisk ms/call", "engine % of Asterisk", "workers % of Asterisk", "PostgreSQL s",
                      "machine busy cores", "others' cores", "wall s"), "|" + " --- |" * 12]
    for run in (r for r in runs if not r.error):
        cpu, calls = run.cpu, max(run.sipp.get("OutgoingCall", 0), 1)
        engine, workers, asterisk = cpu.get("engine", 0.0), cpu.get("engine+", 0.0), sum(
            cpu.get(k, 0.0) for k in ("asterisk", "asterisk+"))
        ours = cpu.get("ours", 0.0) + cpu.get("ours+", 0.0) + cpu.get("postgres", 0.0) + cpu.get("postgres+", 0.0)
        others = cpu.get("machine_cores", 0.0) - ours / cpu.get("wall", 1.0)
        lines.append(row(run.name, f"{engine:.1f}", f"{workers:.1f}", f"{asterisk:.1f}", f"{engine * 1000 / calls:.1f}",
                         f"{asterisk * 1000 / calls:.1f}", f"{100 * engine / asterisk:.1f}" if asterisk else "-",
                         f"{100 * workers / asterisk:.0f}" if asterisk else "-",
                         f"{cpu.get('postgres', 0) + cpu.get('postgres+', 0):.1f}" if "postgres" in cpu else "-",
                         f"{cpu.get('machine_cores', 0):.2f}", f"{others:.2f}", f"{cpu.get('wall', 0):.0f}"))
    lines.append("")
    for run in runs:
        if run.error:
            lines.append(f"- **{run.name}**: broke off: {run.error}")
            continue
        c = check(run)
        notes = [f"dispositions {dict(c['dispositions'])}", f"sources {dict(c['sources'])}",
                 f"recordings processed {run.recordings[0]} of {run.recordings[1]} recorded",
                 "engine log: " + (", ".join(f"{k} {v}" for k, v in run.log_counts.items() if v) or "nothing to note")]
        if run.sipp_failures:
            notes.append(f"sipp failures {run.sipp_failures}")
        if c["uncategorised"]:
            notes.append("uncategorised (queue, disposition): " +
                         ", ".join(f"{q}/{d} {n}" for (q, d), n in c["uncategorised"].items()))
        if run.spooled or run.rejected:
            notes.append(f"left in the spool {run.spooled}, rejected {run.rejected}")
        if c["cel_unended"]:
            notes.append(f"{c['cel_unended']} calls never ended in CEL (no LINKEDID_END)")
        for key, what in (("lost", "in CEL, no record"), ("stray", "record, not in CEL"), ("doubled", "linkedid twice"),
                          ("twice", "caller with two records"), ("unheard", "caller never reached the emergency context")):
            if c[key]:
                shown = [f"{x} ({run.cel[x]['caller']})" if key == "lost" else x for x in c[key][:12]]
                notes.append(f"{what}: {len(c[key])}: {', '.join(shown)}{' …' if len(c[key]) > 12 else ''}")
        notes += run.timeline
        lines.append(f"- **{run.name}**: " + "; ".join(notes))
    return lines


PLUMBING = ("asyncio/", "threading.py", "runpy", "<module>", "callengine/cli.py", "concurrent/", "selectors.py")


def summarise_profiles(folder: Path, top: int = 15) -> list[str]:
    """Shares of py-spy's samples per function: where Python was running (self), and what was
    on the stack (inclusive; the event loop's and threads' own frames left out)."""
    lines = []
    for path in sorted(folder.glob("engine-*.txt")):
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames, n = stack.split(";"), int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
        kept = [(f, n) for f, n in inclusive.most_common() if not any(p in f for p in PLUMBING)][:top]
        lines += ["", f"{path.name}: {total} samples holding the GIL (100 Hz)", "",
                  row("self %", "function", "inclusive %", "function"), "|" + " --- |" * 4]
        for (f1, n1), (f2, n2) in zip(own.most_common(top), kept):
            lines.append(row(f"{100 * n1 / total:.1f}", f1.replace("|", "/"), f"{100 * n2 / total:.1f}", f2.replace("|", "/")))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="*", default=list(LEVELS),
                        help="callers per surge, one run each (default 50 100 200 400; none: faults only)")
    parser.add_argument("--faults", nargs="+", choices=(*FAULTS, "none"), default=list(FAULTS),
                        help="faults, one surge each at --fault-level; 'none' for none (default all)")
    parser.add_argument("--fault-level", type=int, default=200, help="callers in each fault's surge (default 200)")
    parser.add_argument("--fault-at", type=float, default=8.0,
                        help="seconds into the surge when the fault begins (default 8)")
    parser.add_argument("--rate", type=float, default=20, help="callers arriving per second (default 20)")
    parser.add_argument("--wait", type=int, default=25,
                        help="seconds each caller waits after pressing the digit, then hangs up (default 25)")
    parser.add_argument("--talk-min", type=float, default=2.0, help="call takers talk at least this long (s, default 2)")
    parser.add_argument("--talk-max", type=float, default=4.0, help="and at most this long (s, default 4)")
    parser.add_argument("--cut-s", type=float, default=20, help="length of the AMI cut (default 20 s)")
    parser.add_argument("--pg-stop-s", type=float, default=30, help="how long PostgreSQL stays stopped (default 30 s)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run py-spy on the engine during each level's surge (not the faults) and write "
                             "DIR/engine-N.txt; needs `.venv/bin/pip install py-spy`")
    parser.add_argument("--keep", action="store_true", help="keep the lab folders (Asterisk logs, CEL, sipp files, engine.jsonl)")
    args = parser.parse_args()
    enter_loopback_namespace()
    plan = [(level, None) for level in args.levels] + [(args.fault_level, f) for f in args.faults if f != "none"]
    runs = []
    for level, fault in plan:
        try:
            runs.append(run_one(level, fault, args))
        except Exception as exc:  # one broken run must not cost the others' figures
            runs.append(Run(level, fault, error=f"{type(exc).__name__}: {str(exc)[:300]}"))
            progress(f"{runs[-1].name}: broke off: {runs[-1].error}")
    print("\n".join(report(runs, args)))
    if args.profile is not None:
        print("\n".join(summarise_profiles(args.profile)))


if __name__ == "__main__":
    main()
