"""AmiClient against a fake Asterisk Manager over real TCP on 127.0.0.1 (no mocks of panoramisk)."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import suppress
from typing import Any

import pytest
import pytest_asyncio

from callengine.telephony.ami import AmiClient, AmiError, ConnectHandler, EventHandler

LOGGER = "callengine.telephony.ami"
STEP = 3.0  # bound on any single wait, so a regression fails instead of hanging
USER, SECRET = "callengine", "rahasia-112"
FAST = {"action_timeout": 0.5, "ping_interval": 60.0, "backoff_initial": 0.01, "backoff_max": 0.05}
SLACK = 0.005  # a timer may fire this early; lower bounds on gaps allow for it

Fields = dict[str, str]
NEWCHANNEL: Fields = {
    "Event": "Newchannel", "Privilege": "call,all", "Channel": "PJSIP/trunk-00000001",
    "ChannelState": "0", "ChannelStateDesc": "Down", "CallerIDNum": "+6281234567890",
    "Exten": "112", "Context": "emergency", "Uniqueid": "1712345678.1", "Linkedid": "1712345678.1",
}
HANGUP: Fields = {
    "Event": "Hangup", "Privilege": "call,all", "Channel": "PJSIP/trunk-00000001",
    "Uniqueid": "1712345678.1", "Linkedid": "1712345678.1", "Cause": "16",
    "Cause-txt": "Normal Clearing",
}
SHUTDOWN: Fields = {"Event": "Shutdown", "Privilege": "system,all", "Shutdown": "Cleanly",
                    "Restart": "True"}


class Signal:
    """Pokes from the fake server, the handlers and the log wake waiters; every wait is bounded."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def poke(self) -> None:
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = STEP) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


class PokeOnLog(logging.Handler):
    def __init__(self, signal: Signal) -> None:
        super().__init__(logging.DEBUG)
        self.signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        self.signal.poke()


def frame(fields: Mapping[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


def parse(raw: bytes) -> Fields:
    lines = raw.decode().split("\r\n")
    return dict(line.split(": ", 1) for line in lines if ": " in line)


class Session:
    """One TCP connection as the fake server sees it."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.actions: list[Fields] = []
        self.authenticated = False
        self.pings = 0
        self.ended = False  # the link is gone (closed by either side)

    def send(self, fields: Mapping[str, str]) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(fields))


class FakeAmi:
    """The Asterisk side: banner, Login, Ping, a few actions, events on demand, drops on demand."""

    def __init__(self, signal: Signal, secret: str = SECRET) -> None:
        self.signal = signal
        self.secret = secret
        self.ping_replies = "pong"  # or "silent" (no reply, TCP stays up) or "error"
        self.silent: set[str] = set()  # actions (Login included) that get no answer at all
        self.drop_after_login = False
        self.sessions: list[Session] = []
        self.logins: list[float] = []  # loop time of every Login received
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        self.drop()
        await self.server.wait_closed()
        if self.handlers:  # let each connection end by itself: a cancelled one logs a traceback
            await asyncio.wait_for(asyncio.wait(self.handlers), STEP)

    def live(self) -> list[Session]:
        return [s for s in self.sessions if s.authenticated and not s.ended]

    def push(self, event: Mapping[str, str]) -> None:
        """Send an event to every logged-in connection, as Asterisk does."""
        for session in self.live():
            session.send(event)

    def drop(self) -> None:
        for session in self.sessions:
            session.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer)
        self.sessions.append(session)
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        writer.write(b"Asterisk Call Manager/5.0.2\r\n")
        try:
            while True:
                action = parse(await reader.readuntil(b"\r\n\r\n"))
                session.actions.append(action)
                self._answer(session, action)
                self.signal.poke()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            session.ended = True
            writer.close()
            self.signal.poke()

    def _answer(self, session: Session, action: Fields) -> None:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        ok = {"Response": "Success", "ActionID": action_id}
        if name == "Login":
            self.logins.append(asyncio.get_running_loop().time())
        if name == "Ping":
            session.pings += 1
        if name in self.silent or (name == "Ping" and self.ping_replies == "silent"):
            return
        if name == "Login":
            if action.get("Username") != USER or action.get("Secret") != self.secret:
                session.send({"Response": "Error", "ActionID": action_id,
                              "Message": "Authentication failed"})
                session.writer.close()  # Asterisk ends the session after a failed login
                return
            session.authenticated = True
            session.send({**ok, "Message": "Authentication accepted"})
            session.send({"Event": "FullyBooted", "Privilege": "system,all", "Uptime": "42",
                          "LastReload": "42", "Status": "Fully Booted"})
            if self.drop_after_login:
                session.writer.close()
        elif name == "Ping" and self.ping_replies == "pong":
            session.send({**ok, "Ping": "Pong", "Timestamp": "1712345678.000000"})
        elif name == "QueueAdd":
            session.send({**ok, "Message": "Added interface to queue"})
        elif name == "CoreShowChannels":
            session.send({**ok, "EventList": "start", "Message": "Channels will follow"})
            session.send({"Event": "CoreShowChannel", "ActionID": action_id,
                          "Channel": "PJSIP/trunk-00000001", "Linkedid": "1712345678.1"})
            session.send({"Event": "CoreShowChannelsComplete", "ActionID": action_id,
                          "EventList": "Complete", "ListItems": "1"})
        else:
            session.send({"Response": "Error", "ActionID": action_id,
                          "Message": "Invalid/unknown command"})


class Harness:
    """One running AmiClient and what its callbacks saw."""

    def __init__(self, signal: Signal, port: int, on_event: EventHandler | None,
                 on_connected: ConnectHandler | None, options: Mapping[str, float]) -> None:
        self.signal = signal
        self.events: list[dict[str, str]] = []
        self.connects = 0
        self.client = AmiClient("127.0.0.1", port, USER, SECRET,
                                on_event=on_event or self.on_event,
                                on_connected=on_connected or self.on_connected,
                                **{**FAST, **options})
        self.task = asyncio.create_task(self.client.run())

    async def on_event(self, event: dict[str, str]) -> None:
        self.events.append(event)
        self.signal.poke()

    async def on_connected(self) -> None:
        self.connects += 1
        self.signal.poke()

    def named(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name]

    async def act(self, fields: Fields, **options: Any) -> Any:
        """client.action bounded by STEP, so a missing timeout fails instead of hanging."""
        return await asyncio.wait_for(self.client.action(fields, **options), STEP)

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            # anything but a cancellation (run() died on its own) fails the test
            await asyncio.wait_for(self.task, STEP)


Start = Callable[..., Harness]


@pytest.fixture
def signal() -> Iterator[Signal]:
    signal = Signal()
    handler = PokeOnLog(signal)
    logging.getLogger(LOGGER).addHandler(handler)
    yield signal
    logging.getLogger(LOGGER).removeHandler(handler)


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


@pytest_asyncio.fixture
async def ami(signal: Signal) -> AsyncIterator[FakeAmi]:
    server = FakeAmi(signal)
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def start(signal: Signal) -> AsyncIterator[Start]:
    running: list[Harness] = []

    def make(port: int, *, on_event: EventHandler | None = None,
             on_connected: ConnectHandler | None = None, **options: float) -> Harness:
        harness = Harness(signal, port, on_event, on_connected, options)
        running.append(harness)
        return harness

    yield make
    for harness in running:
        await harness.stop()


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def messages(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if part in r.getMessage()]


def assert_backs_off(times: list[float], initial: float, most: float) -> None:
    """Gaps between attempts are at least the doubling backoff: a spinning client fails this."""
    least = initial
    for earlier, later in zip(times, times[1:]):
        assert later - earlier >= least - SLACK, f"attempts at {times} retry faster than {least}s"
        least = min(least * 2, most)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def connected(harness: Harness, signal: Signal, times: int = 1) -> None:
    await asyncio.wait_for(harness.client.connected.wait(), STEP)
    await signal.until(lambda: harness.connects >= times, f"on_connected #{times}")


@pytest.mark.asyncio
async def test_connects_logs_in_and_delivers_events(ami: FakeAmi, start: Start, signal: Signal,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    run = start(ami.port)
    await connected(run, signal)
    assert run.client.last_error is None
    [session] = ami.sessions
    login = session.actions[0]
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == (
        "Login", USER, SECRET, "on")

    ami.push(NEWCHANNEL)
    ami.push(HANGUP)
    await signal.until(lambda: len(run.named("Hangup")) == 1, "the Hangup event")
    # exactly the headers Asterisk sent, as plain dicts, in order (FullyBooted came with the login)
    assert run.events == [run.named("FullyBooted")[0], NEWCHANNEL, HANGUP]
    assert all(type(event) is dict for event in run.events)
    assert run.connects == 1 and len(ami.logins) == 1
    assert not errors(caplog)


@pytest.mark.asyncio
async def test_events_split_across_reads_with_empty_values_and_colons_arrive_whole(
        ami: FakeAmi, start: Start, signal: Signal) -> None:
    run = start(ami.port)
    await connected(run, signal)
    [session] = ami.live()
    odd = {**NEWCHANNEL, "CallerIDName": "", "Exten": "s", "AccountCode": "a: b", "Uniqueid": "1712345678.2"}
    raw = frame(odd) + frame(HANGUP)
    for cut in (7, len(frame(odd)) - 2, len(frame(odd)) + 9):   # mid-key, mid-separator, mid-second
        session.writer.write(raw[:cut])
        await session.writer.drain()
        await asyncio.sleep(0.01)   # wait-ok: lets the first part arrive as its own read, which is the case tested
        session.writer.write(raw[cut:])
        await session.writer.drain()
    await signal.until(lambda: len(run.named("Hangup")) == 3, "three Hangup events")
    assert run.named("Newchannel") == [odd] * 3 and run.named("Hangup") == [HANGUP] * 3


@pytest.mark.asyncio
async def test_raising_handlers_do_not_drop_the_connection(ami: FakeAmi, start: Start, signal: Signal,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, str]] = []

    async def on_event(event: dict[str, str]) -> None:
        if event["Event"] == "Newchannel":
            raise RuntimeError("tracker bug")
        seen.append(event)
        signal.poke()

    async def on_connected() -> None:
        signal.poke()
        raise RuntimeError("sweep bug")

    run = start(ami.port, on_event=on_event, on_connected=on_connected)
    await asyncio.wait_for(run.client.connected.wait(), STEP)
    await signal.until(lambda: len(errors(caplog)) == 1, "the on_connected error")
    ami.push(NEWCHANNEL)
    ami.push(HANGUP)
    await signal.until(lambda: any(e["Event"] == "Hangup" for e in seen), "the event after the bad one")
    await signal.until(lambda: len(errors(caplog)) == 2, "the handler error")

    assert run.client.connected.is_set()
    assert len(ami.logins) == 1 and not ami.sessions[0].ended
    first, second = errors(caplog)
    assert first.getMessage() == "AMI on_connected failed" and first.exc_info is not None
    assert second.getMessage() == "AMI event handler failed" and second.exc_info is not None
    assert str(second.exc_info[1]) == "tracker bug"
    # the link still carries actions too
    reply = await run.act({"Action": "QueueAdd", "Queue": "112", "Interface": "PJSIP/taker1"})
    assert reply["Response"] == "Success"


@pytest.mark.asyncio
async def test_actions_return_replies_and_time_out(ami: FakeAmi, start: Start, signal: Signal) -> None:
    async def ignore(event: dict[str, str]) -> None:
        pass

    idle = AmiClient("127.0.0.1", ami.port, USER, SECRET, on_event=ignore)
    with pytest.raises(AmiError, match="AMI is not connected"):
        await idle.action({"Action": "Ping"})

    run = start(ami.port, action_timeout=0.6)
    await connected(run, signal)
    # QueueAdd's "Added interface to queue" makes bare panoramisk wait for a list for ever
    reply = await run.act({"Action": "QueueAdd", "Queue": "112", "Interface": "PJSIP/taker1"})
    assert (reply["Response"], reply["Message"]) == ("Success", "Added interface to queue")
    listing = await run.act({"Action": "CoreShowChannels"}, as_list=True)
    assert [m.get("Event") or m.get("Response") for m in listing] == [
        "Success", "CoreShowChannel", "CoreShowChannelsComplete"]
    unknown = await run.act({"Action": "Nope"})
    assert (unknown["Response"], unknown["Message"]) == ("Error", "Invalid/unknown command")
    began = asyncio.get_running_loop().time()
    with pytest.raises(AmiError, match="^AMI action Nope failed: Invalid/unknown command$"):
        await run.act({"Action": "Nope"}, as_list=True)    # a list action refused: at once, not a timeout
    assert asyncio.get_running_loop().time() - began < 0.6

    ami.silent.add("Originate")
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(AmiError, match=r"^AMI action Originate timed out$"):
        await run.act({"Action": "Originate", "Channel": "PJSIP/taker1"})
    assert loop.time() - began >= 0.6 - SLACK
    began = loop.time()
    with pytest.raises(AmiError, match="timed out"):
        await run.act({"Action": "Originate", "Channel": "PJSIP/taker1"}, timeout=0.05)
    assert 0.05 - SLACK <= loop.time() - began < 0.6  # the per-call timeout wins over the default

    # an unanswered action is not a dead link
    assert run.client.connected.is_set() and len(ami.logins) == 1
    assert (await run.act({"Action": "Ping"}))["Ping"] == "Pong"


@pytest.mark.asyncio
async def test_refused_login_retries_with_backoff(ami: FakeAmi, start: Start, signal: Signal,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    ami.secret = "another-secret"
    run = start(ami.port, backoff_initial=0.05, backoff_max=0.2)
    await signal.until(lambda: len(ami.logins) >= 5, "five login attempts")

    assert not run.client.connected.is_set() and run.connects == 0
    assert run.client.last_error == f"AMI login refused for user {USER!r}: Authentication failed"
    # 0.05 + 0.1 + 0.2 + 0.2 s at least between the first and fifth attempt: bounded, no spinning
    assert_backs_off(ami.logins, 0.05, 0.2)
    assert ami.logins[4] - ami.logins[0] >= 0.55 - SLACK
    assert len(messages(caplog, "login refused")) == 1  # logged when it changes, not per attempt

    ami.secret = SECRET  # the admin fixes manager.conf: the next attempt gets in
    await connected(run, signal)
    assert run.client.last_error is None


@pytest.mark.asyncio
async def test_unanswered_login_times_out_and_retries(ami: FakeAmi, start: Start, signal: Signal,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    ami.silent.add("Login")
    run = start(ami.port, action_timeout=0.1)
    await signal.until(lambda: len(ami.logins) >= 2 and ami.sessions[0].ended, "a second attempt")
    assert run.client.last_error == f"no answer from 127.0.0.1:{ami.port} within 0.1s"
    assert not run.client.connected.is_set()
    ami.silent.clear()
    await connected(run, signal)
    assert not errors(caplog)  # no tracebacks from panoramisk's login callback either


@pytest.mark.asyncio
async def test_reconnects_after_the_server_drops(ami: FakeAmi, start: Start, signal: Signal,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    run = start(ami.port)
    await connected(run, signal)
    ami.drop()
    await connected(run, signal, times=2)
    await signal.until(lambda: len(ami.live()) == 1, "the new session")

    assert [s.ended for s in ami.sessions] == [True, False]
    assert messages(caplog, "AMI connection lost; reconnecting")
    ami.push(NEWCHANNEL)
    await signal.until(lambda: run.named("Newchannel") == [NEWCHANNEL], "an event on the new link")
    assert run.client.last_error is None and run.client.connected.is_set()
    assert not errors(caplog)


@pytest.mark.asyncio
async def test_flapping_server_is_retried_with_backoff(ami: FakeAmi, start: Start, signal: Signal) -> None:
    """A server that accepts the login and hangs up at once must not be hammered in a loop."""
    ami.drop_after_login = True
    run = start(ami.port, backoff_initial=0.05, backoff_max=0.2)
    await signal.until(lambda: len(ami.logins) >= 4, "four logins")
    assert_backs_off(ami.logins, 0.05, 0.2)
    ami.drop_after_login = False
    await signal.until(lambda: len(ami.live()) == 1, "a link that stays")
    await connected(run, signal, times=len(ami.logins))


@pytest.mark.asyncio
@pytest.mark.parametrize(("pings", "reason"), [
    ("silent", "AMI action Ping timed out"), ("error", "unexpected ping reply")])
async def test_watchdog_closes_a_dead_link_and_reconnects(ami: FakeAmi, start: Start, signal: Signal,
                                                          caplog: pytest.LogCaptureFixture,
                                                          pings: str, reason: str) -> None:
    ami.ping_replies = pings
    run = start(ami.port, ping_interval=0.1, action_timeout=0.2)
    await connected(run, signal)
    # the server never closes here, so an ended session means the client hung up
    await signal.until(lambda: ami.sessions[0].ended, "the client to close the dead link")
    assert ami.sessions[0].pings >= 1
    assert messages(caplog, f"AMI ping failed ({reason}")

    ami.ping_replies = "pong"
    await connected(run, signal, times=2)
    # the new link is healthy: answered pings keep it up
    await signal.until(lambda: len(ami.sessions) == 2 and ami.sessions[1].pings >= 3, "three pings")
    assert len(ami.logins) == 2 and not ami.sessions[1].ended
    assert run.client.connected.is_set()


@pytest.mark.asyncio
async def test_waits_for_a_server_that_is_not_there_yet(signal: Signal, start: Start) -> None:
    port = closed_port()
    run = start(port)
    await signal.until(lambda: run.client.last_error is not None, "the first failure")
    assert run.client.last_error == f"connection refused at 127.0.0.1:{port} (is Asterisk running?)"
    assert not run.client.connected.is_set()

    late = FakeAmi(signal)
    await late.start(port)
    try:
        await connected(run, signal)
        assert run.client.last_error is None
        assert len(late.logins) == 1
    finally:
        await run.stop()
        await late.stop()


@pytest.mark.asyncio
async def test_shutdown_event_is_a_lost_connection(ami: FakeAmi, start: Start, signal: Signal) -> None:
    run = start(ami.port)
    await connected(run, signal)
    ami.push(SHUTDOWN)  # and keep the TCP link open: the event alone must trigger the reconnect
    await signal.until(lambda: ami.sessions[0].ended, "the client to close after Shutdown")
    await connected(run, signal, times=2)
    ami.push(NEWCHANNEL)
    await signal.until(lambda: run.named("Newchannel") == [NEWCHANNEL], "an event on the new link")
    assert len(ami.logins) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("stage", ["logged in", "waiting for the login reply"])
async def test_cancelling_run_closes_the_link(ami: FakeAmi, start: Start, signal: Signal,
                                              caplog: pytest.LogCaptureFixture, stage: str) -> None:
    if stage != "logged in":
        ami.silent.add("Login")
    run = start(ami.port, action_timeout=2.0)
    await signal.until(lambda: len(ami.logins) == 1, "the login")
    if stage == "logged in":
        await connected(run, signal)
    await run.stop()
    await signal.until(lambda: ami.sessions[0].ended, "the client to hang up")
    assert run.client.manager is None and not run.client.connected.is_set()
    assert not errors(caplog)
