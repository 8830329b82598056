"""`callengine up`: Asterisk, the engine and the console as children; the engine and the
console restarted if they die, each on its own.

Asterisk is never restarted behind the admin's back: its dialplan keeps 112 answered
while the engine is down, which is the point of keeping the two in separate processes.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from callengine.core.settings import Settings, load_secrets
from callengine.pbx.process import Asterisk
from callengine.pbx.render import render
from callengine.queueing.roster import roster_of


def banner(s: Settings) -> str:
    roster = roster_of(s)
    secrets = load_secrets(s, roster.people)
    host = "127.0.0.1" if s.sip_bind == "0.0.0.0" else s.sip_bind
    trunk = s.trunk_match[0].split("/")[0]
    duty = roster.duty_at(datetime.now(s.timezone))
    on_duty = ", ".join(sorted(duty.accounts)) or "nobody (edit config/roster.conf)"
    takers = "\n".join(f"    {p.account} / {secrets[p.account]}   ({p.name}, {p.role})" for p in roster.people.values())
    taker = next((p.account for p in roster.people.values() if p.role != "supervisor"), "taker1")
    return f"""
callengine is up — Layanan darurat 112 {s.city}
  SIP (PJSIP, UDP)  {host}:{s.sip_port}      AMI {s.ami_host}:{s.ami_port}
  FastAGI           {s.fastagi_host}:{s.fastagi_port}      web http://{s.web_host}:{s.web_port}/healthz

Softphones (Zoiper, MicroSIP, Linphone): register to {host}:{s.sip_port} as
{takers}
(`callengine softphones` prints them again.) On duty now, shift {duty.shift} until
{duty.ends:%H:%M %Z}: {on_duty}. Register one of them to take the call.

Place a 112 call as the telco trunk would (from {trunk}):
    sipp -sn uac -i {trunk} -s 112 -m 1 -d 20000 {host}:{s.sip_port}
Then list the call records:
    .venv/bin/callengine calls list

The console: http://{s.console.host}:{s.console.port}/ (call takers, supervisors, agencies, QA, admins).
Create the first account, then log in there:
    .venv/bin/callengine users add admin --role admin --name "Admin" --password-stdin
A call taker's account has their softphone's name; their desk (screen pop, ticket, map) is
http://{s.console.host}:{s.console.port}/desk :
    .venv/bin/callengine users add {taker} --role calltaker --password-stdin
Ctrl-C stops Asterisk, the engine and the console.
"""


class Child:
    """One of our processes (`callengine run`, `callengine console`), restarted with backoff
    whenever it dies, each on its own thread: one crashing never touches the other."""

    def __init__(self, name: str, command: list[str], consequence: str, stopping: threading.Event) -> None:
        self.name, self.command, self.consequence, self.stopping = name, command, consequence, stopping
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._keep_running, name=name, daemon=True)

    def _keep_running(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.proc = subprocess.Popen(self.command)
            while self.proc.poll() is None and not self.stopping.wait(0.5):
                pass
            if self.stopping.is_set():
                return
            if time.monotonic() - started > 60:  # it ran fine for a while: restart promptly
                delay = 1.0
            print(f"{self.name} exited with status {self.proc.returncode}; {self.consequence}; "
                  f"restarting in {delay:.0f}s", file=sys.stderr, flush=True)
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        self.thread.join(5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Supervisor:
    def __init__(self, settings: Settings, config_file: Path) -> None:
        self.settings = settings
        self.config_file = config_file
        self.stopping = threading.Event()
        callengine = [sys.executable, "-m", "callengine", "--config", str(config_file)]
        self.children = [
            Child("engine", [*callengine, "run"],
                  "112 still reaches call takers through the dialplan fallback", self.stopping),
            Child("console", [*callengine, "console"], "calls go on untouched", self.stopping),
        ]

    def run(self) -> int:
        asterisk = Asterisk(render(self.settings), self.settings.asterisk_binary)
        asterisk.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        print(banner(self.settings), flush=True)
        try:
            for child in self.children:
                child.thread.start()
            self.stopping.wait()
        finally:
            self.stopping.set()
            for child in reversed(self.children):
                child.stop()
            asterisk.stop()
            print("callengine stopped.", flush=True)
        return 0
