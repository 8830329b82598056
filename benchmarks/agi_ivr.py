"""AGI round-trip cost of the IVR (issue 3): callengine's FastAGI server against a pyst2 script
started once per call, side by side in one run. Figures and method: benchmarks/README.md.

This process plays Asterisk: it answers every command at once (no audio; --prompt-ms adds a
paced run), presses '2' during the menu, and times each command. The engine runs in a child process, so the two event loops
sit on different cores and the server's own CPU time can be read from /proc.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IVR_CONF = ROOT / "config" / "ivr.conf"
SCRIPT = Path(__file__).with_name("pyst2_ivr_agi.py")
HEADERS = (  # what Asterisk 16 sends for AGI(agi://engine/ivr); {uid} differs per call
    "agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1/ivr\n"
    "agi_channel: PJSIP/trunk-{uid}\nagi_language: id\nagi_type: PJSIP\nagi_uniqueid: 1712345678.{uid}\n"
    "agi_version: 16.28.0\nagi_callerid: +6281234567890\nagi_calleridname: unknown\n"
    "agi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 112\n"
    "agi_rdnis: unknown\nagi_context: emergency\nagi_extension: 112\nagi_priority: 4\n"
    "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 140245712345\n\n")


def reply(command: bytes) -> bytes:
    """Asterisk's answer, given instantly: '2' (kebakaran) pressed during the menu prompt."""
    if command.startswith(b"STREAM FILE"):
        return b"200 result=50 endpos=1234\n" if b"/menu" in command else b"200 result=0 endpos=1234\n"
    if command.startswith(b"WAIT FOR DIGIT"):
        return b"200 result=50\n"
    return b"200 result=1\n"


@dataclass
class Stats:
    start: list[float] = field(default_factory=list)  # connect/fork → first command
    cmd: list[float] = field(default_factory=list)    # reply written → next command read
    sessions: int = 0
    failed: int = 0
    wall: float = 0.0
    cpu: float = 0.0         # server process (engine) or all script processes (pyst2), seconds
    client_cpu: float = 0.0  # this process: the synthetic Asterisk side
    overflows: int = 0       # connections the kernel dropped from a full listen queue


class AsteriskSide(asyncio.Protocol, asyncio.SubprocessProtocol):
    """One AGI session seen from Asterisk, over TCP (FastAGI) or a child's pipes (AGI)."""

    def __init__(self, stats: Stats, uid: int, closed: asyncio.Future[None], prompt_s: float) -> None:
        self.stats, self.uid, self.closed, self.prompt_s = stats, uid, closed, prompt_s
        self.write: Callable[[bytes], None] = lambda data: None
        self.buffer, self.first, self.done = b"", True, False
        self.sent_at = time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pipe = getattr(transport, "get_pipe_transport", None)
        self.write = (pipe(0) if pipe else transport).write  # type: ignore[union-attr]
        self.write(HEADERS.format(uid=self.uid).encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()  # once per read: lines of one read arrived together
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            (self.stats.start if self.first else self.stats.cmd).append(now - self.sent_at)
            self.first, self.done = False, self.done or b"CE_IVR_DONE" in line
            if self.prompt_s and line.startswith((b"STREAM FILE", b"WAIT FOR DIGIT")):
                # Random lengths, so that 200 callers do not answer in lockstep bursts.
                length = random.uniform(0.5, 1.5) * self.prompt_s
                asyncio.get_running_loop().call_later(length, self.answer, line)
            else:
                self.answer(line)
                now = self.sent_at

    def answer(self, line: bytes) -> None:
        self.write(reply(line))
        self.sent_at = time.perf_counter()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:  # the script's stdout; its stderr (pyst2's chatter) goes to /dev/null
            self.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


Session = Callable[[Stats, int], Awaitable[bool]]


def fastagi_session(port: int, prompt_s: float = 0.0) -> Session:
    async def run(stats: Stats, uid: int) -> bool:
        loop = asyncio.get_running_loop()
        side = AsteriskSide(stats, uid, loop.create_future(), prompt_s)
        transport, _ = await loop.create_connection(lambda: side, "127.0.0.1", port)
        await side.closed  # the engine hangs up after CE_IVR_DONE
        transport.close()
        return side.done
    return run


async def pyst2_session(stats: Stats, uid: int) -> bool:
    loop = asyncio.get_running_loop()
    side = AsteriskSide(stats, uid, loop.create_future(), 0.0)
    transport, _ = await loop.subprocess_exec(
        lambda: side, sys.executable, str(SCRIPT), str(IVR_CONF),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    await side.closed  # process exited and its pipes closed
    transport.close()
    return side.done and transport.get_returncode() == 0


async def run_level(session: Session, concurrency: int, total: int, cpu: Callable[[], float],
                    stagger: float = 0.0) -> Stats:
    """Closed loop: `concurrency` callers, each starting a new call as soon as the last ends;
    `stagger` spreads their first calls over that many seconds."""
    stats, uids = Stats(), iter(range(total))

    async def caller() -> None:
        await asyncio.sleep(random.uniform(0, stagger))
        for uid in uids:
            stats.sessions += 1
            stats.failed += not await session(stats, uid)

    cpu0, client0, drops0, t0 = cpu(), time.process_time(), listen_overflows(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    stats.wall, stats.cpu = time.perf_counter() - t0, cpu() - cpu0
    stats.client_cpu, stats.overflows = time.process_time() - client0, listen_overflows() - drops0
    return stats


def serve(conn: Connection, log_level: str) -> None:
    """The engine's child process: the real Ivr on the real FastAgiServer, as app.py wires them."""
    from callengine.audio.prompts import durations
    from callengine.ivr.config import load_ivr
    from callengine.ivr.flow import Ivr
    from callengine.core.logs import setup_logging
    from callengine.telephony.fastagi import FastAgiServer

    with contextlib.redirect_stderr(open(os.devnull, "w")):  # noqa: SIM115
        setup_logging(log_level)  # the daemon's JSON logs, to /dev/null instead of a journal
    annotated: list[str | None] = []

    pranksters: set[str] = set()

    async def is_prank(caller: str) -> bool:  # the ticket store's lookup, in memory
        return caller in pranksters

    def annotate(linkedid: str, **notes: object) -> None:
        annotated.append(notes.get("category"))  # type: ignore[arg-type]

    async def main() -> None:
        ivr = Ivr(load_ivr(IVR_CONF), "id", durations(ROOT / "sounds"), is_prank, annotate)
        server = FastAgiServer("127.0.0.1", 0, {"ivr": ivr})
        await server.start()
        conn.send(server.port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop()
        conn.send((server.sessions_served, annotated.count("kebakaran")))

    asyncio.run(main())


def process_cpu(pid: int) -> Callable[[], float]:
    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return read


def listen_overflows() -> int:
    # TcpExt ListenOverflows of this network namespace: each costs the caller a 1 s SYN retry.
    names, values = Path("/proc/net/netstat").read_text().splitlines()[:2]
    return int(dict(zip(names.split(), values.split()))["ListenOverflows"])


def children_cpu() -> float:  # every reaped script process
    return os.times().children_user + os.times().children_system


def ms(values: list[float], q: int) -> str:
    return f"{statistics.quantiles(values, n=100)[q - 1] * 1000:.2f}" if len(values) > 1 else "-"


def row(name: str, c: int, s: Stats) -> str:
    per = 1000 / s.sessions
    return (f"| {name} | {c} | {s.sessions} | {s.failed} | {s.sessions / s.wall:.0f} | "
            f"{ms(s.start, 50)} | {ms(s.start, 99)} | {ms(s.cmd, 50)} | {ms(s.cmd, 99)} | "
            f"{s.cpu * per:.2f} | {s.client_cpu * per:.2f} | {s.overflows} |")


async def bench(args: argparse.Namespace, port: int, server_cpu: Callable[[], float]) -> list[str]:
    lines = ["| side | concurrent | sessions | failed | sessions/s | start p50 ms | start p99 ms "
             "| cmd p50 ms | cmd p99 ms | CPU ms/session | client CPU ms/session | listen overflows |",
             "|" + " --- |" * 12]
    engine = fastagi_session(port)
    rates: dict[tuple[str, int], float] = {}
    await run_level(engine, 10, 200, server_cpu)  # warm-up: imports, caches, first accepts
    runs = [(name, session, c, total, cpu, 0.0) for c in args.concurrency for name, session, total, cpu in (
        ("engine", engine, args.sessions, server_cpu),
        ("pyst2", pyst2_session, args.baseline_sessions, children_cpu))]
    if args.prompt_ms:  # a call plays three prompts: stagger the first calls over one call
        runs.append((f"engine, prompts {args.prompt_ms} ms", fastagi_session(port, args.prompt_ms / 1000),
                     max(args.concurrency), args.paced_sessions, server_cpu, 3 * args.prompt_ms / 1000))
    for name, session, c, total, cpu, stagger in runs:
        print(f"{name}: {max(total, c)} sessions, {c} concurrent", file=sys.stderr)
        stats = await run_level(session, c, max(total, c), cpu, stagger)
        rates[name, c] = stats.sessions / stats.wall
        lines.append(row(name, c, stats))
    lines += [f"engine/pyst2 sessions/s at {c} concurrent: {rates['engine', c] / rates['pyst2', c]:.1f}x"
              for c in args.concurrency]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--sessions", type=int, default=3000, help="engine calls per level")
    parser.add_argument("--baseline-sessions", type=int, default=300, help="pyst2 calls per level")
    parser.add_argument("--prompt-ms", type=int, default=500,
                        help="extra engine run where each prompt lasts this long (0: skip)")
    parser.add_argument("--paced-sessions", type=int, default=1000, help="calls in that run")
    parser.add_argument("--log-level", default="INFO", help="engine log level (INFO as deployed)")
    args = parser.parse_args()
    ours, theirs = mp.Pipe()
    server = mp.Process(target=serve, args=(theirs, args.log_level), daemon=True)
    server.start()
    port = ours.recv()
    lines = asyncio.run(bench(args, port, process_cpu(server.pid or 0)))
    ours.send("stop")
    served, kebakaran = ours.recv()
    server.join()
    print("\n".join(lines))
    print(f"engine served {served} sessions (warm-up included), {kebakaran} annotated as kebakaran")


if __name__ == "__main__":
    main()
