"""Checks of config and environment, each giving one actionable line per problem."""
from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

from callengine.audio.prompts import problems as prompt_problems
from callengine.core.conf import ConfigError
from callengine.core.settings import Settings, load_secrets
from callengine.queueing.roster import roster_of
from callengine.ivr.config import load_ivr
from callengine.tickets.desk import load_desk
from callengine.ivr.flow import PROMPTS
from callengine.pbx.process import PbxError, asterisk_binary


@dataclass(frozen=True)
class Port:
    what: str
    host: str
    port: int
    udp: bool = False

    def __str__(self) -> str:
        return f"{self.what} port {self.host}:{self.port}/{'udp' if self.udp else 'tcp'}"


def pbx_ports(s: Settings) -> list[Port]:
    return [Port("SIP", s.sip_bind, s.sip_port, udp=True), Port("AMI", s.ami_host, s.ami_port)]


def engine_ports(s: Settings) -> list[Port]:
    return [Port("FastAGI", s.fastagi_host, s.fastagi_port), Port("web", s.web_host, s.web_port),
            Port("HEP", s.fastagi_host, s.hep_port, udp=True)]


def port_problem(port: Port) -> str | None:
    kind = socket.SOCK_DGRAM if port.udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if not port.udp:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((port.host, port.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{port} is in use by another program: stop it or change the port in the config"
            return f"{port} cannot be bound: {exc.strerror}"
    return None


def asterisk_problem(s: Settings) -> str | None:
    try:
        asterisk_binary(s.asterisk_binary)
    except PbxError as exc:
        return str(exc)
    return None


async def ami_problem(s: Settings, timeout: float = 3.0) -> str | None:
    """Log in to AMI with our secret: proves Asterisk runs our config and the secret matches."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(s.ami_host, s.ami_port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"AMI at {s.ami_host}:{s.ami_port} is not reachable ({exc.__class__.__name__}): is Asterisk running?"
    try:
        await asyncio.wait_for(reader.readline(), timeout)
        secret = load_secrets(s)["ami"]
        writer.write(f"Action: Login\r\nUsername: {s.ami_user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n".encode())
        reply = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)).decode(errors="replace")
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
        return f"AMI at {s.ami_host}:{s.ami_port} did not answer the login ({exc.__class__.__name__})"
    finally:
        writer.close()
    if "Response: Success" not in reply:
        return (f"AMI at {s.ami_host}:{s.ami_port} refused user {s.ami_user!r}: the running Asterisk "
                f"was started with another config or secret; restart it with ./scripts/run")
    return None


def environment_problems(s: Settings, *, running: bool) -> list[str]:
    """running=False: what `up` needs (ports free). running=True: the system answers (AMI login)."""
    found = [p for p in (asterisk_problem(s),) if p]
    for read in (lambda: load_ivr(s.ivr_file), lambda: roster_of(s), lambda: load_desk(s.desk_file)):
        try:
            read()
        except ConfigError as exc:
            found.append(f"config: {exc}")
    found += [f"prompt {p}" for p in prompt_problems(s.sounds_dir, PROMPTS)]
    if running:
        ami = asyncio.run(ami_problem(s))
        found += [ami] if ami else []
    else:
        console = Port("console", s.console.host, s.console.port)
        found += [p for p in map(port_problem, pbx_ports(s) + engine_ports(s) + [console]) if p]
    return found
