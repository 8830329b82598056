"""A 112 centre in a temp folder for one test: real Asterisk on free ports, the engine as a
real child process whose JSON log lines the test can wait on."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callengine.core.settings import PROJECT_DIR, Settings, load_secrets, load_settings
from callengine.pbx.process import Asterisk
from callengine.pbx.render import render


def free_port(udp: bool = False) -> int:
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_only() -> bool:
    """True when no route leaves the host: pjsua then puts 127.0.0.1 in its SDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only picks a route
        except OSError:
            return True
        return probe.getsockname()[0].startswith("127.")


# taker1 is on duty around the clock; the others are on the roster (and the fallback queue) only.
ROSTER = """
[calltakers]
taker1 = Operator Satu
taker2 = Operator Dua
taker3 = Operator Tiga
[supervisors]
spv1 = Supervisor Satu
[rotation]
1 = pagi taker1, siang taker1, malam taker1
"""


AML_TOKEN = "lab-aml-token"   # the lab's [aml] token: tests post AML with it


def write_config(folder: Path, roster: str = ROSTER, **overrides: str) -> Path:
    rtp = 20000 + (free_port() % 20000)
    values = {
        "city": "Samarinda", "timezone": "Asia/Makassar", "language": "id",
        "runtime": str(folder / "rt"), "database": "sqlite", "recordings": str(folder / "rec"),
        "asterisk_config": str(PROJECT_DIR / "config" / "asterisk"),
        "dialplan": str(PROJECT_DIR / "dialplan"), "sounds": str(PROJECT_DIR / "sounds"),
        "ivr": str(PROJECT_DIR / "config" / "ivr.conf"), "overflow": "30", "hold_announce": "20", "position_announce": "0", "webhooks": "", "aml_allow": "",
        "sip_bind": "127.0.0.1", "sip_port": str(free_port(udp=True)), "ami_port": str(free_port()),
        "rtp_start": str(rtp), "rtp_end": str(rtp + 200),
        "fastagi_port": str(free_port()), "web_port": str(free_port()), "hep_port": str(free_port(udp=True)),
    }
    values.update(overrides)
    (folder / "roster.conf").write_text(roster)
    path = folder / "callengine.conf"
    path.write_text(f"""
[general]
city = {values['city']}
timezone = {values['timezone']}
language = {values['language']}
runtime = {values['runtime']}
database = {values['database']}
recordings = {values['recordings']}
[paths]
ivr = {values['ivr']}
roster = roster.conf
asterisk_config = {values['asterisk_config']}
dialplan = {values['dialplan']}
sounds = {values['sounds']}
[asterisk]
sip_bind = {values['sip_bind']}
sip_port = {values['sip_port']}
ami_host = 127.0.0.1
ami_port = {values['ami_port']}
rtp_start = {values['rtp_start']}
rtp_end = {values['rtp_end']}
[engine]
fastagi_host = 127.0.0.1
fastagi_port = {values['fastagi_port']}
web_host = 127.0.0.1
web_port = {values['web_port']}
hep_port = {values['hep_port']}
[trunk]
match = 127.0.0.2
numbers = 112
[queue]
name = 112
strategy = rrmemory
overflow = {values['overflow']}
hold_announce = {values['hold_announce']}
position_announce = {values['position_announce']}
[aml]
token = {AML_TOKEN}
allow = {values['aml_allow']}
[webhooks]
urls = {values['webhooks']}
""")
    return path


@dataclass
class EngineProcess:
    """`callengine run` as a child; every JSON log line it writes is kept and can be waited on."""
    config_file: Path
    proc: subprocess.Popen[str] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> EngineProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "callengine", "--config", str(self.config_file), "run",
                                      "--log-level", "DEBUG"],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                     start_new_session=True)   # its own group, as a terminal's Ctrl-C sees it
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_log("AMI connected", timeout=20)
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                entry = {"level": "raw", "msg": raw.rstrip()}
            with self.changed:
                self.lines.append(entry)
                self.changed.notify_all()

    def wait_log(self, msg: str, timeout: float = 15, start: int = 0, **fields: Any) -> dict[str, Any]:
        """The first log line from index `start` on with this message and these fields."""
        return self.wait_line(lambda e: e.get("msg") == msg and all(e.get(k) == v for k, v in fields.items()),
                              f"{msg!r} {fields}", timeout, start)

    def wait_count(self, msg: str, count: int, timeout: float = 30, key: str = "linkedid",
                   **fields: Any) -> set[Any]:
        """Wait until `count` distinct values of `key` were logged with this message and fields."""
        def seen() -> set[Any]:
            return {e.get(key) for e in self.lines if e.get("msg") == msg and
                    all(e.get(k) == v for k, v in fields.items())}
        with self.changed:
            if not self.changed.wait_for(lambda: len(seen()) >= count or not self.alive(), timeout):
                raise TimeoutError(f"engine logged {msg!r} for {len(seen())} of {count}; last lines: {self.lines[-8:]}")
            found = seen()
        if len(found) < count:
            raise AssertionError(f"engine exited after {len(found)} of {count} {msg!r}; last lines: {self.lines[-8:]}")
        return found

    def wait_taker_ready(self, account: str, timeout: float = 15, start: int = 0) -> dict[str, Any]:
        """The shift keeper has `account` in the queue unpaused: it joined registered, or it
        joined paused and was unpaused when its softphone registered (which comes first is a race)."""
        def ready(e: dict[str, Any]) -> bool:
            return e.get("account") == account and (
                e.get("msg") == "call taker registered; unpaused"
                or (e.get("msg") == "call taker joined the queue" and e.get("paused") is False))
        return self.wait_line(ready, f"{account} ready in the queue", timeout, start)

    def wait_line(self, wanted: Callable[[dict[str, Any]], bool], what: str, timeout: float = 15,
                  start: int = 0) -> dict[str, Any]:
        def match() -> dict[str, Any] | None:
            return next((e for e in self.lines[start:] if wanted(e)), None)
        with self.changed:
            if not self.changed.wait_for(lambda: match() is not None or not self.alive(), timeout):
                raise TimeoutError(f"engine never logged {what}; last lines: {self.lines[-8:]}")
            found = match()
        if found is None:
            raise AssertionError(f"engine exited before logging {what}; last lines: {self.lines[-8:]}")
        return found

    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.lines if e.get("level") in ("error", "critical", "raw")]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"engine ignored SIGTERM for 15 s; last lines: {self.lines[-10:]}") from None


class AmiWatcher:
    """A plain AMI login of the test's own that keeps every event, to wait on what Asterisk says."""

    def __init__(self, settings: Settings) -> None:
        self.events: list[dict[str, str]] = []
        self.changed = threading.Condition()
        self.sock = socket.create_connection((settings.ami_host, settings.ami_port), timeout=10)
        secret = load_secrets(settings)["ami"]
        self.sock.sendall(f"Action: Login\r\nUsername: {settings.ami_user}\r\nSecret: {secret}\r\n\r\n".encode())
        self.sock.settimeout(None)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while chunk := self._recv():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\r\n\r\n")
            with self.changed:
                for block in blocks:
                    lines = block.decode(errors="replace").split("\r\n")
                    self.events.append(dict(line.split(": ", 1) for line in lines if ": " in line))
                self.changed.notify_all()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def wait_event(self, name: str, timeout: float = 20, **fields: str) -> dict[str, str]:
        def match() -> dict[str, str] | None:
            return next((e for e in self.events if e.get("Event") == name and
                         all(e.get(k) == v for k, v in fields.items())), None)
        with self.changed:
            if not self.changed.wait_for(lambda: match() is not None, timeout):
                raise TimeoutError(f"Asterisk never sent {name} {fields}")
            return match()  # type: ignore[return-value]

    def wait_count(self, name: str, count: int, timeout: float = 30, **fields: str) -> list[dict[str, str]]:
        """Wait until Asterisk sent `count` events of this name with these fields; all of them."""
        def matches() -> list[dict[str, str]]:
            return [e for e in self.events if e.get("Event") == name and
                    all(e.get(k) == v for k, v in fields.items())]
        with self.changed:
            if not self.changed.wait_for(lambda: len(matches()) >= count, timeout):
                raise TimeoutError(f"Asterisk sent {len(matches())} of {count} {name} {fields}")
            return matches()

    def close(self) -> None:
        self.sock.close()


@dataclass
class Lab:
    folder: Path
    config_file: Path
    settings: Settings
    asterisk: Asterisk
    engines: list[EngineProcess] = field(default_factory=list)

    @classmethod
    def start(cls, folder: Path, roster: str = ROSTER, **overrides: str) -> Lab:
        config_file = write_config(folder, roster, **overrides)
        settings = load_settings(config_file)
        asterisk = Asterisk(render(settings), settings.asterisk_binary)
        asterisk.start()
        return cls(folder, config_file, settings, asterisk)

    @property
    def sip(self) -> str:
        return f"{self.settings.sip_bind}:{self.settings.sip_port}"

    def password(self, account: str) -> str:
        return load_secrets(self.settings)[account]

    def engine(self, config_file: Path | None = None) -> EngineProcess:
        """`callengine run` on the lab's config (or another, e.g. one with AMI behind a proxy)."""
        engine = EngineProcess(config_file or self.config_file).start()
        self.engines.append(engine)
        return engine

    def wait_asterisk_log(self, text: str, count: int = 1, timeout: float = 30) -> None:
        """Asterisk's log is a file its logger thread writes behind: poll it until `text`
        appears `count` times."""
        path = self.settings.runtime_dir / "log" / "messages"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text(errors="replace").count(text) >= count:
                return
            time.sleep(0.2)  # wait-ok: a file has no event to wait on: poll it
        raise TimeoutError(f"{path} never showed {text!r} {count} times")

    def calls(self) -> list[dict[str, Any]]:
        done = subprocess.run([sys.executable, "-m", "callengine", "--config", str(self.config_file),
                               "calls", "list", "--json"], capture_output=True, text=True, check=True)
        return [json.loads(line) for line in done.stdout.splitlines()]

    def close(self) -> None:
        try:
            for engine in self.engines:
                engine.stop()
        finally:
            self.asterisk.stop()  # even when an engine misbehaved: no Asterisk outlives its test
