"""Issue 10's end-to-end scenario on a real Asterisk, engine, console and headless Chromium: a
fire dispatched to DAMKAR and PDAM. DAMKAR's duty phone (a pjsua2 bot on the telco side,
127.0.0.2) hears the spoken message and presses 1: DAMKAR's assignment is diterima by that
phone. PDAM's responder, on a phone-sized page (360 px), accepts, moves it to diproses,
photographs the scene (a JPEG with EXIF GPS) and closes it selesai; DAMKAR's responder closes
theirs through the API; the ticket is selesai; the citizen (a bot at the trunk address) is
called back and presses 4: the ticket's rating is 4, by voice.

Every bot at 127.0.0.2 shares one SIP transport (SipBots makes one per address), so [notify]
voice_dial and [rating] dial name the same port and the user part of the request picks the bot.
Every agency needs a duty phone (agencies.conf), so PDAM keeps one, a bot of its own that is busy:
its delivery fails, and its responder takes the fire in the browser."""
from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from callengine.calls.callback import national
from callengine.dispatch.http import MAX_DEVICE
from console_lab import ConsoleProcess, add_user, cli, console_beside, log_in
from lab import Lab
from test_attachments_api import SAMARINDA, jpeg
from test_console_tickets import PASSWORD
from test_duty_phone import DUTY, agencies, api, fire_ticket

pytestmark = pytest.mark.integration
PDAM_DUTY = "+62541741222"
CITIZEN = "+6281299990001"          # the caller of fire_ticket's call
CLOSING = "Air dari 2 tangki, api padam 10.40"


def centre(lab: Lab, bots: Any) -> tuple[dict[str, Any], ConsoleProcess]:
    """Three phones at the trunk address (DAMKAR's duty phone, PDAM's, the citizen), the
    engine and the console; the taker and a responder of each agency."""
    phones = {"damkar": bots.call_taker(national(DUTY), "", None, bind_ip="127.0.0.2"),
              "pdam": bots.call_taker(national(PDAM_DUTY), "", None, bind_ip="127.0.0.2", auto_answer=False),
              "citizen": bots.call_taker(national(CITIZEN), "", None, bind_ip="127.0.0.2")}
    [port] = {int(phone.uri.rsplit(":", 1)[1]) for phone in phones.values()}   # one transport per address
    path = agencies(lab.folder, port, ring="20s", retries=0)
    path.write_text(re.sub(r"(\[PDAM\][^\[]*?duty_phones = )[^\n]*", rf"\g<1>{PDAM_DUTY}", path.read_text()))
    conf = lab.config_file.read_text().replace("[paths]\n", f"[paths]\nagencies = {path}\n", 1)
    conf += (f"\n[rating]\ndelay = 0s\ncalling_hours = 00:00-24:00\nretry_after = 1s\ntries = 1\nring = 20s\n"
             f"dial = PJSIP/trunk/sip:{{number}}@127.0.0.2:{port}\n")
    lab.config_file.write_text(conf)
    lab.engine()
    for name, role, agency in (("taker1", "calltaker", None), ("dmk1", "responder", "DAMKAR"),
                               ("pdam1", "responder", "PDAM")):
        add_user(lab.config_file, name, role, PASSWORD, *(["--agency", agency] if agency else []))
    return phones, console_beside(lab.config_file).start()


def voice_row(lab: Lab, assignment: int, timeout: float = 10) -> tuple[Any, ...]:
    """The assignment's one duty-phone row of the delivery log, once it is no longer pending
    (the notifier closes it after it logged the round: no log line to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
            rows = db.execute("SELECT recipient, status, attempts, last_error FROM notifications "
                              "WHERE assignment_id = ? AND channel = 'voice'", (assignment,)).fetchall()
        assert len(rows) == 1, f"assignment {assignment}: one duty phone called once, not {rows}"
        if rows[0][1] != "pending" or time.monotonic() > deadline:
            return tuple(rows[0])
        time.sleep(0.1)  # wait-ok: a database row has no event to wait on: poll it


def answer_the_duty_phones(phones: dict[str, Any], console: ConsoleProcess, ids: dict[str, int]) -> None:
    """PDAM's phone is busy; DAMKAR's hears the message and presses 1."""
    busy = phones["pdam"].wait_call(20)
    assert national(PDAM_DUTY) in (busy.header("To") or ""), f"PDAM's bot got another's call: {busy.header('To')}"
    busy.hangup(486)
    console.wait_log("duty phone delivery failed", timeout=20, assignment=ids["PDAM"])

    ring = phones["damkar"].wait_call(20)
    assert national(DUTY) in (ring.header("To") or ""), f"DAMKAR's bot got another's call: {ring.header('To')}"
    assert "112" in (ring.header("From") or ""), f"the duty phone's call is not from 112: {ring.header('From')}"
    ring.wait_state("confirmed", 10)
    ring.wait_heard(10)                  # the spoken message, loud enough to hear
    ring.send_dtmf("1")
    console.wait_log("assignment accepted by phone", timeout=20, assignment=ids["DAMKAR"])
    ring.wait_state("disconnected", 15)  # thanked, then Asterisk hangs up


def pdam_in_the_browser(browser: Any, console: ConsoleProcess, ticket: str, assignment: int,
                        photo: Path, screenshot: Path) -> str:
    """PDAM's responder on a 360 px page: Terima, Proses, a photo, Selesai with a note. The
    browser's user agent (the events' device)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    log_in(browser, console.url, "pdam1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{console.url}/"))          # logged in before going on
    browser.get(f"{console.url}/responder")
    card = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f'article.job[data-id="{assignment}"]'))
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.job")) == 1, "PDAM's page shows another's job"
    assert card.get_attribute("data-status") == "diteruskan"
    for fact in (ticket, "Kebakaran rumah/permukiman", "Jl. Pangeran Antasari No. 12", "Air Putih", CITIZEN):
        assert fact in card.text, f"{fact!r} missing from PDAM's card: {card.text!r}"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360, "sideways scroll at 360 px"

    button = card.find_element(By.CSS_SELECTOR, "button.next")
    assert button.text == "Terima"
    button.click()
    wait.until(lambda b: card.get_attribute("data-status") == "diterima" and button.text == "Proses")
    button.click()
    wait.until(lambda b: card.get_attribute("data-status") == "diproses" and button.text == "Selesai")

    card.find_element(By.CSS_SELECTOR, "input.job-file").send_keys(str(photo))
    image = wait.until(lambda b: card.find_element(By.CSS_SELECTOR, ".thumbs li.doc img"))
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert "GPS -0.50220, 117.15360" in card.find_element(By.CSS_SELECTOR, ".doc-gps").text
    assert photo.name in card.find_element(By.CSS_SELECTOR, ".thumbs").text
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", card.find_element(By.CSS_SELECTOR, ".docs"))
    browser.save_screenshot(str(screenshot))

    card.find_element(By.CSS_SELECTOR, "textarea.job-closing").send_keys(CLOSING)
    button.click()
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, f'article.job[data-id="{assignment}"]'))
    assert f"Selesai: {ticket}" in browser.find_element(By.ID, "notice").text
    return str(browser.execute_script("return navigator.userAgent"))


def test_a_fire_to_damkar_and_pdam_from_dispatch_to_the_citizens_rating(  # type: ignore[no-untyped-def]
        bots, make_lab, browser, tmp_path: Path) -> None:
    started = time.monotonic()
    lab = make_lab()
    phones, console = centre(lab, bots)
    try:
        taker = cli(lab.config_file, "tokens", "create", "taker1").stdout.strip()
        damkar = cli(lab.config_file, "tokens", "create", "dmk1").stdout.strip()
        ticket = fire_ticket(lab)
        status, body = api(console, taker, "POST", f"/api/v1/tickets/{ticket}/dispatch",
                           {"agencies": ["DAMKAR", "PDAM"]})
        assert status == 201, body
        ids = {a["agency"]: a["id"] for a in body["assignments"]}
        assert set(ids) == {"DAMKAR", "PDAM"}, body

        answer_the_duty_phones(phones, console, ids)
        assert voice_row(lab, ids["DAMKAR"]) == (DUTY, "sent", 1, None)
        # PDAM's phone was busy; its last_error is not asserted: "busy (DIALSTATUS BUSY)" mostly, but "failed
        # (reason 0)" when Asterisk's OriginateResponse comes before [dutyphone-out]'s UserEvent (1 call in 6 here)
        pdam_row = voice_row(lab, ids["PDAM"])
        assert pdam_row[:3] == (PDAM_DUTY, "failed", 1) and pdam_row[3], pdam_row

        photo = tmp_path / "IMG_20261202_101500.jpg"
        photo.write_bytes(jpeg(SAMARINDA, (1600, 1200)))
        screenshot = tmp_path / "responder-360.png"
        agent = pdam_in_the_browser(browser, console, ticket, ids["PDAM"], photo, screenshot)
        assert screenshot.stat().st_size > 10_000, "the screenshot is empty"

        status, body = api(console, taker, "GET", f"/api/v1/tickets/{ticket}")
        assert body["status"] == "diterima", f"DAMKAR is still open, yet the ticket is {body['status']}"
        for step, note in (("diproses", ""), ("selesai", "Api padam, pendinginan selesai")):
            status, body = api(console, damkar, "POST", f"/api/v1/assignments/{ids['DAMKAR']}/status",
                               {"status": step, "note": note})
            assert status == 200, (step, body)

        status, body = api(console, taker, "GET", f"/api/v1/tickets/{ticket}")
        assert status == 200 and body["status"] == "selesai", f"every assignment selesai, the ticket {body['status']}"
        found = {a["agency"]: a for a in body["assignments"]}
        steps = {agency: [(e["to_status"], e["actor"]) for e in a["events"]] for agency, a in found.items()}
        assert steps["DAMKAR"] == [("diteruskan", "taker1"), ("diterima", f"phone:{DUTY}"), ("diproses", "dmk1"),
                                   ("selesai", "dmk1")], steps["DAMKAR"]
        accepted = found["DAMKAR"]["events"][1]
        assert accepted["device"] == "duty phone", accepted
        assert steps["PDAM"] == [("diteruskan", "taker1"), ("diterima", "pdam1"), ("diproses", "pdam1"),
                                 ("selesai", "pdam1")], steps["PDAM"]
        by_browser = [e["device"] for e in found["PDAM"]["events"][1:]]
        assert by_browser == [agent[:MAX_DEVICE]] * 3, f"PDAM's moves not from the browser ({agent}): {by_browser}"
        assert found["PDAM"]["events"][-1]["note"] == CLOSING
        [kept] = found["PDAM"]["attachments"]
        assert (kept["original_name"], kept["content_type"], kept["uploaded_by"]) == (photo.name, "image/jpeg",
                                                                                      "pdam1"), kept
        assert kept["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest(), kept
        assert kept["gps"] == {"lat": -0.5022, "lon": 117.1536}, kept
        assert found["DAMKAR"]["attachments"] == []

        call = phones["citizen"].wait_call(30)          # the rating call, [rating] delay 0 s
        assert national(CITIZEN) in (call.header("To") or ""), f"the citizen's bot got {call.header('To')}"
        assert "112" in (call.header("From") or ""), f"the rating call is not from 112: {call.header('From')}"
        call.wait_state("confirmed", 10)
        call.wait_heard(10)
        call.send_dtmf("4")
        console.wait_log("ticket rated by phone", timeout=20, ticket=ticket, score=4)
        call.wait_state("disconnected", 15)
        console.wait_log("rating call round", timeout=10, ticket=ticket, result="rated")
        lab.engines[0].wait_log("rating call ended", timeout=10, ticket=ticket, result="rated", score=4)
        status, body = api(console, taker, "GET", f"/api/v1/tickets/{ticket}")
        rating = body["rating"]
        assert (rating["score"], rating["source"], rating["by"]) == (4, "voice", CITIZEN), rating
        assert [(r["kind"], r["status"], r["tries"]) for r in rating["requests"]] == [("voice", "rated", 1)], rating

        calls = {name: len(phone.calls) for name, phone in phones.items()}
        assert calls == {"damkar": 1, "pdam": 1, "citizen": 1}, f"calls per bot: {calls}"
        assert [c["linkedid"] for c in lab.calls()] == ["9.1"], "a duty phone or rating call became a 112 call"
        assert not lab.engines[0].errors(), lab.engines[0].errors()
        assert not console.errors(), console.errors()
        assert time.monotonic() - started < 90, f"the scenario took {time.monotonic() - started:.0f} s"
    finally:
        for phone in phones.values():
            phone.close()
        console.stop()
