"""The desk's view of calls in progress (`GET /api/v1/calls/live`), through the console's link
to the engine's live API, on a real Asterisk: empty and saying so while the engine is away,
then a call with its category, state, taker and PIDF-LO location as it happens; a call back
asked for while the engine is away is refused with a clear 503, never a 500."""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sipp
from console_lab import ConsoleProcess, Visitor, add_user, console_beside
from lab import Lab
from test_location import CIRCLE

pytestmark = pytest.mark.integration
PASSWORD = "kue lapis legit"


@pytest.fixture
def console(lab: Lab) -> Iterator[ConsoleProcess]:
    add_user(lab.config_file, "taker1", "calltaker", PASSWORD)
    process = console_beside(lab.config_file).start()
    yield process
    process.stop()


def until(what: str, probe: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)  # wait-ok: polling the console's view, as a page that is not streaming would
    raise TimeoutError(what)


def test_calls_in_progress_with_their_location_and_the_engine_away(  # type: ignore[no-untyped-def]
        bots, call_taker, lab: Lab, console: ConsoleProcess, tmp_path) -> None:
    desk = Visitor(console.url, "taker1", PASSWORD)
    assert desk.get("/api/v1/calls/live") == {"connected": False, "calls": []}   # no engine yet
    with pytest.raises(urllib.error.HTTPError) as refused:       # a write without the session's CSRF token
        desk.opener.open(urllib.request.Request(f"{console.url}/api/v1/callbacks/1.1/call", data=b"{}",
                                                headers={"Content-Type": "application/json"}), timeout=10)
    assert refused.value.code == 403

    engine = lab.engine()
    taker = call_taker(auto_answer=False)
    engine.wait_taker_ready("taker1")
    until("the link to the engine", lambda: desk.get("/api/v1/calls/live")["connected"])
    content_type, body = sipp.multipart(CIRCLE)
    body = body.replace(sipp.SDP, sipp.DTMF_SDP)
    caller = sipp.scenario("081234567890", {"Geolocation": "<cid:loc1@127.0.0.2>"}, content_type, body,
                           hold_ms=30_000, hangs_up=False, digit="2")
    placed = threading.Thread(target=sipp.call, args=(lab, tmp_path, caller, 40), daemon=True)
    placed.start()
    ringing = taker.wait_call(30)
    [call] = until("the ringing call", lambda: [c for c in desk.get("/api/v1/calls/live")["calls"]
                                                  if c["state"] == "ringing"])
    assert (call["caller"], call["category"], call["ringing"]) == ("+6281234567890", "kebakaran", ["taker1"])
    assert (call["location"]["source"], call["location"]["lat"], call["location"]["radius_m"]) == \
        ("pidf-lo", -0.5022, 75.0)
    ringing.answer()
    until("the answered call", lambda: [c for c in desk.get("/api/v1/calls/live")["calls"]
                                        if c["state"] == "answered" and c["agent"] == "taker1"])
    engine.kill()                                  # the engine away mid-call: the view says so, no 500
    until("the link lost", lambda: not desk.get("/api/v1/calls/live")["connected"])
    assert desk.get("/api/v1/calls/live")["calls"] == []
    ringing.hangup()
    placed.join(40)

