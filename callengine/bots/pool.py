"""Call-taker bots for tests, drills and benchmarks, spread over processes: this pjsua build holds 8 accounts and
4 call legs per process, so each process runs at most 4 takers, one call each at a time.

Every taker answers after `answer_delay` (sending 180 first, so Asterisk sees the phone ring),
talks for a random time within `talk_s`, then hangs up. Random, because a fixed talk time
locks the takers into step with the queue's 1 s retry timer and hides its spread.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callengine.bots.softphone import CallTaker

PER_PROCESS = 4  # PJSUA_MAX_CALLS of the wheel: 4 takers with one call each


@dataclass(frozen=True)
class Behaviour:
    registrar: str        # "127.0.0.1:port" of Asterisk
    answer_delay: float   # seconds between 180 Ringing and 200 OK
    talk_s: tuple[float, float]  # range of seconds between 200 OK and the taker's BYE


def take_calls(taker: CallTaker, talk_s: tuple[float, float], stop: threading.Event, answered: list[int]) -> None:
    """One taker's loop: each call is answered by the bot itself, held a while, then hung up."""
    from callengine.bots.softphone import CallEnded

    while not stop.is_set():
        try:
            call = taker.wait_call(0.2)
        except TimeoutError:
            continue
        try:
            call.wait_state("confirmed", 10)
            answered[0] += 1
            stop.wait(random.uniform(*talk_s))  # the conversation: a hold, not a wait for an event
            call.hangup()
            call.wait_state("disconnected", 10)
        except (CallEnded, TimeoutError):
            continue  # the far end hung up first (baseline dials end at answer)


def serve(accounts: list[tuple[str, str]], behaviour: Behaviour, conn: Connection) -> None:
    """A worker process: register its takers, report, answer calls until told to stop."""
    from callengine.bots.softphone import SipBots

    with SipBots(log_level=0) as bots:  # quiet: several processes try the same RTP ports first
        takers = [bots.call_taker(account, password, behaviour.registrar,
                                  answer_delay=behaviour.answer_delay) for account, password in accounts]
        for taker in takers:
            taker.wait_registered(15)
        stop, counts = threading.Event(), [[0] for _ in takers]
        loops = [threading.Thread(target=take_calls, args=(t, behaviour.talk_s, stop, c), daemon=True)
                 for t, c in zip(takers, counts)]
        for loop in loops:
            loop.start()
        conn.send("registered")
        conn.recv()  # until told to stop
        stop.set()
        for loop in loops:
            loop.join(15)
        for taker in takers:
            taker.close()
    conn.send({t.account: c[0] for t, c in zip(takers, counts)})


@dataclass
class Worker:
    proc: mp.process.BaseProcess
    conn: Connection
    accounts: list[str]


class TakerPool:
    """Worker processes (spawned, so none inherits this process's threads or sockets)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.workers: list[Worker] = []
        self.answered: dict[str, int] = {}  # calls answered per account, of stopped workers
        self.context = mp.get_context("spawn")

    def add(self, accounts: list[tuple[str, str]]) -> list[Worker]:
        """Start processes for these (account, password) pairs; return once all registered."""
        started = []
        for i in range(0, len(accounts), PER_PROCESS):
            group = accounts[i:i + PER_PROCESS]
            ours, theirs = self.context.Pipe()
            proc = self.context.Process(target=serve, args=(group, self.behaviour, theirs), daemon=True)
            proc.start()
            started.append(Worker(proc, ours, [account for account, _ in group]))
        self.workers += started
        for worker in started:
            wait([worker.conn, worker.proc.sentinel], 30)
            if not worker.conn.poll():
                raise RuntimeError(f"taker worker {worker.proc.pid} did not register within 30 s "
                                   f"(exit code {worker.proc.exitcode})")
            worker.conn.recv()
        return started

    def stop(self, workers: list[Worker]) -> None:
        """Hang up, unregister and end these workers (their takers log off)."""
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send("stop")
        for worker in workers:
            with contextlib.suppress(OSError, EOFError):
                if worker.conn.poll(30):
                    self.answered.update(worker.conn.recv())
            worker.proc.join(10)
            if worker.proc.is_alive():
                worker.proc.kill()
            self.workers.remove(worker)

    def close(self) -> dict[str, int]:
        """Stop every worker; calls answered per account over the pool's life."""
        self.stop(list(self.workers))
        return self.answered
