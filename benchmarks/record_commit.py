"""Hangup → record and ticket committed (issue 5): p50/p90/p99 at a sustained call rate, on
SQLite and on PostgreSQL, one after the other in one run. Method and figures:
benchmarks/README.md.

One real Asterisk with the project's config and the real engine (`callengine run` at INFO, as
deployed) per backend. Callers are sipp on the trunk address 127.0.0.2, each with its own
E.164 number (so the IVR's prank lookup reads the database as in production), hanging up
after --call-ms. The figure is the engine's own `hangup_to_commit_ms` of its "call recorded"
log line: commit time minus the Timestamp Asterisk put on the call's last AMI event (the
Hangup). Both clocks are this host's, so no clock skew enters. It covers AMI delivery, the
tracker (and its wait for the IVR's notes), the location lookup, the writer's queue and the
transaction. The log lines' own timestamps split it in two at "call finished".
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import (TICK, DurablePostgres, Engine, machine_busy, percentile,  # first: puts tests/ on the path
                    proc_table, progress, row, sipp_counts, spooled, tree_ticks)

from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from lab import Lab, free_port
from sipp import scenario, sipp_load

TARGET_P99_MS = 100.0
WARMUP_CALLS = 20  # imports, connection pools and first queries are paid before measuring
WARNINGS = {  # engine log lines that would explain a slow or missing record
    "ivr_never_reported": "IVR never reported",     # the tracker waited IVR_GRACE_S (3 s) for notes
    "spooled": "database unavailable; call record spooled",
    "prank_lookup_failed": "prank history unavailable",
    "already_stored": "call record already stored",
}

# -- CPU -----------------------------------------------------------------------------------------
@dataclass
class Cpu:
    """CPU seconds per role at one instant."""
    engine: float
    engine_children: float  # ffmpeg of the recordings' browser copies, reaped or running
    asterisk: float
    postgres: float
    sipp: float             # our reaped children: sipp is the only one that ends during a load
    this: float             # this process: log reader thread, sipp supervision
    machine: float
    wall: float

    @classmethod
    def sample(cls, engine: int, asterisk: int, postgres: int | None) -> Cpu:
        table, times = proc_table(), os.times()
        own, kids = tree_ticks(table, engine)
        return cls(own / TICK, kids / TICK, sum(tree_ticks(table, asterisk)) / TICK,
                   sum(tree_ticks(table, postgres)) / TICK if postgres else 0.0,
                   times.children_user + times.children_system, time.process_time(),
                   machine_busy() / TICK, time.monotonic())


# -- load ----------------------------------------------------------------------------------------
def sipp(lab: Lab, folder: Path, name: str, calls: int, rate: float, call_ms: int) -> subprocess.Popen[bytes]:
    """`calls` calls at `rate`/s from the trunk address, each caller (+62812000<n>) hanging up
    after `call_ms`. The limit leaves room for 10 s of lag, so sipp only throttles the rate when
    the centre truly falls behind (visible as a lower achieved rate)."""
    limit = math.ceil(rate * (call_ms / 1000 + 10))
    return sipp_load(lab, folder, name, scenario("+62812000[call_number]", hold_ms=None), calls, rate, limit,
                     "-mp", str(free_port(udp=True)), "-d", str(call_ms), "-recv_timeout", "15000",
                     "-trace_stat", "-stf", str(folder / f"{name}-stat.csv"), "-fd", "5")


def place(lab: Lab, engine: Engine, folder: Path, name: str, calls: int, args: argparse.Namespace,
          cpu_pids: tuple[int, int, int | None]) -> tuple[dict[str, int], Cpu, Cpu]:
    """Run one sipp load to its end and until its records are in; CPU sampled around it all."""
    start = len(engine.lines)
    before = Cpu.sample(*cpu_pids)
    proc = sipp(lab, folder, name, calls, args.rate, args.call_ms)
    try:
        proc.wait(calls / args.rate + args.call_ms / 1000 + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        progress(f"{name}: sipp overran its time; killed")
    counts = sipp_counts(folder, name)
    wait_recorded(engine, start, counts["OutgoingCall"])
    return counts, before, Cpu.sample(*cpu_pids)


def report_progress(engine: Engine, name: str, start: int, stop: threading.Event) -> None:
    while not stop.wait(10):
        progress(f"{name}: {len(engine.recorded(start))} calls recorded, {len(engine.errors())} error lines")


def wait_recorded(engine: Engine, start: int, expected: int, idle_s: float = 30) -> None:
    """Until every call is recorded, or no record came for `idle_s` (a stuck writer): a writer
    that is merely behind gets all the time it needs."""
    seen = -1
    while seen < (count := len(engine.recorded(start))) < expected:
        seen = count
        with engine.changed:
            engine.changed.wait_for(lambda: len(engine.recorded(start)) >= expected, idle_s)


# -- results -------------------------------------------------------------------------------------
@dataclass
class Result:
    backend: str
    sipp: dict[str, int] = field(default_factory=dict)      # the measured load's counts
    placed: int = 0                                         # calls Asterisk got, warm-up included
    latency_ms: list[float] = field(default_factory=list)   # hangup → committed, measured calls
    tracker_ms: list[float] = field(default_factory=list)   # hangup → record built (AMI, IVR notes)
    writer_ms: list[float] = field(default_factory=list)    # built → committed (location, queue, transaction)
    rows: dict[str, int] = field(default_factory=dict)      # in the store once the engine stopped
    spooled: int = 0                                        # left in the spool once the engine stopped
    complete: bool = False
    achieved_rate: float = 0.0
    warnings: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


def ts(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["ts"]).timestamp()


def split_latency(engine: Engine, start: int, result: Result) -> None:
    """The engine's figure per call, and its two halves from the log lines' ms timestamps."""
    finished = {e["linkedid"]: e for e in engine.lines if e.get("msg") == "call finished"}
    for line in engine.recorded(start):
        result.latency_ms.append(float(line["hangup_to_commit_ms"]))
        if (done := finished.get(line["linkedid"])) is not None:
            writer = (ts(line) - ts(done)) * 1000
            result.writer_ms.append(writer)
            result.tracker_ms.append(float(line["hangup_to_commit_ms"]) - writer)


async def check_store(url: str, recorded: set[str], measured: set[str], result: Result) -> None:
    """Every call placed has exactly one row and one ticket, and they are the ones logged."""
    store = Database(url)
    try:
        calls, tickets = await CallRepository(store).newest(limit=0), await TicketRepository(store).newest(limit=10**6)
    finally:
        await store.close()
    call_ids, ticket_ids = [c.linkedid for c in calls], [t.linkedid for t in tickets]
    result.rows = {"calls": len(calls), "tickets": len(tickets)}
    result.complete = (len(call_ids) == len(set(call_ids)) == result.placed and
                       len(ticket_ids) == len(set(ticket_ids)) and set(call_ids) == set(ticket_ids) == recorded)
    starts = sorted(c.started_at.timestamp() for c in calls if c.linkedid in measured)
    if len(starts) > 1:
        result.achieved_rate = (len(starts) - 1) / (starts[-1] - starts[0])


def cpu_figures(before: Cpu, after: Cpu, calls: int) -> dict[str, float]:
    """ms per call for each role; machine-wide busy cores, and the part none of ours explains."""
    roles = ("engine", "engine_children", "asterisk", "postgres", "sipp", "this")
    spent = {role: getattr(after, role) - getattr(before, role) for role in roles}
    figures = {role: seconds * 1000 / max(calls, 1) for role, seconds in spent.items()}
    wall = after.wall - before.wall
    figures["machine_cores"] = (after.machine - before.machine) / wall
    figures["other_cores"] = (after.machine - before.machine - sum(spent.values())) / wall
    return figures


def run_backend(backend: str, args: argparse.Namespace) -> Result:
    """One lab, one engine, one database: warm-up, the load, then the store checked once the
    engine has stopped (so a stuck engine cannot hold a SQLite lock over the check)."""
    folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
    progress(f"{backend}: lab in {folder}")
    pg = DurablePostgres(args.pg_fsync == "on") if backend == "postgresql" else None
    try:
        url = "sqlite"
        if pg is not None:
            pg.start()
            url = pg.create_database("bench")
        rtp = 20000 + free_port() % 20000
        lab = Lab.start(folder, database=url, rtp_start=str(rtp), rtp_end=str(rtp + 1000))
        try:
            engine = Engine(lab.config_file, level=args.log_level).start()
            lab.engines.append(engine)
            engine.wait_log("callengine running", timeout=30)
            result, start = measure(lab, engine, folder, backend, args, pg)
        finally:
            stopped = stop(lab, folder)
        result.warnings["ignored_sigterm"] = int(not stopped)
        recorded = {e["linkedid"] for e in engine.recorded()}
        measured = {e["linkedid"] for e in engine.recorded(start)}
        asyncio.run(check_store(lab.settings.database_url, recorded, measured, result))
        result.spooled = spooled(lab.settings.runtime_dir)
        progress(f"{backend}: {result.rows} in the store, {result.spooled} in the spool, complete={result.complete}")
        return result
    finally:
        if pg is not None:
            pg.close()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def stop(lab: Lab, folder: Path) -> bool:
    """Stop engine and Asterisk; False if the engine had to be killed. Its log lines are kept
    in the folder (see --keep)."""
    try:
        lab.close()
        return True
    except AssertionError as exc:  # lab.py's "engine ignored SIGTERM": killed, Asterisk stopped anyway
        progress(str(exc)[:300])
        return False
    finally:
        for engine in lab.engines:
            (folder / "engine.jsonl").write_text("".join(json.dumps(e) + "\n" for e in engine.lines))


def measure(lab: Lab, engine: Engine, folder: Path, backend: str, args: argparse.Namespace,
            pg: DurablePostgres | None) -> tuple[Result, int]:
    """Warm-up, then the load; the result and the index of the load's first log line."""
    assert engine.proc is not None and lab.asterisk.proc is not None
    pids = (engine.proc.pid, lab.asterisk.proc.pid, pg.postmaster() if pg else None)
    progress(f"{backend}: warm-up, {WARMUP_CALLS} calls")
    warmup, _, _ = place(lab, engine, folder, "warmup", WARMUP_CALLS, args, pids)
    start = len(engine.lines)
    calls = round(args.rate * args.seconds)
    progress(f"{backend}: {calls} calls at {args.rate:g}/s, each {args.call_ms} ms")
    stop_progress = threading.Event()
    threading.Thread(target=report_progress, args=(engine, backend, start, stop_progress), daemon=True).start()
    try:
        counts, before, after = place(lab, engine, folder, "load", calls, args, pids)
    finally:
        stop_progress.set()
    result = Result(backend, counts, warmup["OutgoingCall"] + counts["OutgoingCall"])
    split_latency(engine, start, result)
    result.cpu = cpu_figures(before, after, counts["OutgoingCall"])
    for key, prefix in WARNINGS.items():
        result.warnings[key] = sum(1 for e in engine.lines if str(e.get("msg", "")).startswith(prefix))
    result.warnings["error_lines"] = len(engine.errors())
    progress(f"{backend}: sipp {counts}, {len(result.latency_ms)} recorded, warnings {result.warnings}")
    return result, start


def report(results: list[Result], args: argparse.Namespace) -> list[str]:
    def f(value: float) -> str:
        return f"{value:.1f}"

    lines = [f"{args.rate:g} calls/s for {args.seconds:g} s, each call {args.call_ms} ms; "
             f"PostgreSQL fsync {args.pg_fsync}; engine log level {args.log_level}", "",
             row("backend", "calls", "recorded", "p50 ms", "p90 ms", "p99 ms", "max ms", "verdict (p99 < 100 ms)"),
             "|" + " --- |" * 8]
    for r in results:
        lat = r.latency_ms
        ok = lat and percentile(lat, 99) < TARGET_P99_MS and len(lat) == r.sipp["OutgoingCall"] and r.complete
        lines.append(row(r.backend, r.sipp["OutgoingCall"], len(lat), f(percentile(lat, 50)), f(percentile(lat, 90)),
                         f(percentile(lat, 99)), f(max(lat, default=math.nan)), "met" if ok else "not met"))
    lines += ["", row("backend", "hangup → built p50 ms", "p99 ms", "built → committed p50 ms", "p99 ms",
                      "achieved calls/s", "sipp failed", "placed (with warm-up)", "store calls/tickets",
                      "spooled", "complete", "warnings"),
              "|" + " --- |" * 12]
    for r in results:
        warned = ", ".join(f"{k} {v}" for k, v in r.warnings.items() if v) or "none"
        lines.append(row(r.backend, f(percentile(r.tracker_ms, 50)), f(percentile(r.tracker_ms, 99)), f(percentile(r.writer_ms, 50)),
                         f(percentile(r.writer_ms, 99)), f"{r.achieved_rate:.2f}", r.sipp["FailedCall"], r.placed,
                         f"{r.rows.get('calls')}/{r.rows.get('tickets')}", r.spooled,
                         "yes" if r.complete else "NO", warned))
    lines += ["", row("backend", "engine CPU ms/call", "ffmpeg (engine children) ms/call", "Asterisk ms/call",
                      "PostgreSQL ms/call", "sipp ms/call", "machine busy, cores", "other processes, cores"),
              "|" + " --- |" * 8]
    for r in results:
        c = r.cpu
        lines.append(row(r.backend, f(c["engine"]), f(c["engine_children"]), f(c["asterisk"]),
                         f(c["postgres"]) if r.backend == "postgresql" else "-", f(c["sipp"]),
                         f"{c['machine_cores']:.2f}", f"{c['other_cores']:.2f}"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10, help="calls per second (default 10)")
    parser.add_argument("--seconds", type=float, default=120, help="length of the load (default 120)")
    parser.add_argument("--call-ms", type=int, default=3000,
                        help="each caller hangs up after this long (default 3000: during the greeting)")
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--pg-fsync", choices=("on", "off"), default="on",
                        help="PostgreSQL fsync (default on, as deployed; the test suite runs it off)")
    parser.add_argument("--log-level", default="INFO", help="engine log level (default INFO, as deployed)")
    parser.add_argument("--keep", action="store_true", help="keep the lab folders (Asterisk logs, sipp files)")
    args = parser.parse_args()
    results = [run_backend(backend, args) for backend in args.backends]
    print("\n".join(report(results, args)))


if __name__ == "__main__":
    main()
