"""The dispatchers' board (/dispatch) in a real headless Chromium, on a console with a tiny SLA
(diterima within 3 s): a supervisor watches a fire dispatched to DAMKAR and PDAM appear by
itself; PDAM accepts in time, DAMKAR does not, and its missed deadline shows with its
escalation; DAMKAR's responder refuses with a reason, which the board shows; the supervisor
sends it on again with a reason of their own, and the assignment is back among the open ones,
diteruskan, its clock restarted."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from console_lab import ConsoleLab, log_in
from test_console_desk import Desk
from test_console_tickets import PASSWORD
from test_responder_browser import shot
from test_sla_console import seed, tiny_agencies

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-board-"))
    lab = ConsoleLab(folder, f"sla_check_every = 1\n[paths]\nagencies = {tiny_agencies(folder)}\n")
    for name, role, agency in (("taker1", "calltaker", None), ("spv1", "supervisor", None),
                               ("dmk1", "responder", "DAMKAR"), ("pdam1", "responder", "PDAM")):
        lab.add_user(name, role, PASSWORD, *(["--agency", agency] if agency else []))
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def as_user(centre: ConsoleLab, name: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        from aiohttp import ClientSession, CookieJar
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            return await (await Desk(centre, http).login(name)).call(method, path, body)
    return asyncio.run(go())


def test_the_board_shows_a_missed_deadline_and_a_refusal_sent_on_again(  # type: ignore[no-untyped-def]
        browser, centre: ConsoleLab) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1280, 900)
    log_in(browser, centre.url, "spv1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{centre.url}/"))
    browser.find_element(By.LINK_TEXT, "Papan penerusan").click()
    wait.until(lambda b: b.execute_script("return window.callengineBoard && window.callengineBoard.loads") >= 1)
    assert browser.find_element(By.CSS_SELECTOR, '.none[data-for="open"]').is_displayed()

    ticket = centre.numbers["1.1"]  # type: ignore[attr-defined]
    status, made = as_user(centre, "taker1", "POST", f"/api/v1/tickets/{ticket}/dispatch",
                           {"agencies": ["DAMKAR", "PDAM"], "note": "rumah terbakar"})
    assert status == 201, made
    ids = {a["agency"]: a["id"] for a in made["assignments"]}
    assert as_user(centre, "pdam1", "POST", f"/api/v1/assignments/{ids['PDAM']}/status",
                   {"status": "diterima"})[0] == 200
    row = f'#open tr[data-assignment="{ids["DAMKAR"]}"]'
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, row))             # pushed, not waited for a poll
    assert browser.execute_script("return window.callengineBoard.pushes") >= 1
    assert "DAMKAR" in browser.find_element(By.CSS_SELECTOR, row).text

    late = f'#late tr[data-assignment="{ids["DAMKAR"]}"]'                   # 3 s, then the watcher's round
    WebDriverWait(browser, 40).until(lambda b: b.find_elements(By.CSS_SELECTOR, late))
    assert "diterima" in browser.find_element(By.CSS_SELECTOR, late).text   # what DAMKAR owes: acceptance
    assert not browser.find_elements(By.CSS_SELECTOR, f'#late tr[data-assignment="{ids["PDAM"]}"]')
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f"{row} .clock").get_attribute("data-late") == "true")
    shot(browser, "board-1-late")

    assert as_user(centre, "dmk1", "POST", f"/api/v1/assignments/{ids['DAMKAR']}/status",
                   {"status": "ditolak", "note": "armada sedang di Palaran"})[0] == 200
    refused = f'#refused tr[data-assignment="{ids["DAMKAR"]}"]'
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, refused))
    line = browser.find_element(By.CSS_SELECTOR, refused)
    assert "dmk1" in line.text and "armada sedang di Palaran" in line.text
    line.find_element(By.CSS_SELECTOR, "button").click()                    # no reason: refused by the page
    assert "alasan" in line.find_element(By.CSS_SELECTOR, ".error").text
    line.find_element(By.NAME, "reason").send_keys("pos Sungai Kunjang tersedia")
    line.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, refused))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'{row}[data-status="diteruskan"]'))
    shot(browser, "board-2-sent-on")

    status, body = as_user(centre, "spv1", "GET", f"/api/v1/tickets/{ticket}")
    damkar = next(a for a in body["assignments"] if a["agency"] == "DAMKAR")
    assert [(e["to_status"], e["actor"], e["note"]) for e in damkar["events"]][-2:] == [
        ("ditolak", "dmk1", "armada sedang di Palaran"), ("diteruskan", "spv1", "pos Sungai Kunjang tersedia")]
    assert not centre.console.errors()
