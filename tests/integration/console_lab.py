"""`callengine console` as a real child process on a free port, with the CLI beside it on the
same config and SQLite database; for tests that need no Asterisk (accounts, auth, pages)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from callengine.calls.record import CallRecord
from callengine.core.settings import load_settings
from callengine.db.database import Database
from callengine.tickets.model import TicketNumbers
from callengine.tickets.records import CallRecords
from lab import EngineProcess, free_port, write_config


class ConsoleProcess(EngineProcess):
    """The console's process; its JSON log lines kept as the engine's are."""

    def __init__(self, config_file: Path, port: int) -> None:
        super().__init__(config_file)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> ConsoleProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(self.config_file), "console",
                                      "--log-level", "DEBUG"],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"console exited; last lines: {self.lines[-10:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)  # wait-ok: polling the port's state until the process binds it
        raise TimeoutError(f"console not healthy within {timeout} s; last lines: {self.lines[-10:]}")


class ConsoleLab:
    """A config (SQLite in the folder, the console on a free port) and its console process."""

    def __init__(self, folder: Path, console: str = "") -> None:
        self.port = free_port()
        self.config = write_config(folder)
        with self.config.open("a") as conf:
            conf.write(f"[console]\nlisten = 127.0.0.1:{self.port}\n{console}")
        self.console = ConsoleProcess(self.config, self.port)

    @property
    def url(self) -> str:
        return self.console.url

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return cli(self.config, *args, stdin=stdin)

    def add_user(self, name: str, role: str, password: str, *extra: str) -> None:
        add_user(self.config, name, role, password, *extra)

    def start(self) -> ConsoleLab:
        self.console.start()
        return self

    def close(self) -> None:
        self.console.stop()


def cli(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callengine", "--config", str(config), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def add_user(config: Path, name: str, role: str, password: str, *extra: str) -> None:
    done = cli(config, "users", "add", name, "--role", role, *extra, "--password-stdin", stdin=password + "\n")
    assert done.returncode == 0, done.stderr


def console_beside(config: Path) -> ConsoleProcess:
    """A console on a lab's own config (its engine, Asterisk and database), on a free port."""
    port = free_port()
    with config.open("a") as conf:
        conf.write(f"[console]\nlisten = 127.0.0.1:{port}\n")
    return ConsoleProcess(config, port)


@asynccontextmanager
async def call_records(config: Path) -> AsyncIterator[CallRecords]:
    """The lab's database as the engine writes it (migrated, tickets numbered): to seed calls."""
    settings = load_settings(config)
    db = Database(settings.database_url)
    await db.migrate()
    try:
        yield CallRecords(db, TicketNumbers(settings.city_code, settings.timezone))
    finally:
        await db.close()


async def save_all(records: CallRecords, calls: Iterable[CallRecord]) -> dict[str, str]:
    """Store each call (stamped at its end) and return its ticket's number by linkedid."""
    numbers = {}
    for record in calls:
        ticket = await records.save(record, record.ended_at)
        assert ticket is not None and ticket.number is not None
        numbers[record.linkedid] = ticket.number
    return numbers


def log_in(browser: Any, url: str, name: str, password: str) -> None:
    """As a person does: a private page sends them to the login form, which they fill in."""
    from selenium.webdriver.common.by import By

    browser.get(f"{url}/")
    assert "/login" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


class Visitor:
    """A person's session on the console from plain urllib (a cookie jar), for tests that
    have no event loop of their own."""

    def __init__(self, url: str, name: str, password: str) -> None:
        import http.cookiejar
        import urllib.parse

        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = urllib.parse.urlencode({"username": name, "password": password}).encode()
        with self.opener.open(f"{url}/login", data=form, timeout=10) as reply:   # 303 to the home page, followed
            assert reply.status == 200 and "/login" not in reply.url, reply.url

    def get(self, path: str) -> Any:
        import json

        request = urllib.request.Request(f"{self.url}{path}", headers={"Accept": "application/json"})
        with self.opener.open(request, timeout=10) as reply:
            return json.load(reply)
