"""The engine as an admin's process: Ctrl-C stops it and its recording workers quietly, and a
kill -9 leaves no worker behind for a restarted engine to pile up on."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lab import EngineProcess, Lab

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:   # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def wait_gone(pids: set[int], timeout: float = 10) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # wait-ok: another process's end has no event to wait on here
    return alive(pids)


def with_workers(bots, lab: Lab) -> tuple[EngineProcess, set[int]]:  # type: ignore[no-untyped-def]
    """An engine whose recording workers run: one call recorded and processed."""
    engine = lab.engine()
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.wait_heard(10)     # the greeting's audio flowed: the recording has frames (a hangup at once
    call.hangup()           # can leave MixMonitor a WAV with none, which is not processed)
    engine.wait_log("recording processed", linkedid=greeting["linkedid"], timeout=30)
    assert engine.proc is not None
    workers = children(engine.proc.pid)
    assert workers, "no recording worker process found"
    return engine, workers


def test_ctrl_c_stops_the_engine_and_its_workers_without_a_traceback(bots, lab: Lab) -> None:
    engine, workers = with_workers(bots, lab)
    assert engine.proc is not None
    os.killpg(engine.proc.pid, signal.SIGINT)        # what a terminal's Ctrl-C sends: the whole group
    assert engine.proc.wait(15) == 0
    assert wait_gone(workers) == set()
    raw = [e["msg"] for e in engine.lines if e.get("level") == "raw"]
    assert not [line for line in raw if "Traceback" in line or "KeyboardInterrupt" in line], raw
    assert any(e.get("msg") == "callengine stopping" for e in engine.lines)


def test_a_killed_engine_leaves_no_worker_behind(bots, lab: Lab) -> None:
    engine, workers = with_workers(bots, lab)
    engine.kill()
    assert wait_gone(workers) == set()
