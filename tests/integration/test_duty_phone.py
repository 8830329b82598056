"""The duty phone's voice call on a real Asterisk, engine and console: a fire dispatched to
DAMKAR rings DAMKAR's duty phone (a pjsua2 bot on the telco side, 127.0.0.2, which Asterisk
reaches through the trunk endpoint: [notify] voice_dial names the bot's port), which hears the
spoken message and presses 1: the assignment is diterima, by that phone. A phone nobody answers
is called again, then its delivery-log row is failed."""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from callengine.core.settings import PROJECT_DIR
from console_lab import ConsoleProcess, add_user, call_records, cli, console_beside, save_all
from lab import Lab
from test_console_tickets import PASSWORD, call

pytestmark = pytest.mark.integration
DUTY = "+62541741113"
FIRE = {"incident_type": "Kebakaran rumah/permukiman", "kecamatan": "Samarinda Ulu", "kelurahan": "Air Putih",
        "address": "Jl. Pangeran Antasari No. 12"}


def agencies(folder: Path, port: int, ring: str, retries: int) -> Path:
    """The shipped agencies.conf with DAMKAR's one duty phone, dialled at the bot's port."""
    text = (PROJECT_DIR / "config" / "agencies.conf").read_text()
    text = re.sub(r"(\[DAMKAR\][^\[]*?duty_phones = )[^\n]*", rf"\g<1>{DUTY}", text)
    text = text[:text.index("\n[notify]") + 1] + (             # the section, not a comment naming it
        f"[notify]\nvoice_retries = {retries}\nvoice_retry_after = 1s\nvoice_ring = {ring}\n"
        f"voice_dial = PJSIP/trunk/sip:{{number}}@127.0.0.2:{port}\n")
    path = folder / "agencies.conf"
    path.write_text(text)
    return path


def centre(lab: Lab, bots: Any, auto_answer: bool, ring: str = "20s", retries: int = 1) -> tuple[Any, ConsoleProcess]:
    """DAMKAR's duty phone (the bot), the engine and the console on the lab's config."""
    phone = bots.call_taker("0541741113", "", None, bind_ip="127.0.0.2", auto_answer=auto_answer)
    port = int(phone.uri.rsplit(":", 1)[1])
    conf = lab.config_file.read_text().replace("[paths]\n", f"[paths]\nagencies = "
                                               f"{agencies(lab.folder, port, ring, retries)}\n", 1)
    lab.config_file.write_text(conf)
    lab.engine()
    add_user(lab.config_file, "taker1", "calltaker", PASSWORD)
    console = console_beside(lab.config_file).start()
    return phone, console


def fire_ticket(lab: Lab) -> str:
    async def seed() -> str:
        async with call_records(lab.config_file) as records:
            numbers = await save_all(records, [call("9.1", "+6281299990001", "answered", 5)])
            await records.tickets.change(numbers["9.1"], FIRE, records_now())
            return numbers["9.1"]
    return asyncio.run(seed())


def records_now() -> Any:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)


def api(console: ConsoleProcess, token: str, method: str, path: str, body: object | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{console.url}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def dispatch_fire(lab: Lab, console: ConsoleProcess) -> tuple[str, str, int]:
    token = cli(lab.config_file, "tokens", "create", "taker1").stdout.strip()
    ticket = fire_ticket(lab)
    started = time.monotonic()
    status, body = api(console, token, "POST", f"/api/v1/tickets/{ticket}/dispatch", {"agencies": ["DAMKAR"]})
    assert status == 201, body
    assert time.monotonic() - started < 3, "the dispatch waited for the phone"
    return token, ticket, body["assignments"][0]["id"]


def voice_rows(lab: Lab, assignment: int) -> list[tuple[Any, ...]]:
    with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
        return db.execute("SELECT channel, recipient, status, attempts, last_error FROM notifications "
                          "WHERE assignment_id = ? ORDER BY id", (assignment,)).fetchall()


def test_the_duty_phone_hears_the_fire_and_presses_1_to_accept(bots, make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    phone, console = centre(lab, bots, auto_answer=True)
    try:
        token, ticket, assignment = dispatch_fire(lab, console)
        ring = phone.wait_call(20)
        assert ring.header("From") and "112" in ring.header("From")  # type: ignore[operator]
        ring.wait_state("confirmed", 10)
        ring.wait_heard(10)                 # the spoken message arrives as RTP, loud enough to hear
        heard_at = time.monotonic()
        ring.send_dtmf("1")
        console.wait_log("assignment accepted by phone", timeout=20, assignment=assignment)
        ring.wait_state("disconnected", 15)  # "Terima kasih. Tugas diterima.", then Asterisk hangs up
        assert time.monotonic() - heard_at > 1.0
        status, body = api(console, token, "GET", f"/api/v1/tickets/{ticket}")
        assert status == 200 and body["status"] == "diterima", body
        [damkar] = body["assignments"]
        assert damkar["status"] == "diterima"
        accepted = damkar["events"][-1]
        assert (accepted["actor"], accepted["device"], accepted["to_status"]) == (f"phone:{DUTY}", "duty phone",
                                                                                   "diterima")
        console.wait_log("duty phone round", timeout=20, assignment=assignment, result="accepted")
        console.wait_log("duty phone delivery sent", timeout=20, assignment=assignment)   # its row closed
        assert voice_rows(lab, assignment) == [("voice", DUTY, "sent", 1, None)]
        wavs = list((lab.settings.runtime_dir / "voice").glob("*.wav"))
        assert len(wavs) == 2 and all(w.stat().st_size > 8000 for w in wavs)   # message and thanks, cached
        lab.engines[0].wait_log("duty phone call ended", timeout=10, assignment=assignment, result="accepted")
        assert [c["linkedid"] for c in lab.calls()] == ["9.1"]    # the duty phone's call is no 112 call
        assert not lab.engines[0].errors() and not console.errors()
    finally:
        phone.close()
        console.stop()


def test_a_duty_phone_nobody_answers_is_called_again_then_the_delivery_fails(bots, make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    phone, console = centre(lab, bots, auto_answer=False, ring="4s", retries=1)
    try:
        _, _, assignment = dispatch_fire(lab, console)
        first = phone.wait_call(20)
        first.wait_state("disconnected", 15)     # rang 4 s, cancelled
        second = phone.wait_call(20)             # the retry, a second later
        second.wait_state("disconnected", 15)
        console.wait_log("duty phone delivery failed", timeout=20, assignment=assignment)
        assert voice_rows(lab, assignment) == [("voice", DUTY, "failed", 2, "no-answer (DIALSTATUS NOANSWER)")]
        with pytest.raises(TimeoutError):
            phone.wait_call(3)                    # no third call
    finally:
        phone.close()
        console.stop()
