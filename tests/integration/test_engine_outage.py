"""Nothing lost across an engine restart or an AMI outage: 30 calls live at once (5 talking to
call takers, 20 waiting in the queue, 5 in the IVR) each get exactly one record, as whole as
if the engine had never been away, without a second restart."""
from __future__ import annotations

import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from callengine.bots.pool import Behaviour, TakerPool
from lab import AmiWatcher, EngineProcess, Lab
from sipp import scenario, sipp_load
from tcpcut import TcpCut

pytestmark = pytest.mark.integration

TAKERS = [f"taker{i}" for i in range(1, 6)]
ON_DUTY = "+".join(TAKERS)
ROSTER = "[calltakers]\n" + "".join(f"{t} = Operator {t}\n" for t in TAKERS) + f"""
[supervisors]
spv1 = Supervisor Satu
[rotation]
1 = pagi {ON_DUTY}, siang {ON_DUTY}, malam {ON_DUTY}
"""
TALK_MS, WAIT_MS = 45_000, 30_000   # waiting callers give up before any call taker is free


class Surge:
    """The 30 callers, placed from the trunk address with sipp, and the 5 call takers."""

    def __init__(self, lab: Lab, engine: EngineProcess, folder: Path, ivr_hold_ms: int) -> None:
        self.lab, self.folder = lab, folder
        self.pool = TakerPool(Behaviour(lab.sip, answer_delay=0.0, talk_s=(120.0, 120.0)))
        self.pool.add([(t, lab.password(t)) for t in TAKERS])
        for taker in TAKERS:
            engine.wait_taker_ready(taker, timeout=20)
        self.sipps: list[subprocess.Popen[bytes]] = []
        self.ivr_hold_ms = ivr_hold_ms

    def place(self, engine: EngineProcess) -> datetime:
        """Talking, then waiting, then in the IVR; returns when the last five hear the greeting."""
        ami = AmiWatcher(self.lab.settings)
        try:
            started = datetime.now(timezone.utc)
            self._sipp("talking", "0811000000[call_number]", 5, TALK_MS, "1")
            ami.wait_count("AgentConnect", 5, timeout=30)
            self._sipp("waiting", "0812000000[call_number]", 20, WAIT_MS, "2")
            ami.wait_count("QueueCallerJoin", 25, timeout=30, Queue="112")
            self._sipp("in-ivr", "0813000000[call_number]", 5, self.ivr_hold_ms, None)
            engine.wait_count("ivr prompt", 30, timeout=30, prompt="greeting")
        finally:
            ami.close()
        return started

    def _sipp(self, name: str, caller: str, calls: int, hold_ms: int, digit: str | None) -> None:
        text = scenario(caller, hold_ms=hold_ms, digit=digit)
        self.sipps.append(sipp_load(self.lab, self.folder, name, text, calls, 10, calls))

    def wait_ended(self) -> None:
        for sipp in self.sipps:
            sipp.wait(90)

    def close(self) -> None:
        for sipp in self.sipps:
            if sipp.poll() is None:
                sipp.kill()
        self.pool.close()


@pytest.fixture
def outage_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    return make_lab(roster=ROSTER)


def check_records(lab: Lab, started: datetime, away_at: datetime, in_ivr_queue: str) -> None:
    calls = lab.calls()
    assert len(calls) == 30 and len({c["linkedid"] for c in calls}) == 30, Counter(c["linkedid"] for c in calls)
    by_kind: dict[str, list[dict[str, Any]]] = {"0811": [], "0812": [], "0813": []}
    for call in calls:
        by_kind["0" + call["caller"][3:6]].append(call)
        begun = datetime.fromisoformat(call["started_at"])
        assert started <= begun < away_at, call                     # the true start, not the engine's restart
        assert call["dialed"] == "112" and call["recording"], call
        assert (lab.settings.recordings_dir / call["recording"]).is_file()
    talking, waiting, in_ivr = by_kind["0811"], by_kind["0812"], by_kind["0813"]
    assert sorted(c["agent"] for c in talking) == TAKERS
    assert all(c["disposition"] == "answered" and c["category"] == "ambulans" and c["talk_s"] > 20
               for c in talking), talking
    assert all((c["disposition"], c["category"], c["queue"], c["agent"]) == ("abandoned", "kebakaran", "112", None)
               for c in waiting), waiting
    assert all(c["wait_s"] > 20 for c in waiting), waiting
    assert all((c["disposition"], c["category"], c["queue"]) == ("abandoned", None, in_ivr_queue)
               for c in in_ivr), in_ivr


def test_calls_live_when_the_engine_is_killed_are_each_recorded_once_whole(outage_lab: Lab, tmp_path: Path) -> None:
    engine = outage_lab.engine()
    surge = Surge(outage_lab, engine, tmp_path, ivr_hold_ms=WAIT_MS)
    try:
        started = surge.place(engine)
        killed_at = datetime.now(timezone.utc)
        engine.kill()                                      # the five in the IVR fall back to 112-fallback
        restarted = outage_lab.engine()
        adopted = restarted.wait_log("live calls adopted", timeout=20)
        assert adopted["adopted"] == 30
        surge.wait_ended()
        restarted.wait_count("call recorded", 30, timeout=30)
    finally:
        surge.close()
    check_records(outage_lab, started, killed_at, in_ivr_queue="112-fallback")
    assert not restarted.errors()


def test_calls_live_while_ami_is_cut_for_20_s_are_each_recorded_once_whole(outage_lab: Lab, tmp_path: Path) -> None:
    proxy = TcpCut(outage_lab.settings.ami_port)
    config = outage_lab.folder / "engine.conf"           # beside roster.conf, which it names
    config.write_text(outage_lab.config_file.read_text().replace(
        f"ami_port = {outage_lab.settings.ami_port}", f"ami_port = {proxy.port}"))
    engine = outage_lab.engine(config)
    surge = Surge(outage_lab, engine, tmp_path, ivr_hold_ms=14_000)   # these end while AMI is cut
    try:
        started = surge.place(engine)
        cut_at = datetime.now(timezone.utc)
        mark = len(engine.lines)
        proxy.cut(20)
        engine.wait_log("AMI connection lost; reconnecting", start=mark, timeout=15)
        engine.wait_log("AMI connected", start=mark, timeout=40)
        surge.wait_ended()
        engine.wait_count("call recorded", 30, timeout=30)
    finally:
        surge.close()
        proxy.close()
    check_records(outage_lab, started, cut_at, in_ivr_queue="112")
    assert not engine.errors()
