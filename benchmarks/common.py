"""What the benchmarks share: progress lines, nearest-rank percentiles, Markdown rows, the
loopback-only network namespace, the engine at its deployed log level, a PostgreSQL with fsync
on, CPU per process tree from /proc, and sipp's and the spool's counts. The lab itself
(Asterisk, engine, sipp scenario and load) is the integration tests' own."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(Path(__file__).resolve().parent)]

from lab import EngineProcess, loopback_only  # noqa: E402
from pg import PostgresServer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

T0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: an actual sample (p99 of fewer than 100 samples is the largest); NaN if none."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def enter_loopback_namespace() -> None:
    """Re-exec under `unshare --net` with lo up, unless already isolated (as ./scripts/test
    does): pjsua would otherwise put a non-loopback address in its SDP, and a load could leak
    off the host."""
    if loopback_only():
        return
    if os.environ.get("CALLENGINE_NETNS"):
        sys.exit("still not loopback-only inside the new network namespace")
    os.execvp("unshare", ["unshare", "--net", "env", "CALLENGINE_NETNS=1", "bash", "-c",
                          'ip link set lo up && exec "$@"', "bash", sys.executable, *sys.argv])


# -- the centre ----------------------------------------------------------------------------------
@dataclass
class Engine(EngineProcess):
    """`callengine run` at a chosen level: INFO as deployed (lab.py's engine logs DEBUG for tests)."""
    level: str = "INFO"

    def start(self) -> Engine:
        self.proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(self.config_file),
                                      "run", "--log-level", self.level], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_log("AMI connected", timeout=30)
        return self

    def recorded(self, start: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.lines[start:] if e.get("msg") == "call recorded"]


class DurablePostgres(PostgresServer):
    """pg.py's server, optionally with fsync on as a centre runs it (the suite turns it off for speed)."""

    def __init__(self, fsync: bool) -> None:
        super().__init__()
        self.fsync = fsync

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync={'on' if self.fsync else 'off'}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


def spooled(runtime: Path) -> int:
    """Records the engine left in its spool (the database refused them): not in the store yet."""
    files = [runtime / "spool" / f"call-records.{suffix}" for suffix in ("jsonl", "draining")]
    return sum(len(f.read_text().splitlines()) for f in files if f.exists())


# -- CPU -----------------------------------------------------------------------------------------
def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid → (ppid, own utime+stime, reaped children's cutime+cstime), in clock ticks."""
    table: dict[int, tuple[int, int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
        table[int(stat.parent.name)] = (int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
    return table


def tree_ticks(table: dict[int, tuple[int, int, int]], root: int) -> tuple[int, int]:
    """(own, descendants) ticks of `root`: descendants are the reaped ones plus the live ones, so
    a child exiting between two samples moves its time from one side of the sum to the other."""
    if root not in table:
        return 0, 0
    kids = [pid for pid, (ppid, _, _) in table.items() if ppid == root]
    return table[root][1], table[root][2] + sum(sum(tree_ticks(table, kid)) for kid in kids)


def machine_busy() -> int:
    """Busy ticks of the whole machine (all cores): other people's work shows here too."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return user + nice + system + irq + softirq


# -- sipp ----------------------------------------------------------------------------------------
def sipp_counts(folder: Path, name: str) -> dict[str, int]:
    """Created / successful / failed calls from the last line of sipp's statistics file."""
    header, *rows = (folder / f"{name}-stat.csv").read_text().splitlines()
    last = dict(zip(header.split(";"), rows[-1].split(";")))
    return {k: int(last[f"{k}(C)"]) for k in ("OutgoingCall", "SuccessfulCall", "FailedCall")}
