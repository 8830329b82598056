"""The citizen's rating call on a real Asterisk, engine and console: a ticket whose only
assignment goes selesai through the API is followed, [rating] delay 0 s later, by a call to the
citizen (a pjsua2 bot on the telco side, 127.0.0.2, reached through the trunk: [rating] dial
names the bot's port), who hears the spoken message and presses 4: the ticket's rating is 4, by
voice. A citizen who does not answer is called once more, then the request is given up."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from callengine.core.settings import PROJECT_DIR
from console_lab import ConsoleProcess, add_user, cli, console_beside
from lab import Lab
from test_console_tickets import PASSWORD
from test_duty_phone import api, fire_ticket

pytestmark = pytest.mark.integration
CITIZEN = "+6281299990001"          # the caller of fire_ticket's call


def quiet_agencies(folder: Path) -> Path:
    """The shipped agencies.conf with the duty phones' calls off: this test hears only the citizen."""
    text = (PROJECT_DIR / "config" / "agencies.conf").read_text()
    text = re.sub(r"(\[notify\][^\[]*?)voice = yes", r"\g<1>voice = no", text)
    path = folder / "agencies.conf"
    path.write_text(text)
    return path


def centre(lab: Lab, bots: Any, auto_answer: bool, ring: str) -> tuple[Any, ConsoleProcess]:
    citizen = bots.call_taker("081299990001", "", None, bind_ip="127.0.0.2", auto_answer=auto_answer)
    port = int(citizen.uri.rsplit(":", 1)[1])
    conf = lab.config_file.read_text().replace("[paths]\n", f"[paths]\nagencies = {quiet_agencies(lab.folder)}\n", 1)
    conf += (f"\n[rating]\ndelay = 0s\ncalling_hours = 00:00-24:00\nretry_after = 1s\ntries = 2\nring = {ring}\n"
             f"dial = PJSIP/trunk/sip:{{number}}@127.0.0.2:{port}\n")
    lab.config_file.write_text(conf)
    lab.engine()
    add_user(lab.config_file, "taker1", "calltaker", PASSWORD)
    add_user(lab.config_file, "dmk1", "responder", PASSWORD, "--agency", "DAMKAR")
    console = console_beside(lab.config_file).start()
    return citizen, console


def close_ticket(lab: Lab, console: ConsoleProcess) -> tuple[str, str]:
    """A fire dispatched to DAMKAR, whose responder takes it through to selesai (the API)."""
    taker = cli(lab.config_file, "tokens", "create", "taker1").stdout.strip()
    responder = cli(lab.config_file, "tokens", "create", "dmk1").stdout.strip()
    ticket = fire_ticket(lab)
    status, body = api(console, taker, "POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": ["DAMKAR"]})
    assert status == 201, body
    assignment = body["assignments"][0]["id"]
    for step in ("diterima", "diproses", "selesai"):
        status, body = api(console, responder, "POST", f"/api/v1/assignments/{assignment}/status",
                           {"status": step, "note": "api padam" if step == "selesai" else ""})
        assert status == 200, body
    status, body = api(console, taker, "GET", f"/api/v1/tickets/{ticket}")
    assert body["status"] == "selesai", body
    return taker, ticket


def test_the_citizen_is_called_back_and_presses_4(bots, make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    citizen, console = centre(lab, bots, auto_answer=True, ring="20s")
    try:
        token, ticket = close_ticket(lab, console)
        ring = citizen.wait_call(30)
        assert ring.header("From") and "112" in ring.header("From")  # type: ignore[operator]
        ring.wait_state("confirmed", 10)
        ring.wait_heard(10)                 # "Terima kasih telah menghubungi 112 …", loud enough to hear
        ring.send_dtmf("4")
        console.wait_log("ticket rated by phone", timeout=20, ticket=ticket, score=4)
        ring.wait_state("disconnected", 15)  # thanked, then Asterisk hangs up
        status, body = api(console, token, "GET", f"/api/v1/tickets/{ticket}")
        rating = body["rating"]
        assert (rating["score"], rating["source"], rating["by"]) == (4, "voice", CITIZEN), rating
        console.wait_log("rating call round", timeout=10, ticket=ticket, result="rated")
        status, body = api(console, token, "GET", f"/api/v1/tickets/{ticket}")
        assert [(r["kind"], r["status"], r["tries"]) for r in body["rating"]["requests"]] == [("voice", "rated", 1)]
        lab.engines[0].wait_log("rating call ended", timeout=10, ticket=ticket, result="rated", score=4)
        assert [c["linkedid"] for c in lab.calls()] == ["9.1"]    # the rating call is no 112 call
        with pytest.raises(TimeoutError):
            citizen.wait_call(6)                                   # rated: never called again
        assert not lab.engines[0].errors() and not console.errors()
    finally:
        citizen.close()
        console.stop()


def test_a_citizen_who_does_not_answer_is_called_once_more_then_given_up(bots, make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    citizen, console = centre(lab, bots, auto_answer=False, ring="4s")
    try:
        token, ticket = close_ticket(lab, console)
        first = citizen.wait_call(30)
        first.wait_state("disconnected", 15)     # rang 4 s, cancelled
        started = time.monotonic()
        second = citizen.wait_call(30)           # retry_after 1 s, at the next round
        second.wait_state("disconnected", 15)
        assert time.monotonic() - started < 20
        console.wait_log("rating call given up", timeout=20, ticket=ticket, tries=2)
        status, body = api(console, token, "GET", f"/api/v1/tickets/{ticket}")
        assert body["rating"]["score"] is None
        [request] = body["rating"]["requests"]
        assert (request["status"], request["tries"], request["number"]) == ("given-up", 2, CITIZEN)
        assert request["last_error"].startswith("no-answer")
        with pytest.raises(TimeoutError):
            citizen.wait_call(7)                  # no third call
    finally:
        citizen.close()
        console.stop()
