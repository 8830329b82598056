"""The console in a real browser (Debian's headless Chromium through chromedriver): a call
taker logs in as a person would and lands on their page, in Bahasa Indonesia, switchable to
English; a wrong password stays on the login page and says so."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from console_lab import ConsoleLab, log_in

pytestmark = pytest.mark.integration
PASSWORD = "kopi tubruk pagi hari"


@pytest.fixture(scope="module")
def centre() -> Iterator[ConsoleLab]:
    folder = Path(tempfile.mkdtemp(prefix="ce-browser-"))
    lab = ConsoleLab(folder)
    lab.add_user("taker1", "calltaker", PASSWORD, "--name", "Operator Satu")
    lab.start()
    yield lab
    lab.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_call_taker_logs_in_and_sees_their_page(browser, centre: ConsoleLab) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    log_in(browser, centre.url, "taker1", PASSWORD)
    WebDriverWait(browser, 10).until(shown.url_to_be(f"{centre.url}/"))
    text = browser.find_element("tag name", "body").text
    assert "taker1" in text and browser.find_element("tag name", "html").get_attribute("lang") == "id"
    browser.get(f"{centre.url}/?lang=en")
    assert browser.find_element("tag name", "html").get_attribute("lang") == "en"
    assert "softphone" in browser.find_element("tag name", "body").text


def test_a_wrong_password_stays_on_the_login_page(browser, centre: ConsoleLab) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    log_in(browser, centre.url, "taker1", "not the password at all")
    said = WebDriverWait(browser, 10).until(lambda b: b.find_elements("css selector", "[role=alert]"))
    assert said[0].text == "Nama pengguna atau kata sandi salah."
    assert "/login" in browser.current_url and browser.find_elements("name", "password")   # the form again
