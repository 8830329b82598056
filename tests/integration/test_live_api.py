"""The engine's live API (loopback, secret): a call's life streamed as it happens, the
snapshot, pausing and calling back (each call-back stored with its outcome); and the AML
endpoints' token and allow-list."""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from callengine.calls.callback import Callback
from callengine.core.settings import load_secrets
from callengine.db.callbacks import CallbackRepository
from callengine.db.calls import CallRepository
from lab import AML_TOKEN, Lab
from test_desk_ticket_live import read, wait_for

pytestmark = pytest.mark.integration
AML_FORM = (b"v=3&emergency_number=112&source=gps&location_latitude=-0.5&location_longitude=117.15"
            b"&location_accuracy=20&device_number=%2B6281234567890&location_time=1764650000000")


def call_api(lab: Lab, method: str, path: str, body: object | None = None,
             secret: str | None = "") -> tuple[int, dict[str, Any]]:
    secret = load_secrets(lab.settings)["engine_api"] if secret == "" else secret
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {secret}"} if secret else {})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{lab.settings.web_port}{path}", data=data,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Stream:
    """The live event stream read in a thread: (event name, data) pairs as they come."""

    def __init__(self, lab: Lab) -> None:
        secret = load_secrets(lab.settings)["engine_api"]
        request = urllib.request.Request(f"http://127.0.0.1:{lab.settings.web_port}/api/live/events",
                                         headers={"Authorization": f"Bearer {secret}"})
        self.reply = urllib.request.urlopen(request, timeout=60)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            self._lines()
        except (OSError, ValueError, AttributeError):  # closed by the test: http.client's ways of saying so
            pass

    def _lines(self) -> None:
        name = ""
        for raw in self.reply:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                with self.changed:
                    self.events.append((name, json.loads(line[6:])))
                    self.changed.notify_all()

    def wait(self, name: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((d for n, d in self.events if n == name and all(d.get(k) == v for k, v in fields.items())),
                        None)
        with self.changed:
            if not self.changed.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"no {name} {fields} in {[n for n, _ in self.events]}")
            return found()  # type: ignore[return-value]

    def close(self) -> None:
        self.reply.close()


def test_a_call_streams_live_from_start_to_end_and_the_snapshot_shows_it(bots, call_taker, lab: Lab) -> None:
    engine = lab.engine()
    taker = call_taker()
    engine.wait_taker_ready("taker1")
    stream = Stream(lab)
    try:
        assert stream.wait("snapshot")["calls"] == []
        call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
        started = stream.wait("call.started", caller="+6281234567890")
        call.send_dtmf("2")
        linkedid = started["linkedid"]
        assert stream.wait("call.ivr_done", linkedid=linkedid)["category"] == "kebakaran"
        stream.wait("call.queued", linkedid=linkedid, queue="112")
        assert stream.wait("call.offered", linkedid=linkedid)["agent"] == "taker1"
        stream.wait("call.answered", linkedid=linkedid, agent="taker1")
        taker.wait_call(10).wait_state("confirmed", 10)
        status, snapshot = call_api(lab, "GET", "/api/live/snapshot")
        [live] = snapshot["calls"]
        assert status == 200 and (live["linkedid"], live["state"], live["agent"], live["category"]) == \
            (linkedid, "answered", "taker1", "kebakaran")
        members = {m["account"]: m for m in snapshot["queues"]["queues"][0]["members"]}
        assert members["taker1"]["in_call"] is True
        call.hangup()
        ended = stream.wait("call.ended")["record"]
        assert (ended["linkedid"], ended["disposition"], ended["agent"]) == (linkedid, "answered", "taker1")
        names = [n for n, d in stream.events if d.get("linkedid", d.get("record", {}).get("linkedid")) == linkedid]
        assert names == ["call.started", "call.ivr_done", "call.queued", "call.offered", "call.answered",
                         "call.ended"]
        assert call_api(lab, "GET", "/api/live/snapshot")[1]["calls"] == []
    finally:
        stream.close()


def test_the_live_api_needs_its_secret(lab: Lab) -> None:
    lab.engine()
    for secret in (None, "wrong"):
        for method, path, body in (("GET", "/api/live/snapshot", None), ("GET", "/api/live/events", None),
                                   ("POST", "/api/live/pause", {"account": "taker1", "paused": True})):
            status, reply = call_api(lab, method, path, body, secret=secret)
            assert (status, reply["error"]) == (401, "unauthorized")


def test_pausing_through_the_live_api_is_applied_and_checked(bots, call_taker, lab: Lab) -> None:
    engine = lab.engine()
    call_taker()
    engine.wait_taker_ready("taker1")
    status, reply = call_api(lab, "POST", "/api/live/pause", {"account": "taker1", "paused": True,
                                                              "reason": "tidur", "by": "spv1"})
    assert status == 400 and "is not one of" in reply["message"]
    status, _ = call_api(lab, "POST", "/api/live/pause", {"account": "taker1", "paused": True,
                                                         "reason": "istirahat", "by": "spv1"})
    assert status == 200
    members = {m["account"]: m for m in call_api(lab, "GET", "/api/live/snapshot")[1]["queues"]["queues"][0]["members"]}
    assert (members["taker1"]["paused"], members["taker1"]["reason"]) == (True, "istirahat")


BUSY_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a citizen whose line is busy">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <recv request="ACK"/>
</scenario>
"""


def citizen_at_the_trunk(folder: Path, busy: bool = False) -> subprocess.Popen[bytes]:
    """sipp at the trunk's address as the citizen called back: answers (sipp's own UAS, until
    the BYE) or is busy."""
    scenario = ["-sn", "uas"]
    if busy:
        (folder / "busy.xml").write_text(BUSY_UAS)
        scenario = ["-sf", str(folder / "busy.xml")]
    return subprocess.Popen(["sipp", *scenario, "-i", "127.0.0.2", "-p", "5060", "-m", "1", "-nostdin",
                             "-timeout", "40s", "-timeout_error", "-trace_msg", "-message_file",
                             str(folder / "uas.log")], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def finished_callback(lab: Lab, linkedid: str) -> Callback:
    """The call-back's row once its outcome is stored."""
    def finished() -> Callback | None:
        found = read(lab, lambda db: CallbackRepository(db).get(linkedid))
        return found if found is not None and found.outcome is not None else None
    return wait_for(f"call-back {linkedid} finished", finished, timeout=20)


def missed_call(bots: Any, lab: Lab) -> str:
    """A citizen's call that ended in the IVR, as stored: its linkedid."""
    stream = Stream(lab)
    try:
        call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
        linkedid = stream.wait("call.started", caller="+6281234567890")["linkedid"]
        call.hangup()
    finally:
        stream.close()
    wait_for(f"the record of {linkedid}", lambda: read(lab, lambda db: CallRepository(db).known_linkedids([linkedid])))
    return linkedid


def call_back(lab: Lab, **fields: object) -> tuple[int, dict[str, Any]]:
    return call_api(lab, "POST", "/api/live/callback", {"account": "taker1", "number": "+6281234567890",
                                                        "by": "taker1", **fields})


def test_calling_back_rings_the_taker_then_the_citizen_through_the_trunk(bots, call_taker, lab: Lab,
                                                                        tmp_path: Path) -> None:
    lab.engine()
    taker = call_taker()
    missed = missed_call(bots, lab)
    citizen = citizen_at_the_trunk(tmp_path)
    try:
        status, reply = call_back(lab, linkedid=missed)
        assert status == 200 and reply["status"] == "calling" and reply["callback"]["for_linkedid"] == missed
        taker_leg = taker.wait_call(20)                                       # the taker's phone rings first
        taker_leg.wait_state("confirmed", 15)
        lab.wait_asterisk_log("Called PJSIP/08", timeout=20)
        lab.wait_asterisk_log("answered PJSIP/taker1", timeout=20)           # the citizen picked up: now hang up
        taker_leg.hangup()
        assert citizen.wait(30) == 0                                          # the citizen answered, then BYE
        assert "INVITE sip:081234567890@127.0.0.2" in (tmp_path / "uas.log").read_text()
    finally:
        if citizen.poll() is None:
            citizen.kill()
    callback = finished_callback(lab, reply["callback"]["linkedid"])
    assert (callback.outcome, callback.dialstatus, callback.account, callback.number, callback.requested_by,
            callback.for_linkedid) == ("answered", "ANSWER", "taker1", "+6281234567890", "taker1", missed)
    assert callback.recording is not None and callback.recording.endswith(f"{callback.linkedid}-callback.wav")
    assert (lab.settings.recordings_dir / callback.recording).is_file()
    assert callback.talk_s is not None and callback.talk_s > 0
    assert callback.placed_at <= callback.answered_at <= callback.ended_at  # type: ignore[operator]
    assert read(lab, lambda db: CallbackRepository(db).for_call(missed)) == [callback]
    status, reply = call_back(lab, number="12")
    assert status == 400 and "not a number" in reply["message"]
    status, reply = call_back(lab, linkedid="1796000000.99")
    assert status == 400 and "no call '1796000000.99'" in reply["message"]
    status, reply = call_back(lab, linkedid=1796000000.99)
    assert status == 400 and "'linkedid' must be a string" in reply["message"]


def test_a_busy_citizen_is_stored_as_busy(bots, call_taker, lab: Lab, tmp_path: Path) -> None:
    lab.engine()
    taker = call_taker()
    citizen = citizen_at_the_trunk(tmp_path, busy=True)
    try:
        status, reply = call_back(lab)
        assert status == 200
        taker.wait_call(20).wait_state("disconnected", 20)   # Dial came back BUSY: the taker's leg ends
        assert citizen.wait(30) == 0
    finally:
        if citizen.poll() is None:
            citizen.kill()
    callback = finished_callback(lab, reply["callback"]["linkedid"])
    assert (callback.outcome, callback.dialstatus, callback.cause) == ("busy", "BUSY", "Q.850 cause 17")
    assert callback.answered_at is None and callback.talk_s is None and callback.for_linkedid is None


def test_a_taker_whose_softphone_is_away_gets_a_row_all_the_same(lab: Lab) -> None:
    lab.engine()
    status, reply = call_back(lab)                  # taker1 is on the roster, but not registered
    assert status == 200
    callback = finished_callback(lab, reply["callback"]["linkedid"])
    assert callback.outcome == "taker-no-answer" and callback.ended_at is not None and callback.recording is None


def test_a_call_back_that_ends_while_the_engine_is_down_is_stored_from_cel(bots, call_taker, lab: Lab,
                                                                          tmp_path: Path) -> None:
    engine = lab.engine()
    taker = call_taker()
    citizen = citizen_at_the_trunk(tmp_path)
    try:
        status, reply = call_back(lab)
        taker_leg = taker.wait_call(20)
        taker_leg.wait_state("confirmed", 15)
        lab.wait_asterisk_log("answered PJSIP/taker1", timeout=20)
        engine.kill()
        taker_leg.hangup()
        assert citizen.wait(30) == 0
    finally:
        if citizen.poll() is None:
            citizen.kill()
    lab.engine()
    callback = finished_callback(lab, reply["callback"]["linkedid"])
    assert callback.outcome == "answered" and callback.talk_s is not None and callback.talk_s > 0


def post_aml(lab: Lab, query: str = "", **headers: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{lab.settings.web_port}/api/aml{query}", data=AML_FORM,
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_aml_needs_the_token_in_one_of_its_forms(lab: Lab) -> None:
    engine = lab.engine()
    basic = base64.b64encode(f"aml:{AML_TOKEN}".encode()).decode()
    assert post_aml(lab) == 401 and post_aml(lab, Authorization="Bearer nope") == 401
    assert post_aml(lab, Authorization=f"Basic {base64.b64encode(b'x:' + AML_TOKEN.encode()).decode()}") == 401
    assert post_aml(lab, Authorization=f"Bearer {AML_TOKEN}") == 202
    assert post_aml(lab, Authorization=f"Basic {basic}") == 202 and post_aml(lab, f"?token={AML_TOKEN}") == 202
    refused = [e for e in engine.lines if e.get("msg", "").startswith("AML refused") and e.get("status") == 401]
    assert len(refused) == 3


def test_aml_from_outside_the_allowed_networks_is_refused(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(aml_allow="10.0.0.0/8")
    lab.engine()
    assert post_aml(lab, Authorization=f"Bearer {AML_TOKEN}") == 403
