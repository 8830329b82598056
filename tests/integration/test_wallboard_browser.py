"""The supervisor's wallboard in a real headless Chromium, against a real Asterisk, engine and
console: a citizen (a pjsua2 bot) calls 112 and presses 2; the caller appears among those
waiting while the bot call taker's phone rings, and the taker's row says ringing; the taker
answers and the row turns to talking, with the caller, then to wrap-up when the call ends with its ticket not yet
finished; the supervisor hands that ticket to taker2 (the row turns available), pauses
the taker from the wallboard with a reason: Asterisk's queue has the member paused with that
reason, and the pause is stored with who paused. While the taker talks, the supervisor listens in
from the wallboard: their own bot softphone is rung and hears the call, which goes on. The TV
mode shows the same without controls."""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

from console_lab import add_user, console_beside, log_in
from lab import Lab
from test_shifts import queue_status

pytestmark = pytest.mark.integration
PASSWORD = "es teh manis dingin"
CALLER = "081298765432"
SCREENS = Path(tempfile.gettempdir()) / "callengine-screens"


def test_the_floor_live_on_the_wallboard_and_a_pause_from_it(  # type: ignore[no-untyped-def]
        bots, call_taker, lab: Lab, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import Select, WebDriverWait

    engine = lab.engine()
    taker = call_taker("taker1", auto_answer=False)
    engine.wait_taker_ready("taker1")
    supervisor = call_taker("spv1")                # the supervisor's own softphone, answering at once
    add_user(lab.config_file, "spv1", "supervisor", PASSWORD)
    add_user(lab.config_file, "taker2", "calltaker", PASSWORD)      # the one the unfinished ticket goes to
    console = console_beside(lab.config_file).start()
    try:
        browser.set_window_size(1400, 1000)
        log_in(browser, console.url, "spv1", PASSWORD)
        wait = WebDriverWait(browser, 10)
        wait.until(shown.url_to_be(f"{console.url}/"))
        browser.find_element(By.LINK_TEXT, "Papan pantau").click()
        row = '#takers tr[data-account="taker1"]'
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="available"]'))

        voice = Path(__file__).parents[2] / "sounds" / "id" / "fallback.wav"       # the citizen talks
        call = bots.citizen(caller_id=CALLER).call(f"sip:112@{lab.sip}", play=voice)
        engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
        call.send_dtmf("2")
        ring = taker.wait_call(30)
        queued = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#waiting tbody tr"))
        assert "+6281298765432" in queued[0].text and "kebakaran" in queued[0].text
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="ringing"]'))
        SCREENS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENS / "wallboard-1-ringing.png"))

        ring.answer()
        ring.wait_state("confirmed", 10)
        talking = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="talking"]'))
        assert "+6281298765432" in talking[0].text
        assert not browser.find_elements(By.CSS_SELECTOR, "#waiting tbody tr")

        talking[0].find_element(By.CSS_SELECTOR, 'button.spy[data-mode="listen"]').click()   # listen in
        spy = supervisor.wait_call(15)
        assert "taker1" in (spy.header("From") or "")
        spy.wait_state("confirmed", 10)
        spy.wait_heard(10)                          # the live call's audio reaches the supervisor
        assert ring.state == "confirmed" and call.state == "confirmed"       # the taker's call goes on
        spy.hangup()
        call.hangup()                               # the ticket is not finished yet: wrap-up
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="wrapup"]'))
        waiting_ticket = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#unfinished tbody tr"))
        number = waiting_ticket.get_attribute("data-ticket")
        Select(waiting_ticket.find_element(By.TAG_NAME, "select")).select_by_value("taker2")
        waiting_ticket.find_element(By.TAG_NAME, "input").send_keys("taker1 ke briefing")
        waiting_ticket.find_element(By.TAG_NAME, "button").click()           # handed over: taker1 is free
        wait.until(lambda b: "taker2" in b.find_element(By.CSS_SELECTOR, f'#unfinished tr[data-ticket="{number}"]').text)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="available"]'))
        wait.until(lambda b: "1" in b.find_element(By.ID, "figures").text)     # the call counted today

        line = browser.find_element(By.CSS_SELECTOR, row)
        Select(line.find_element(By.TAG_NAME, "select")).select_by_value("briefing")
        line.find_element(By.CSS_SELECTOR, ".pause button").click()
        paused = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-state="paused"]'))
        assert "briefing" in paused[0].text
        browser.save_screenshot(str(SCREENS / "wallboard-2-paused.png"))
        [member] = [m for q in queue_status(lab)["queues"] if q["queue"] == "112" for m in q["members"]
                    if m["account"] == "taker1"]
        assert member["paused"] and member["reason"] == "briefing"
        with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
            assert db.execute("SELECT account, reason, paused_by FROM pauses WHERE ended_at IS NULL").fetchall() == [
                ("taker1", "briefing", "spv1")]
            assert db.execute("SELECT count(*) FROM audit WHERE action = 'wallboard.pause' AND actor = 'spv1'"
                              ).fetchone()[0] == 1
            [(detail,)] = db.execute("SELECT detail FROM audit WHERE action = 'tickets.reassign' AND target = ?",
                                     (number,)).fetchall()
            assert '"to": "taker2"' in detail and "briefing" in detail and db.execute(
                "SELECT taker FROM tickets WHERE number = ?", (number,)).fetchone() == ("taker2",)

        browser.get(f"{console.url}/wallboard?tv=1")
        wait.until(lambda b: b.execute_script("return window.callengineWallboard.frames") >= 1)
        assert not browser.find_elements(By.CSS_SELECTOR, ".pause button")           # no controls on the wall
        browser.save_screenshot(str(SCREENS / "wallboard-3-tv.png"))
        assert not console.errors() and not engine.errors()
    finally:
        console.stop()
