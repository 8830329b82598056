"""One 112 call through a real Asterisk, end to end, with pjsua2 bots as citizen and call taker."""
from __future__ import annotations

import array
import json
import socket
import urllib.error
import urllib.request
import wave
from pathlib import Path

import pytest

from lab import Lab

CITIZEN = "081234567890"
pytestmark = pytest.mark.integration


def rms(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        samples = array.array("h", w.readframes(w.getnframes()))
    return (sum(s * s for s in samples) / max(len(samples), 1)) ** 0.5


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def healthz(lab: Lab) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{lab.settings.web_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def call_112(bots, lab: Lab, **kwargs):  # type: ignore[no-untyped-def]
    return bots.citizen(caller_id=CITIZEN).call(f"sip:112@{lab.sip}", **kwargs)


def test_answered_call_makes_exactly_one_complete_record(bots, call_taker, lab: Lab, tmp_path: Path) -> None:
    engine = lab.engine()
    taker = call_taker()
    heard = tmp_path / "citizen-heard.wav"
    call = call_112(bots, lab, record_to=heard)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("2")                     # kebakaran, pressed during the greeting (barge-in)
    answered = taker.wait_call(30)          # queued, rung, answered
    answered.wait_state("confirmed", 10)
    call.send_dtmf("5")                     # media flows citizen → Asterisk → call taker
    answered.wait_dtmf(1, 10)
    call.hangup()
    answered.wait_state("disconnected", 10)
    engine.wait_log("call recorded", linkedid=greeting["linkedid"], timeout=15)

    [record] = lab.calls()
    assert record["linkedid"] == greeting["linkedid"]
    assert record["caller"] == "+6281234567890"
    assert record["disposition"] == "answered"
    assert record["agent"] == "taker1" and record["queue"] == "112"
    assert record["answered_at"] and record["started_at"] <= record["answered_at"] <= record["ended_at"]
    assert record["answered_at"].endswith("+08:00")  # Samarinda: WITA
    assert record["wait_s"] is not None and record["wait_s"] >= 0
    assert record["talk_s"] is not None and record["talk_s"] >= 0
    assert record["hangup_cause"] == 16 and record["hangup_by"] == "caller"
    assert record["category"] == "kebakaran" and record["sip_call_id"]
    assert record["ivr"]["ivr_path"] == ["greeting", "connecting"] and record["ivr"]["ivr_digits"] == "2"
    recording = lab.settings.recordings_dir / record["recording"]
    assert recording.stat().st_size > 44 and rms(recording) > 100   # greeting and call are in it
    assert rms(heard) > 100                                          # the citizen heard the greeting
    assert engine.errors() == []


def test_caller_hangs_up_while_queued_is_abandoned(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = call_112(bots, lab)
    queued = engine.wait_log("caller queued", timeout=30)
    call.hangup()
    engine.wait_log("call recorded", linkedid=queued["linkedid"])
    [record] = lab.calls()
    assert record["disposition"] == "abandoned"
    assert record["answered_at"] is None and record["agent"] is None
    assert record["wait_s"] is not None
    assert engine.errors() == []


def test_without_the_engine_112_still_reaches_a_call_taker(bots, call_taker, lab: Lab, tmp_path: Path) -> None:
    taker = call_taker()
    heard = tmp_path / "heard.wav"
    call = call_112(bots, lab, record_to=heard)
    call.wait_state("confirmed", 10)        # answered at once by Asterisk
    answered = taker.wait_call(30)          # fallback greeting, then the queue
    answered.wait_state("confirmed", 10)
    call.send_dtmf("1")
    answered.wait_dtmf(1, 10)
    call.hangup()
    answered.wait_state("disconnected", 10)
    assert rms(heard) > 100                 # the fallback greeting was heard
    assert "callengine IVR unavailable" in (lab.settings.runtime_dir / "log" / "messages").read_text()


def test_engine_killed_and_restarted_tracks_the_next_call(bots, lab: Lab) -> None:
    first = lab.engine()
    first.kill()
    second = lab.engine()                   # waits for "AMI connected"
    call = call_112(bots, lab)
    queued = second.wait_log("caller queued", timeout=30)
    call.hangup()
    second.wait_log("call recorded", linkedid=queued["linkedid"])
    assert [c["linkedid"] for c in lab.calls()] == [queued["linkedid"]]


def test_engine_reconnects_when_asterisk_restarts(bots, lab: Lab) -> None:
    engine = lab.engine()
    mark = len(engine.lines)
    lab.asterisk.stop()
    engine.wait_log("AMI connection lost; reconnecting", start=mark)
    assert healthz(lab)[0] == 503
    lab.asterisk.start()
    engine.wait_log("AMI connected", start=mark)
    call = call_112(bots, lab)
    queued = engine.wait_log("caller queued", timeout=30, start=mark)
    call.hangup()
    engine.wait_log("call recorded", linkedid=queued["linkedid"])


def test_fastagi_probes_and_stalled_peers_do_not_delay_the_ivr(bots, lab: Lab) -> None:
    engine = lab.engine()
    call = call_112(bots, lab)
    started = engine.wait_log("FastAGI session started", timeout=20)
    address = ("127.0.0.1", lab.settings.fastagi_port)
    stalled = [socket.create_connection(address, timeout=5) for _ in range(3)]
    stalled[0].sendall(b"agi_network: yes\nagi_channel: PJSIP/x")   # half a header, then nothing
    for _ in range(20):                                              # health probes: connect, close
        socket.create_connection(address, timeout=5).close()
    engine.wait_log("ivr prompt", prompt="menu", linkedid=started["uniqueid"])
    call.send_dtmf("1")
    done = engine.wait_log("ivr done", linkedid=started["uniqueid"])
    prompts = sum(wav_seconds(lab.settings.sounds_dir / "id" / f"{name}.wav")
                  for name in ("greeting", "menu", "connecting"))
    assert done["ivr_path"] == ["greeting", "menu", "connecting"]
    assert done["ivr_s"] < prompts + 1.5     # the prompts' length, not the stalls' timeout
    call.hangup()
    engine.wait_log("call recorded", linkedid=started["uniqueid"])
    for sock in stalled:
        sock.close()
    assert engine.alive() and engine.errors() == []


def test_healthz_names_the_failing_part(lab: Lab) -> None:
    lab.engine()
    status, body = healthz(lab)
    assert status == 200 and body["checks"] == {"ami": True, "fastagi": True, "database": True}
    lab.asterisk.stop()
    engine = lab.engines[0]
    engine.wait_log("AMI connection lost; reconnecting")
    status, body = healthz(lab)
    assert status == 503 and body["failing"] == ["ami"]
