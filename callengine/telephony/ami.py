"""AMI client on panoramisk, wrapped against its known traps.

panoramisk 1.4 alone: a raising sync callback drops the connection, actions have no
timeout, ping never checks its reply, replies to some actions never resolve unless
`as_list` is explicit, and reconnects run at a fixed pace. Here: one async dispatcher that
never raises into panoramisk, `wait_for` on every action, a ping watchdog that closes a
silent connection, and our own reconnect loop with exponential backoff.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message
from panoramisk.utils import EOL

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, str]], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class AmiError(Exception):
    pass


class _Protocol(AMIProtocol):
    """panoramisk's protocol, with plain events read straight into dicts.

    An event is most of what AMI sends; panoramisk builds a case-insensitive Message for each
    (a Python method call per header), and the engine copied it back into a dict: a third of
    the engine's AMI time. Replies to actions, and events that carry an ActionID (list
    entries, OriginateResponse), still go through panoramisk as before."""

    def data_received(self, data: bytes) -> None:
        text = data.decode("ascii", "ignore")     # as panoramisk decodes
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            self.version = text.partition(EOL)[0].partition("/")[2].strip()
        if self.queue:
            text = self.queue.popleft() + text
        blocks = text.split(EOL + EOL)
        self.queue.append(blocks.pop())
        for block in blocks:
            block = block.strip()
            if block.startswith("Event: ") and "ActionID: " not in block and not block.startswith("Event: Shutdown"):
                self.factory.plain_event(_headers(block))
                continue
            message = Message.from_line(block)
            if message is not None:
                self.handle_message(message)


def _headers(block: str) -> dict[str, str]:
    """An AMI message's "Key: value" lines (a value may be empty, or hold ": " itself)."""
    headers: dict[str, str] = {}
    for line in block.split(EOL):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key] = value
    return headers


class _Manager(Manager):
    """panoramisk's Manager with its own reconnect and pinger switched off: AmiClient does both."""

    def __init__(self, lost: asyncio.Future[None], plain_event: Callable[[dict[str, str]], Awaitable[None]],
                 **config: Any) -> None:
        super().__init__(protocol_factory=_Protocol, **config)
        self._lost = lost
        self._plain_event = plain_event

    def plain_event(self, event: dict[str, str]) -> None:
        asyncio.ensure_future(self._plain_event(event))   # as panoramisk hands on the events it reads

    def ping(self) -> None:  # the watchdog in AmiClient pings and checks the reply
        self.pinger = None

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # AmiClient.run sees the failure through the connect task
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        if not self._lost.done():
            self._lost.set_result(None)


class AmiClient:
    """A long-lived AMI session: connects, logs in, dispatches events, and reconnects for ever."""

    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 on_event: EventHandler, on_connected: ConnectHandler | None = None,
                 action_timeout: float = 5.0, ping_interval: float = 5.0,
                 backoff_initial: float = 0.2, backoff_max: float = 5.0,
                 events: frozenset[str] | None = None) -> None:
        """With `events`, Asterisk sends this session only those (and replies to actions): the
        rest (VarSet, Newexten, RTCP reports… most of what a call emits) is never parsed here."""
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.events = events
        self.on_event = on_event
        self.on_connected = on_connected
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.manager: _Manager | None = None
        self.connected = asyncio.Event()
        self.last_error: str | None = None

    async def run(self) -> None:
        """Connect and stay connected until cancelled."""
        loop = asyncio.get_running_loop()
        delay = self.backoff_initial
        while True:
            lost: asyncio.Future[None] = loop.create_future()
            try:
                await self._connect(lost)
            except (OSError, AmiError, asyncio.TimeoutError) as exc:
                self._note_failure(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            up_since = loop.time()
            self.last_error = None
            log.info("AMI connected", extra={"ami": f"{self.host}:{self.port}"})
            watchdog = asyncio.create_task(self._watchdog(lost))
            try:
                if self.on_connected is not None:
                    asyncio.create_task(self._guard(self.on_connected(), "on_connected"))
                await lost
            finally:
                watchdog.cancel()
                self.connected.clear()
                self._close()
            log.warning("AMI connection lost; reconnecting", extra={"ami": f"{self.host}:{self.port}"})
            # a link that dies young counts as a failed attempt: a server that accepts the login
            # and hangs up at once (or sends Shutdown) must not be hammered in a tight loop
            if loop.time() - up_since >= self.backoff_max:
                delay = self.backoff_initial
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _connect(self, lost: asyncio.Future[None]) -> None:
        manager = _Manager(lost, self._guarded_event, host=self.host, port=self.port, username=self.username,
                           secret=self.secret, events="on", ping_delay=3600,
                           loop=asyncio.get_running_loop())
        manager.register_event("*", self._dispatch)
        self.manager = manager
        try:
            await asyncio.wait_for(manager.connect(), self.action_timeout)
            await asyncio.sleep(0)  # let panoramisk's connection_made callback send the Login
            login = manager.authenticated_future
            if login is None:
                raise AmiError("AMI login was not sent")
            # shielded: cancelling the future makes panoramisk's own login callback raise
            reply = await asyncio.wait_for(asyncio.shield(login), self.action_timeout)
        except BaseException:
            self._close()  # a failed or cancelled attempt must not leave a half-open socket behind
            raise
        if not reply.success:
            self._close()
            raise AmiError(f"AMI login refused for user {self.username!r}: {reply.get('Message', 'no reason')}")
        self.connected.set()
        if self.events:
            await self._filter_events(self.events)

    async def _filter_events(self, names: frozenset[str]) -> None:
        """A per-session whitelist (AMI's Filter action): one regex over the event's first line."""
        pattern = f"^Event: ({'|'.join(sorted(names))})[[:space:]]"
        try:
            reply = await self.action({"Action": "Filter", "Operation": "Add", "Filter": pattern})
        except AmiError as exc:
            reply = {"Message": str(exc)}
        if reply.get("Response") != "Success":   # every event then: more work, nothing lost
            log.warning("AMI event filter refused: %s", reply.get("Message", "no reason"))

    def _note_failure(self, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, ConnectionRefusedError):
            message = f"connection refused at {self.host}:{self.port} (is Asterisk running?)"
        elif isinstance(exc, asyncio.TimeoutError):
            message = f"no answer from {self.host}:{self.port} within {self.action_timeout}s"
        if message != self.last_error:
            log.warning("AMI unavailable: %s", message)
        self.last_error = message
        self._close()

    def _close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            self.manager = None

    def _dispatch(self, manager: Manager, message: Message) -> Awaitable[None]:
        """panoramisk calls this synchronously: hand back a coroutine so nothing raises in its reader."""
        # panoramisk adds a 'content' key (the body of a Follows response) that Asterisk never sent
        event = {key: value for key, value in message.items() if key != "content"}
        return self._guarded_event(event)

    def _guarded_event(self, event: dict[str, str]) -> Awaitable[None]:
        return self._guard(self.on_event(event), "event handler")

    async def _guard(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception:
            log.exception("AMI %s failed", what)

    async def _watchdog(self, lost: asyncio.Future[None]) -> None:
        """Ping on a schedule; a missing or wrong reply means the link is dead even if TCP is up."""
        while not lost.done():
            await asyncio.sleep(self.ping_interval)
            try:
                reply = await self.action({"Action": "Ping"})
                if reply.get("Response") != "Success":
                    raise AmiError(f"unexpected ping reply {reply!r}")
            except (AmiError, asyncio.TimeoutError) as exc:
                log.warning("AMI ping failed (%s); closing the connection", exc)
                if not lost.done():
                    lost.set_result(None)
                return

    async def action(self, fields: Mapping[str, str], *, as_list: bool = False,
                     timeout: float | None = None) -> Any:
        """Send one action and wait for its reply (a list of messages with as_list=True).

        List actions go to panoramisk with as_list=None: it then waits for the event list only
        when Asterisk announces one, so an Error reply (unknown action while Asterisk boots)
        resolves at once instead of hanging until the timeout.
        """
        manager = self.manager
        if manager is None or not self.connected.is_set():
            raise AmiError("AMI is not connected")
        future = manager.send_action(dict(fields), as_list=None if as_list else False)
        try:
            async with asyncio.timeout(timeout or self.action_timeout):  # wait_for may swallow a cancel
                reply = await future
        except TimeoutError:
            raise AmiError(f"AMI action {fields.get('Action')} timed out") from None
        if as_list and not isinstance(reply, list):
            if reply.get("Response") != "Success":
                raise AmiError(f"AMI action {fields.get('Action')} failed: {reply.get('Message', 'no reason')}")
            reply = [reply]
        return reply


@asynccontextmanager
async def ami_session(host: str, port: int, username: str, secret: str,
                      timeout: float = 5.0) -> AsyncIterator[AmiClient]:
    """A short AMI session for one command-line action; AmiError if no login within `timeout`."""
    async def ignore(event: dict[str, str]) -> None:
        pass

    client = AmiClient(host, port, username, secret, on_event=ignore, action_timeout=timeout)
    task = asyncio.create_task(client.run())
    try:
        try:
            await asyncio.wait_for(client.connected.wait(), timeout)
        except asyncio.TimeoutError:
            raise AmiError(f"no AMI session with Asterisk: {client.last_error or 'no answer'}") from None
        yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
