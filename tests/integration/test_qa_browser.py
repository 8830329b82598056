"""QA replay in a real headless Chromium, on a real call: a citizen (a pjsua2 bot) calls 112,
presses 2 and talks; a bot call taker answers; the engine records and processes the call. The QA
reviewer finds it by the caller's local number on /calls, opens it, and plays it: the waveform
is drawn, the audio element's time advances, the server answered with Range (206) and the play
is in the audit log with the reviewer's name; the download of the original asks its reason. The
reviewer scores the call on the shipped form while on its page, then corrects the score (the
location was not asked: a critical criterion for a fire): both versions stay, the newest fails.
The evidence bundle is exported with a reason and the call put under legal hold, all audited."""
from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from console_lab import add_user, console_beside, log_in
from lab import Lab

pytestmark = pytest.mark.integration
PASSWORD = "kopi susu panas"
CALLER = "081234567890"
SCREENS = Path(tempfile.gettempdir()) / "callengine-screens"
HELD_S = 1.5


def recorded_call(bots, call_taker, lab: Lab) -> str:  # type: ignore[no-untyped-def]
    """A call answered by a bot and recorded; its linkedid once the recording is processed."""
    engine = lab.engine()
    taker = call_taker()
    voice = Path(__file__).parents[2] / "sounds" / "id" / "fallback.wav"
    call = bots.citizen(caller_id=CALLER).call(f"sip:112@{lab.sip}", play=voice)
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.send_dtmf("2")
    answered = taker.wait_call(30)
    answered.wait_state("confirmed", 10)
    answered.wait_heard(10)
    answered.hold()                     # the taker asks the caller to wait a moment
    time.sleep(HELD_S)  # wait-ok: the hold's length is what is measured
    answered.unhold()
    answered.hangup()
    engine.wait_log("recording processed", linkedid=greeting["linkedid"], timeout=30)
    return str(greeting["linkedid"])


def rings_and_holds(lab: Lab, linkedid: str) -> None:
    """The stored record kept the taker's ring and the hold, as long as it lasted."""
    with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
        moments = json.loads(db.execute("SELECT moments FROM calls WHERE linkedid = ?", (linkedid,)).fetchone()[0])
    assert [(r["agent"], r["no_answer"]) for r in moments["rings"]] == [("taker1", False)], moments
    [hold] = moments["holds"]
    held_s = (datetime.fromisoformat(hold["end"]) - datetime.fromisoformat(hold["start"])).total_seconds()
    assert hold["by"] == "taker1" and HELD_S <= held_s < HELD_S + 2, moments


def score(browser, wait, chosen: dict[str, str], reason: str = "") -> None:  # type: ignore[no-untyped-def]
    """Fill the open scoring form: `chosen` for those criteria, the best answer for the others."""
    from selenium.webdriver.common.by import By

    form = wait.until(lambda b: b.find_element(By.ID, "score-form") if b.find_element(By.ID, "score-form")
                      .is_displayed() else None)
    for row in form.find_elements(By.CSS_SELECTOR, ".criterion"):
        values = [i.get_attribute("value") for i in row.find_elements(By.CSS_SELECTOR, "input[type=radio]")]
        pick = chosen.get(row.get_attribute("data-criterion")) or ("yes" if "yes" in values else
                                                                   max(v for v in values if v.isdigit()))
        row.find_element(By.CSS_SELECTOR, f'input[type=radio][value="{pick}"]').click()
    if reason:
        form.find_element(By.NAME, "reason").send_keys(reason)
    form.find_element(By.ID, "score-send").click()


def test_a_reviewer_finds_the_call_by_its_local_number_and_plays_it(  # type: ignore[no-untyped-def]
        bots, call_taker, lab: Lab, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    linkedid = recorded_call(bots, call_taker, lab)
    rings_and_holds(lab, linkedid)
    add_user(lab.config_file, "qa1", "qa", PASSWORD)
    console = console_beside(lab.config_file).start()
    try:
        browser.set_window_size(1280, 900)
        log_in(browser, console.url, "qa1", PASSWORD)
        wait = WebDriverWait(browser, 10)
        wait.until(shown.url_to_be(f"{console.url}/"))
        browser.find_element(By.LINK_TEXT, "Panggilan").click()
        field = wait.until(lambda b: b.find_element(By.NAME, "caller"))
        field.send_keys(CALLER, Keys.ENTER)
        wait.until(shown.url_contains(f"caller={CALLER}"))   # the results page, not the list it replaced
        link = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f'a[href="/calls/{linkedid}"]'))
        assert "kebakaran" in browser.find_element(By.CSS_SELECTOR, ".results tbody").text
        link.click()

        wait.until(lambda b: b.execute_script("return window.callenginePlayer && window.callenginePlayer.waveform"))
        wait.until(lambda b: b.execute_script(
            "return document.querySelector('#waveform div') && document.querySelector('#waveform div').shadowRoot"
            " && document.querySelector('#waveform div').shadowRoot.querySelector('canvas') !== null"))
        assert browser.find_element(By.ID, "integrity").get_attribute("data-state") == "ok"
        kinds = [b.get_attribute("data-kind") for b in browser.find_elements(By.CSS_SELECTOR, "#marks button")]
        assert kinds[:2] == ["ivr", "menu"] and "answer" in kinds, kinds
        assert [k for k in kinds if k in ("ring", "answer", "hold", "unhold")] == ["ring", "answer", "hold", "unhold"]
        drawn = wait.until(lambda b: b.execute_script(
            "return window.callenginePlayer.regions.map(r => [r.content, r.start, r.end || null])"))
        assert ["berdering: taker1"] == [c for c, _, _ in drawn if c.startswith("berdering")], drawn
        [(_, start, end)] = [r for r in drawn if r[0] == "ditahan oleh: taker1"]
        assert end - start >= HELD_S - 0.05, drawn               # a span up to the unhold (times to 0.01 s)
        api = browser.execute_async_script(
            f"fetch('/api/v1/calls/{linkedid}').then(r => r.json()).then(arguments[arguments.length - 1])")
        timeline = [m["kind"] for m in api["marks"]]
        assert [k for k in timeline if k in ("ring", "hold", "unhold")] == ["ring", "hold", "unhold"], timeline
        assert api["moments"]["holds"][0]["by"] == "taker1", api["moments"]
        browser.find_element(By.TAG_NAME, "body").send_keys("]")           # the keyboard: faster
        assert browser.execute_script("return document.getElementById('audio').playbackRate") == 1.25
        with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:   # opening it is no play
            assert db.execute("SELECT count(*) FROM audit WHERE action = 'recording.play'").fetchone()[0] == 0
        browser.find_element(By.ID, "play").click()
        WebDriverWait(browser, 15).until(lambda b: b.execute_script(
            "return document.getElementById('audio').currentTime") > 1.0)    # it plays: time advances
        SCREENS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENS / "qa-player.png"))
        browser.find_element(By.ID, "play").click()

        with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
            plays = db.execute("SELECT actor, detail FROM audit WHERE action = 'recording.play' AND target = ?",
                               (f"call/{linkedid}",)).fetchall()
        assert len(plays) == 1 and plays[0][0] == "qa1" and '"integrity": "ok"' in plays[0][1]
        statuses = browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/audio'))"
            ".map(e => e.responseStatus)")
        assert 206 in statuses, statuses                                      # the player asked for ranges

        reason = browser.find_element(By.CSS_SELECTOR, "form.download input[name=reason]")
        browser.find_element(By.CSS_SELECTOR, "form.download button").click()
        assert browser.execute_script("return arguments[0].validity.valueMissing", reason)   # no reason: not sent

        score(browser, wait, {"lokasi": "yes"})                               # scored while listening: all best
        first = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, '#versions > li[data-latest="true"]'))
        assert "100%" in first.text and "qa1" in first.text
        first.find_element(By.CSS_SELECTOR, ":scope > button").click()       # corrected: location not asked
        score(browser, wait, {"lokasi": "no"}, reason="lokasi tidak ditanyakan, terdengar di 0:40")
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#versions > li")) == 2
                   or b.find_element(By.ID, "score-error").text)
        assert not browser.find_element(By.ID, "score-error").text
        newest, older = browser.find_elements(By.CSS_SELECTOR, "#versions > li")
        assert "GAGAL" in newest.text and "0%" in newest.text and "lokasi tidak ditanyakan" in newest.text
        assert "100%" in older.text and older.get_attribute("data-latest") == "false"   # the first stays

        custody = browser.find_element(By.ID, "evidence-form")
        custody.find_element(By.NAME, "reason").send_keys("permintaan Polres no. 12/XII/2026")
        custody.find_element(By.TAG_NAME, "button").click()
        WebDriverWait(browser, 20).until(lambda b: ".zip" in b.find_element(By.ID, "evidence-state").text)
        browser.find_element(By.ID, "hold-toggle").click()
        wait.until(lambda b: b.find_element(By.ID, "hold-state").get_attribute("data-held") == "yes")
        browser.execute_script("document.getElementById('scoring').scrollIntoView()")
        browser.save_screenshot(str(SCREENS / "qa-scored.png"))
        browser.find_element(By.LINK_TEXT, "Mutu").click()                   # the period's averages
        agents = wait.until(lambda b: b.find_element(By.ID, "by-agent"))
        assert "taker1" in agents.text and "0.0" in agents.text                # the newest version counts
        lokasi = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#by-criterion tbody tr") if "lokasi" in r.text]
        assert lokasi and lokasi[0].split()[-1] == "1"                          # failed as critical once
        with sqlite3.connect(lab.settings.runtime_dir / "callengine.db") as db:
            actions = [row[0] for row in db.execute("SELECT action FROM audit WHERE actor = 'qa1' ORDER BY id")]
        for action in ("score.submit", "score.correct", "evidence.export", "legal_hold.set"):
            assert action in actions, (action, actions)
        assert not console.errors()
    finally:
        console.stop()
