"""`callengine up`: Asterisk and the engine as children; the engine restarted if it dies.

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
Ctrl-C stops Asterisk and the engine.
"""


class Supervisor:
    def __init__(self, settings: Settings, config_file: Path) -> None:
        self.settings = settings
        self.config_file = config_file
        self.stopping = threading.Event()
        self.engine: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        asterisk = Asterisk(render(self.settings), self.settings.asterisk_binary)
        asterisk.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        print(banner(self.settings), flush=True)
        try:
            self._keep_engine_running()
        finally:
            self._stop_engine()
            asterisk.stop()
            print("callengine stopped.", flush=True)
        return 0

    def _keep_engine_running(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            self.engine = subprocess.Popen([sys.executable, "-m", "callengine", "--config",
                                            str(self.config_file), "run"])
            while self.engine.poll() is None and not self.stopping.wait(0.5):
                pass
            if self.stopping.is_set():
                return
            if time.monotonic() - started > 60:  # it ran fine for a while: restart promptly
                delay = 1.0
            print(f"engine exited with status {self.engine.returncode}; 112 still reaches call takers "
                  f"through the dialplan fallback; restarting in {delay:.0f}s", file=sys.stderr, flush=True)
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, 30.0)

    def _stop_engine(self) -> None:
        if self.engine is not None and self.engine.poll() is None:
            self.engine.send_signal(signal.SIGTERM)
            try:
                self.engine.wait(10)
            except subprocess.TimeoutExpired:
                self.engine.kill()
