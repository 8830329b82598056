"""Fixtures of the integration tests: a real Asterisk per test, one SIP bot stack per session."""
from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lab import Lab, loopback_only

if TYPE_CHECKING:
    from callengine.bots.softphone import CallTaker, SipBots
    from pg import PostgresServer


@pytest.fixture(scope="session")
def bots() -> Iterator["SipBots"]:
    from callengine.bots.softphone import SipBots  # pjsua2 loads only for tests that place calls

    if not loopback_only():
        pytest.fail("SIP bots would advertise a non-loopback address: run the suite through "
                    "./scripts/test, which isolates it in a loopback-only network namespace")
    stack = SipBots()
    yield stack
    stack.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresServer"]:
    """One real PostgreSQL server for the session; each test makes its own database."""
    from pg import PostgresServer

    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both backends: a fresh SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'callengine.db'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t{next(_databases)}")


_databases = itertools.count(1)


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Labs with their own roster or settings (Lab.start's overrides); each is stopped and
    removed when the test ends."""
    made: list[tuple[Path, Lab]] = []

    def make(**overrides: Any) -> Lab:
        folder = Path(tempfile.mkdtemp(prefix="ce-"))  # short: Asterisk's control socket path is limited
        made.append((folder, Lab.start(folder, **overrides)))
        return made[-1][1]

    yield make
    for folder, centre in made:
        centre.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab()


@pytest.fixture
def call_taker(bots: "SipBots", lab: Lab) -> Iterator[Callable[..., "CallTaker"]]:
    """Make registered call-taker bots on this test's Asterisk; closed when the test ends
    (pjsua allows few accounts per process)."""
    made: list[CallTaker] = []

    def make(account: str = "taker1", **options: Any) -> "CallTaker":
        taker = bots.call_taker(account, lab.password(account), lab.sip, **options)
        made.append(taker)
        taker.wait_registered(10)
        return taker

    yield make
    for taker in made:
        taker.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through chromedriver, at a desk screen's size."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
