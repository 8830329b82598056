"""Run Asterisk as a child process with the rendered runtime config."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


class PbxError(Exception):
    pass


def asterisk_binary(name: str = "asterisk") -> str:
    """The Asterisk executable: a name on PATH (sbin included, for non-root shells) or a path."""
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin")
    if path is None:
        raise PbxError(f"Asterisk is not installed ({name!r} not found): run ./scripts/install-system "
                       "or set [asterisk] binary in the config")
    return path


class Asterisk:
    """One Asterisk instance, foreground (-f) so it dies with us and logs to its runtime folder."""

    def __init__(self, conf: Path, binary: str = "asterisk") -> None:
        self.conf = conf
        self.binary = asterisk_binary(binary)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        log = (self.conf.parent.parent / "log" / "console.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-f", "-n", "-C", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.cli("core waitfullybooted", timeout=timeout, retries=int(timeout * 10))
        except PbxError:
            self.stop()
            raise PbxError(f"Asterisk did not boot; see {self.conf.parent.parent / 'log'}") from None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cli(self, command: str, timeout: float = 10, retries: int = 0) -> str:
        """Run one CLI command over the control socket (retrying while Asterisk is starting)."""
        for attempt in range(retries + 1):
            if self.proc is not None and self.proc.poll() is not None:
                raise PbxError(f"Asterisk exited with status {self.proc.returncode}")
            try:
                done = subprocess.run([self.binary, "-C", str(self.conf), "-rx", command],
                                      capture_output=True, timeout=timeout, text=True)
            except subprocess.TimeoutExpired:
                raise PbxError(f"Asterisk CLI {command!r} timed out") from None
            if done.returncode == 0 and "Unable to connect" not in done.stdout + done.stderr:
                return done.stdout
            if attempt < retries:
                _wait_socket(self.proc, 0.1)
        raise PbxError(f"Asterisk CLI {command!r} failed: {(done.stdout + done.stderr).strip()}")

    def stop(self, timeout: float = 15) -> None:
        if not self.running():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _wait_socket(proc: subprocess.Popen[bytes] | None, seconds: float) -> None:
    """Pause between connection attempts, returning early if Asterisk exits."""
    if proc is None:
        return
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        pass
