"""The reports page in a real headless Chromium: a viewer (the regent's office) opens Laporan,
sees this month's charts drawn by Chart.js from the same figures as the tables under them, the
tables with the seeded calls counted (the chart adds up to the table), and the exports of that
period; a bad month is refused in place."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console_lab import ConsoleLab, call_records, log_in, save_all
from test_console_tickets import NOW, PASSWORD, call

pytestmark = pytest.mark.integration
SCREENS = Path(tempfile.gettempdir()) / "callengine-screens"
WITA = ZoneInfo("Asia/Makassar")          # the lab's centre


async def seed(config: Path) -> None:
    async with call_records(config) as records:
        await save_all(records, [call("1.1", "+6281111111111", "answered", 30),
                                 call("2.1", "+6282222222222", "answered", 20),
                                 replace(call("3.1", "+6283333333333", "abandoned", 10), wait_s=40.0)])


@pytest.fixture(scope="module")
def centre() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="ce-reports-"))
    lab = ConsoleLab(folder)
    lab.add_user("view1", "viewer", PASSWORD)
    asyncio.run(seed(lab.config))
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_viewer_reads_this_months_report_with_its_charts(browser, centre: ConsoleLab) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1280, 1000)
    log_in(browser, centre.url, "view1", PASSWORD)
    wait = WebDriverWait(browser, 10)
    wait.until(shown.url_to_be(f"{centre.url}/"))
    browser.find_element(By.LINK_TEXT, "Laporan").click()              # this month's, by default
    wait.until(lambda b: b.execute_script("return (window.callengineCharts || []).length") == 4)
    first, last = ((NOW - timedelta(minutes=minutes)).astimezone(WITA).date() for minutes in (31, 0))
    browser.get(f"{centre.url}/reports?from={first}&to={last}")          # the seeded calls' days, whatever the hour
    wait.until(lambda b: b.execute_script("return (window.callengineCharts || []).length") == 4)
    summary = browser.find_element(By.ID, "table-ringkasan").text
    assert "Panggilan masuk" in summary and "3" in summary
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-harian tbody tr")) == (last - first).days + 1
    counted = browser.execute_script(
        "return window.callengineCharts[0].data.datasets[0].data.reduce((a, b) => a + b, 0)")
    assert counted == 3                                                  # the chart adds up to the table
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".exports a")]
    assert [link.split("?", 1)[1] for link in links] == [
        f"from={first}&to={last}&format={shape}" for shape in ("csv", "xlsx", "pdf")]
    SCREENS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENS / "reports-month.png"))

    browser.get(f"{centre.url}/reports?month=2026-13")
    assert "is not a month" in browser.find_element(By.CSS_SELECTOR, ".alert").text
    assert not centre.console.errors()
