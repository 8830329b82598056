"""The call taker's desk in a real headless Chromium, against a real Asterisk: a citizen calls
112 from the trunk with a PIDF-LO location and presses 2; the taker's bot softphone answers;
the desk pops the call (number, kebakaran, a marker at the PIDF-LO position) and the taker
fills the ticket as they talk; after hangup and wrap-up the ticket holds what they wrote, the
location and the call record with its recording."""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sipp
from console_lab import ConsoleProcess, add_user, console_beside, log_in
from lab import Lab
from test_location import CIRCLE

pytestmark = pytest.mark.integration
PASSWORD = "teh manis hangat"
CALLER = "081234567890"


@pytest.fixture
def console(lab: Lab) -> Iterator[ConsoleProcess]:
    add_user(lab.config_file, "taker1", "calltaker", PASSWORD, "--name", "Operator Satu")
    process = console_beside(lab.config_file).start()
    yield process
    process.stop()


def citizen_calls(lab: Lab, folder: Path) -> subprocess.Popen[bytes]:
    """From the trunk: PIDF-LO by value, presses 2 (kebakaran), stays until the taker hangs up."""
    content_type, body = sipp.multipart(CIRCLE)
    body = body.replace(sipp.SDP, sipp.DTMF_SDP)
    scenario = sipp.scenario(CALLER, {"Geolocation": "<cid:loc1@127.0.0.2>"}, content_type, body,
                             hold_ms=90_000, hangs_up=False, digit="2")
    (folder / "citizen.xml").write_text(scenario)
    return subprocess.Popen(["sipp", "-sf", "citizen.xml", "-i", "127.0.0.2", "-p", "0", "-m", "1", "-nostdin",
                             "-timeout", "120s", "-timeout_error", lab.sip], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ticked(browser: Any) -> list[str]:
    """The agencies ticked in the desk's dispatch panel."""
    return sorted(box.get_attribute("value") for box in
                  browser.find_elements("css selector", "#agency-choices input:checked"))


def api(browser: Any, url: str, path: str) -> dict[str, Any]:
    """A GET with the browser's own session, as its page would make it."""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    request = urllib.request.Request(f"{url}{path}", headers={"Cookie": cookie, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return dict(json.load(reply))


def test_the_desk_pops_the_call_and_the_ticket_keeps_what_the_taker_wrote(  # type: ignore[no-untyped-def]
        browser, bots, call_taker, lab: Lab, console: ConsoleProcess, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    engine = lab.engine()
    taker = call_taker()
    engine.wait_taker_ready("taker1")
    log_in(browser, console.url, "taker1", PASSWORD)
    WebDriverWait(browser, 10).until(shown.url_to_be(f"{console.url}/"))
    browser.find_element(By.LINK_TEXT, "Meja kerja").click()
    wait = WebDriverWait(browser, 20)
    wait.until(lambda b: b.find_element(By.ID, "link").get_attribute("data-state") == "up")

    citizen = citizen_calls(lab, tmp_path)
    try:
        call = taker.wait_call(30)
        call.wait_state("confirmed", 15)
        wait.until(lambda b: b.find_element(By.ID, "call").get_attribute("data-state") == "answered")
        assert browser.find_element(By.ID, "call-number").text == "+6281234567890"
        assert browser.find_element(By.ID, "call-category").get_attribute("data-category") == "kebakaran"
        wait.until(lambda b: "pidf-lo · -0.50220, 117.15360 ± 75 m" in b.find_element(By.ID, "sources").text)
        marker = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#map .caller-marker"))
        assert marker.is_displayed()
        number = wait.until(lambda b: re.fullmatch(r"SAM-\d{8}-\d{4}", b.find_element(By.ID, "ticket-number").text)
                            and b.find_element(By.ID, "ticket-number").text)

        Select(browser.find_element(By.NAME, "classification")).select_by_value("darurat")
        Select(browser.find_element(By.NAME, "incident_type")).select_by_visible_text("Kebakaran rumah/permukiman")
        browser.find_element(By.NAME, "description").send_keys("Rumah terbakar di gang 3, api sudah ke atap")
        Select(browser.find_element(By.NAME, "kecamatan")).select_by_visible_text("Samarinda Ulu")
        Select(browser.find_element(By.NAME, "kelurahan")).select_by_visible_text("Air Putih")
        ActionChains(browser).move_to_element_with_offset(browser.find_element(By.ID, "map"), 30, 20).click().perform()
        wait.until(lambda b: b.find_element(By.NAME, "latlon").get_attribute("value"))
        wait.until(lambda b: b.find_element(By.ID, "save-state").get_attribute("data-state") == "saved")
        wait.until(lambda b: ticked(b) == ["DAMKAR", "PDAM"])          # the rules' proposal for a house fire
        browser.find_element(By.ID, "dispatch-note").send_keys("Api sudah ke atap, butuh air")
        browser.find_element(By.ID, "dispatch-send").click()
        wait.until(lambda b: "DAMKAR, PDAM" in b.find_element(By.ID, "dispatch-state").text)
        wait.until(lambda b: "diteruskan" in b.find_element(By.ID, "agency-choices").text)

        call.hangup()
        assert citizen.wait(30) == 0                       # the citizen got the BYE and answered it
        wait.until(lambda b: b.find_element(By.ID, "call").get_attribute("data-state") == "ended")
        browser.find_element(By.ID, "wrapup").click()
        wait.until(lambda b: number in b.find_element(By.ID, "wrapup-state").text)
    finally:
        if citizen.poll() is None:
            citizen.kill()

    ticket = api(browser, console.url, f"/api/v1/tickets/{number}")
    assert (ticket["classification"], ticket["incident_type"], ticket["kecamatan"], ticket["kelurahan"]) == \
        ("darurat", "Kebakaran rumah/permukiman", "Samarinda Ulu", "Air Putih")
    assert ticket["description"] == "Rumah terbakar di gang 3, api sudah ke atap"
    assert ticket["lat"] != -0.5022 and abs(ticket["lat"] + 0.5022) < 0.01 and abs(ticket["lon"] - 117.1536) < 0.01
    assert ticket["wrapped_up_at"] is not None and ticket["taker"] == "taker1"
    assert sorted((a["agency"], a["status"], a["note"]) for a in ticket["assignments"]) == \
        [("DAMKAR", "diteruskan", "Api sudah ke atap, butuh air"), ("PDAM", "diteruskan", "Api sudah ke atap, butuh air")]
    [record] = ticket["calls"]
    assert (record["category"], record["agent"], record["disposition"]) == ("kebakaran", "taker1", "answered")
    assert record["recording"] and (lab.settings.recordings_dir / record["recording"]).exists()
    assert (ticket["location"]["source"], ticket["location"]["radius_m"]) == ("pidf-lo", 75.0)

    browser.get(f"{console.url}/tickets/{number}")
    page = browser.find_element(By.TAG_NAME, "main").text
    for shown_text in (number, "Rumah terbakar di gang 3", "Air Putih", "kebakaran", record["recording"]):
        assert shown_text in page, shown_text
    assert not engine.errors(), engine.errors()


def test_a_missed_call_is_called_back_from_the_desk_and_kept_with_its_ticket(  # type: ignore[no-untyped-def]
        browser, bots, call_taker, lab: Lab, console: ConsoleProcess, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    engine = lab.engine()
    log_in(browser, console.url, "taker1", PASSWORD)
    WebDriverWait(browser, 10).until(lambda b: b.current_url == f"{console.url}/")   # the login has landed
    browser.get(f"{console.url}/desk")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.find_element(By.ID, "link").get_attribute("data-state") == "up")
    sipp.call(lab, tmp_path, sipp.scenario(CALLER, hold_ms=1500))          # hangs up in the greeting
    missed = engine.wait_log("call recorded", timeout=30)["linkedid"]
    row = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f'#callback-rows tr[data-linkedid="{missed}"]'))
    assert "+6281234567890" in row.text and "Berakhir di menu suara" in row.text

    taker = call_taker()
    engine.wait_taker_ready("taker1")
    citizen = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.2", "-p", "5060", "-m", "1", "-nostdin",
                                "-timeout", "60s", "-timeout_error"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        row.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda b: "Telepon Anda berdering" in row.text)
        leg = taker.wait_call(20)                                          # the taker's phone rings first
        leg.wait_state("confirmed", 15)
        lab.wait_asterisk_log("answered PJSIP/taker1", timeout=30)         # then the citizen picked up
        leg.hangup()
        assert citizen.wait(30) == 0
    finally:
        if citizen.poll() is None:
            citizen.kill()

    [ticket] = api(browser, console.url, f"/api/v1/tickets?linkedid={missed}")["tickets"]
    made = WebDriverWait(browser, 30).until(
        lambda b: [c for c in api(b, console.url, f"/api/v1/tickets/{ticket['number']}")["callbacks"] if c["outcome"]])
    [callback] = made
    assert (callback["outcome"], callback["account"], callback["number"], callback["for_linkedid"]) == \
        ("answered", "taker1", "+6281234567890", missed)
    assert callback["recording"] and (lab.settings.recordings_dir / callback["recording"]).exists()
    browser.get(f"{console.url}/desk")
    row = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f'#callback-rows tr[data-linkedid="{missed}"]'))
    wait.until(lambda b: "ditelepon balik" in row.text and "answered" in row.text)
    browser.get(f"{console.url}/tickets/{ticket['number']}")
    assert callback["recording"] in browser.find_element(By.TAG_NAME, "main").text
    assert [c["linkedid"] for c in lab.calls()] == [missed]     # the call-back is not a 112 call of its own
