"""Nothing is lost: calls made while the engine is down are rebuilt from Asterisk's CEL, and
records made while PostgreSQL is down wait in the spool and arrive once."""
from __future__ import annotations

from pathlib import Path

import pytest

from lab import AmiWatcher, Lab

pytestmark = pytest.mark.integration


def test_calls_while_the_engine_is_down_are_rebuilt_from_cel(bots, call_taker, lab: Lab) -> None:
    lab.engine().stop()
    taker = call_taker()
    answered_call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    answered = taker.wait_call(30)                    # fallback greeting, fallback queue
    answered.wait_state("confirmed", 10)
    answered_call.hangup()
    answered.wait_state("disconnected", 10)
    taker.close()                                     # nobody left: the next caller waits
    ami = AmiWatcher(lab.settings)
    try:
        abandoned_call = bots.citizen(caller_id="0541123456").call(f"sip:112@{lab.sip}")
        ami.wait_event("QueueCallerJoin", timeout=30, CallerIDNum="0541123456")
        abandoned_call.hangup()
        ami.wait_event("Hangup", timeout=10, CallerIDNum="0541123456")
    finally:
        ami.close()
    engine = lab.engine()
    first = engine.wait_log("call rebuilt from CEL", timeout=20)
    second = engine.wait_log("call rebuilt from CEL", start=engine.lines.index(first) + 1)
    engine.wait_log("call recorded", linkedid=second["linkedid"])
    calls = {c["caller"]: c for c in lab.calls()}
    assert set(calls) == {"+6281234567890", "+62541123456"}
    taken, left = calls["+6281234567890"], calls["+62541123456"]
    assert (taken["disposition"], taken["agent"], taken["queue"], taken["source"]) == \
        ("answered", "taker1", "112-fallback", "cel")
    assert (left["disposition"], left["agent"], left["source"]) == ("abandoned", None, "cel")
    assert (lab.settings.recordings_dir / taken["recording"]).stat().st_size > 44
    engine.stop()
    again = lab.engine()                               # a second start rebuilds nothing twice
    checked = again.wait_log("missed calls checked", timeout=20)
    assert (checked["cel_calls"], checked["rebuilt"]) == (2, 0)
    assert len(lab.calls()) == 2 and not [e for e in again.lines if e.get("msg") == "call rebuilt from CEL"]


@pytest.fixture
def pg_lab(make_lab, postgres) -> Lab:  # type: ignore[no-untyped-def]
    return make_lab(database=postgres.create_database("records"))


def test_records_made_while_postgres_is_down_arrive_once(bots, pg_lab: Lab, postgres) -> None:  # type: ignore[no-untyped-def]
    engine = pg_lab.engine()
    postgres.stop()
    try:
        linkedids = []
        for number in ("081200000001", "081200000002"):
            mark = len(engine.lines)
            call = bots.citizen(caller_id=number).call(f"sip:112@{pg_lab.sip}")
            greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20, start=mark)
            call.send_dtmf("2")
            engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
            call.hangup()
            engine.wait_log("database unavailable; call record spooled", linkedid=greeting["linkedid"])
            linkedids.append(greeting["linkedid"])
    finally:
        postgres.start()
    for linkedid in linkedids:
        engine.wait_log("call recorded", linkedid=linkedid, from_spool=True, timeout=30)   # the full record, not a CEL rebuild
    calls = pg_lab.calls()
    assert sorted(c["linkedid"] for c in calls) == sorted(linkedids)
    assert all(c["category"] == "kebakaran" and c["disposition"] == "abandoned" for c in calls)
    assert not (pg_lab.settings.runtime_dir / "spool" / "call-records.draining").exists()


def test_a_new_ticket_reaches_the_webhook_signed(bots, make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from callengine.core.settings import load_secrets

    received: list[tuple[dict[str, str], bytes]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(500 if len(received) == 1 else 204)   # the first delivery fails
            self.end_headers()
            if len(received) == 2:
                arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lab = make_lab(webhooks=f"http://127.0.0.1:{server.server_port}/tickets")
    try:
        engine = lab.engine()
        call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
        greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
        call.send_dtmf("1")
        engine.wait_log("caller queued", linkedid=greeting["linkedid"], timeout=20)
        call.hangup()
        recorded = engine.wait_log("call recorded", linkedid=greeting["linkedid"])
        assert arrived.wait(15)
        headers, body = received[-1]
        key = load_secrets(lab.settings)["webhook"].encode()
        assert headers["X-Callengine-Signature"] == "sha256=" + hmac.new(key, body, "sha256").hexdigest()
        payload = json.loads(body)
        assert payload["event"] == "ticket.created" and payload["ticket"]["id"] == recorded["ticket"]
        assert payload["ticket"]["status"] == "baru" and payload["call"]["category"] == "ambulans"
        assert payload["ticket"]["number"] == recorded["number"] and recorded["number"].startswith("SAM-")
        assert received[0][1] == body                  # the retry carries the same ticket
    finally:
        server.shutdown()


@pytest.mark.parametrize("from_user,headers,caller,status", [
    ("081234567890", {"P-Asserted-Identity": "<sip:+6281299998888@127.0.0.2>"}, "+6281299998888", "ok"),
    ("anonymous", {}, None, "withheld"),
    ("12", {}, None, "invalid"),
])
def test_caller_id_prefers_p_asserted_identity_and_names_withheld_callers(
        bots, lab: Lab, from_user: str, headers: dict[str, str], caller: str | None, status: str) -> None:
    engine = lab.engine()
    call = bots.citizen(caller_id=from_user).call(f"sip:112@{lab.sip}", headers=headers)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.hangup()
    engine.wait_log("call recorded", linkedid=greeting["linkedid"])
    [record] = lab.calls()
    assert (record["caller"], record["caller_status"]) == (caller, status)


def test_the_recording_is_the_whole_call_its_copy_plays_and_its_checksum_matches(bots, call_taker, lab: Lab) -> None:
    import hashlib
    import subprocess
    from datetime import datetime

    engine = lab.engine()
    taker = call_taker()
    voice = Path(__file__).parents[2] / "sounds" / "id" / "fallback.wav"
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}", play=voice)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("2")
    answered = taker.wait_call(30)
    answered.wait_state("confirmed", 10)
    answered.wait_heard(10)                            # the caller's voice reaches the call taker
    call.hangup()
    processed = engine.wait_log("recording processed", linkedid=greeting["linkedid"], timeout=30)
    [record] = lab.calls()
    facts = record["recording_facts"]
    wav = lab.settings.recordings_dir / record["recording"]
    assert facts["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
    call_s = (datetime.fromisoformat(record["ended_at"]) - datetime.fromisoformat(record["started_at"])).total_seconds()
    assert abs(facts["duration_s"] - call_s) < 1.0 and processed["duration_s"] == facts["duration_s"]
    copy = lab.settings.recordings_dir / facts["browser_copy"]
    probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                             str(copy)], capture_output=True, text=True, check=True)
    assert abs(float(probed.stdout) - facts["duration_s"]) < 0.2      # the copy decodes, whole
    assert max(facts["waveform"]) == 1.0 and len(facts["waveform"]) > 50


@pytest.mark.parametrize("engine_up", [True, False], ids=["engine-up", "engine-down"])
def test_a_call_asterisk_fails_to_answer_is_still_recorded_as_failed(lab: Lab, tmp_path: Path, engine_up: bool) -> None:
    """A multipart body that does not match its boundary: Asterisk answers and hangs up 2 ms
    later (Answer() fails). The caller could not get through: the one to call back."""
    import sipp

    engine = lab.engine()
    if not engine_up:
        engine.stop()
    _, body = sipp.multipart("<presence/>")
    sipp.call(lab, tmp_path, sipp.scenario("081234567890", {"Geolocation": "<cid:loc1@127.0.0.2>"},
                                           "multipart/mixed;boundary=not-b1", body, hold_ms=10_000, hangs_up=False))
    if not engine_up:
        engine = lab.engine()
    recorded = engine.wait_log("call recorded", timeout=20)
    [call] = lab.calls()
    assert call["linkedid"] == recorded["linkedid"]
    assert (call["caller"], call["disposition"], call["recording"]) == ("+6281234567890", "failed", None)
    assert call["hangup_cause"] not in (None, 16) and call["source"] == ("ami" if engine_up else "cel")
