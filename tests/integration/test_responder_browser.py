"""The responder's phone page in a real headless Chromium at 360x740: PDAM's responder logs in,
finds PDAM's assignment of a house fire (what, where, the map link, the caller's number, the SLA
clock), presses Terima then Proses, photographs the scene (a JPEG with EXIF GPS), sees its
thumbnail and position, closes it Selesai with a note; a second dispatch appears by itself with
a beep; the ticket's API holds every status and the photo, and the call taker sees them on the
ticket's timeline."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console_lab import ConsoleLab, call_records, log_in, save_all
from test_attachments_api import SAMARINDA, TICKET, jpeg
from test_console_desk import Desk
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
SCREENSHOTS = Path(tempfile.gettempdir()) / "callengine-screens"


async def seed(config: Path) -> dict[str, str]:
    async with call_records(config) as records:
        numbers = await save_all(records, [call(f"{n}.1", f"+628{n}{n}11111111", "answered", 10 * n) for n in (1, 2)])
        for ticket in numbers.values():
            await records.tickets.change(ticket, TICKET, NOW)
    return numbers


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-responder-"))
    lab = ConsoleLab(folder)
    for name, role, agency in (("taker1", "calltaker", None), ("pdam1", "responder", "PDAM")):
        lab.add_user(name, role, PASSWORD, *(["--agency", agency] if agency else []))
    lab.numbers = asyncio.run(seed(lab.config))  # type: ignore[attr-defined]
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def as_taker(centre: ConsoleLab, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        from aiohttp import ClientSession, CookieJar
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            return await (await Desk(centre, http).login("taker1")).call(method, path, body)
    return asyncio.run(go())


def dispatch(centre: ConsoleLab, ticket: str) -> int:
    status, body = as_taker(centre, "POST", f"/api/v1/tickets/{ticket}/dispatch",
                            {"agencies": ["PDAM"], "note": "Damkar butuh air, hidran kering"})
    assert status == 201, body
    return int(body["assignments"][0]["id"])


def shot(browser: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"responder-360-{name}.png"
    browser.save_screenshot(str(path))
    return path


def test_pdam_takes_the_fire_from_dispatch_to_selesai_on_a_phone(  # type: ignore[no-untyped-def]
        browser, centre: ConsoleLab, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    first, second = centre.numbers["1.1"], centre.numbers["2.1"]  # type: ignore[attr-defined]
    assignment = dispatch(centre, first)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    log_in(browser, centre.url, "pdam1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{centre.url}/"))
    browser.find_element(By.LINK_TEXT, "Tugas").click()
    card = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, f'article.job[data-id="{assignment}"]'))
    wait.until(lambda b: card.get_attribute("data-status") == "diteruskan")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360   # no sideways scroll
    seen = card.text
    for fact in (first, "KEBAKARAN", "Kebakaran rumah/permukiman", "Rumah terbakar, hidran kering",
                 "Jl. Juanda Gg. 4 No. 12", "Air Hitam", "Samarinda Ulu", "-0.48710, 117.14020", "+628111111111",
                 "Damkar butuh air", "Terima sebelum"):
        assert fact in seen, fact
    assert card.find_element(By.CSS_SELECTOR, ".job-map").get_attribute("href").startswith("geo:-0.48710,117.14020")
    assert card.find_element(By.CSS_SELECTOR, ".job-call").get_attribute("href") == "tel:+628111111111"
    accept_by = datetime.fromisoformat(as_taker(centre, "GET", f"/api/v1/tickets/{first}")[1]["assignments"][0]["accept_by"])
    local = accept_by.astimezone(ZoneInfo("Asia/Makassar")).strftime("%H.%M")   # the centre's clock, not the browser's (UTC)
    assert f"Terima sebelum {local}" in card.find_element(By.CSS_SELECTOR, ".sla").text
    late = card.find_element(By.CSS_SELECTOR, ".sla").get_attribute("data-late")
    assert late in ("true", "false")
    button = card.find_element(By.CSS_SELECTOR, "button.next")
    assert button.text == "Terima" and button.size["height"] >= 56 and button.size["width"] >= 300
    shot(browser, "1-new")

    button.click()
    wait.until(lambda b: card.get_attribute("data-status") == "diterima" and button.text == "Proses")
    assert "Berangkat sebelum" in card.find_element(By.CSS_SELECTOR, ".sla").text
    button.click()
    wait.until(lambda b: card.get_attribute("data-status") == "diproses" and button.text == "Selesai")

    photo = tmp_path / "IMG_20261202_101500.jpg"
    photo.write_bytes(jpeg(SAMARINDA, (1600, 1200)))
    card.find_element(By.CSS_SELECTOR, "input.job-file").send_keys(str(photo))
    image = wait.until(lambda b: card.find_element(By.CSS_SELECTOR, ".thumbs li.doc img"))
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert "GPS -0.50220, 117.15360" in card.find_element(By.CSS_SELECTOR, ".doc-gps").text
    assert "IMG_20261202_101500.jpg" in card.find_element(By.CSS_SELECTOR, ".thumbs").text
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", card.find_element(By.CSS_SELECTOR, ".docs"))
    shot(browser, "2-documented")

    other = dispatch(centre, second)           # while the page is open: pushed at once (the poll is 15 s), a beep
    WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'article.job[data-id="{other}"]'))
    assert browser.execute_script("return window.callengineResponder.beeps") >= 1
    assert browser.execute_script("return window.callengineResponder.pushes") >= 1
    jobs = [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "article.job")]
    assert jobs == [str(other), str(assignment)]                                 # newest first

    card.find_element(By.CSS_SELECTOR, "textarea.job-closing").send_keys("Air dari 2 tangki, api padam 10.40")
    card.find_element(By.CSS_SELECTOR, "button.next").click()
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, f'article.job[data-id="{assignment}"]'))
    assert f"Selesai: {first}" in browser.find_element(By.ID, "notice").text
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "3-closed")

    status, ticket = as_taker(centre, "GET", f"/api/v1/tickets/{first}")
    assert status == 200 and ticket["status"] == "selesai"
    [pdam] = ticket["assignments"]
    assert [(e["to_status"], e["actor"]) for e in pdam["events"]] == [
        ("diteruskan", "taker1"), ("diterima", "pdam1"), ("diproses", "pdam1"), ("selesai", "pdam1")]
    assert pdam["events"][-1]["note"] == "Air dari 2 tangki, api padam 10.40"
    [kept] = pdam["attachments"]
    assert kept["original_name"] == photo.name and kept["gps"] == {"lat": -0.5022, "lon": 117.1536}
    assert kept["content_type"] == "image/jpeg" and kept["uploaded_by"] == "pdam1"

    browser.delete_all_cookies()                 # the call taker reads the ticket's timeline on a desk
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.set_window_size(1280, 1000)
    log_in(browser, centre.url, "taker1", PASSWORD)
    wait.until(shown.url_to_be(f"{centre.url}/"))
    browser.get(f"{centre.url}/tickets/{first}")
    lines = [li.get_attribute("data-kind") for li in browser.find_elements(By.CSS_SELECTOR, ".timeline li")]
    assert lines[:4] == ["call.started", "call.answered", "call.ended", "ticket.opened"], lines
    assert lines.count("status") == 3 and "attachment" in lines and "dispatched" in lines
    thumb = browser.find_element(By.CSS_SELECTOR, '.timeline li[data-kind="attachment"] img.thumb')
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb))
    closing = browser.find_elements(By.CSS_SELECTOR, '.timeline li[data-kind="status"]')[-1].text
    assert "selesai" in closing and "pdam1" in closing and "Air dari 2 tangki" in closing
    browser.execute_script("document.querySelector('.timeline').scrollIntoView()")
    shot(browser, "4-ticket-timeline")


def test_a_refusal_needs_its_reason(browser, centre: ConsoleLab) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True})
    from selenium.webdriver.support import expected_conditions as shown

    log_in(browser, centre.url, "pdam1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{centre.url}/"))          # logged in before going on
    browser.get(f"{centre.url}/responder")
    card = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "article.job"))
    number = card.find_element(By.CSS_SELECTOR, ".job-number").text
    card.find_element(By.CSS_SELECTOR, ".refuse summary").click()
    card.find_element(By.CSS_SELECTOR, "button.refuse-send").click()
    wait.until(lambda b: card.find_element(By.CSS_SELECTOR, ".job-error").text == "Tulis alasan penolakan.")
    card.find_element(By.CSS_SELECTOR, "textarea.job-reason").send_keys("Armada di lokasi lain")
    card.find_element(By.CSS_SELECTOR, "button.refuse-send").click()
    wait.until(lambda b: f"Ditolak: {number}" in b.find_element(By.ID, "notice").text)
    status, ticket = as_taker(centre, "GET", f"/api/v1/tickets/{number}")
    assert status == 200 and ticket["assignments"][0]["status"] == "ditolak"
    assert ticket["assignments"][0]["events"][-1]["note"] == "Armada di lokasi lain"
    with urllib.request.urlopen(f"{centre.url}/responder", timeout=5) as reply:     # no session: the login form
        assert "/login" in reply.url
