"""FastAGI server on asyncio streams, hardened against probes, slow peers, huge lines and hangups.

panoramisk's fast_agi reads until it sees a blank line and never checks for EOF, so a TCP
health probe that closes at once makes it spin on b'' forever and freezes the event loop.
Here every read is bounded in size (max_line) and in time (header_timeout, command_timeout),
and EOF is an outcome, never a retry.

Asterisk treats a FastAGI socket that closes as AGISTATUS=SUCCESS, whatever happened, so a
handler that wants the dialplan to know it finished must say so with a channel variable.
"""
from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_HEADERS = 512          # Asterisk sends ~25 headers plus one per AGI argument (at most 128)
MAX_COMMAND_BYTES = 2047   # res_agi reads a command into a 2048-byte buffer and splits longer ones
MAX_USAGE_LINES = 200      # a 520 usage text is a few dozen lines; more is a runaway peer
LISTEN_BACKLOG = 1024      # pending connects the kernel may hold for us
CLOSE_TIMEOUT = 2.0        # a peer that never reads must not keep a closed session alive
ESCAPE_DIGITS = frozenset("0123456789*#ABCD")
REJECT_LOG_INTERVAL = 10.0  # a flood of bad connections is one warning line per interval
REJECT_LOG_PEERS = 10       # hosts (and reasons) named in that line; the rest are counted
REJECT_TRACKED = 1000       # distinct hosts (reasons) tallied per interval: a spoofed flood stays small

_STATUS = re.compile(r"(\d{3})([ -])(.*)")
# The value in parentheses may itself contain parentheses: take everything up to the last ')'.
_RESULT = re.compile(r"result=(\S*)(?:\s+\((.*)\))?")


class AgiError(Exception):
    """Asterisk answered a command with 5xx, or the protocol was violated."""


class AgiHangup(AgiError):
    """The channel hung up: a HANGUP line, a 511 result, or EOF mid-command."""


class _Rejected(Exception):
    """A connection that never became a session; the message is the reason we log."""


class _Probe(Exception):
    """The peer closed before sending a single byte: a TCP health check, not an error."""


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: str
    data: str = ""

    @property
    def digit(self) -> str | None:
        """The DTMF digit of STREAM FILE / WAIT FOR DIGIT / GET OPTION, None if none was pressed."""
        try:
            value = int(self.result)
        except ValueError:
            return None
        return chr(value) if 0 < value < 128 else None


def _decode(raw: bytes) -> str:
    # Caller names and variables are untrusted bytes: never let a bad byte end a call.
    return raw.decode("utf-8", "replace").rstrip("\r\n")


def _quote(arg: str) -> str:
    # res_agi's parse_args honours double quotes and backslash escapes, nothing else.
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode_command(line: str) -> bytes:
    if any(c in line for c in "\r\n\0"):
        raise ValueError(f"AGI command must be one line: {line!r}")
    data = line.encode("utf-8") + b"\n"
    if len(data) > MAX_COMMAND_BYTES + 1:
        raise ValueError(f"AGI command longer than {MAX_COMMAND_BYTES} bytes")
    return data


def _script_path(raw: str) -> str:
    # agi://host:port/ivr?x=1 arrives as "ivr?x=1"; handlers are keyed by the bare path.
    return raw.split("?", 1)[0].strip("/")


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def _host(peer: str) -> str:
    return peer.rsplit(":", 1)[0]


class RejectionLog:
    """Rejected connections as few log lines: the first one at once, with its reason; those that
    follow within `interval` as one summary line (count, hosts, reasons) at the interval's end.
    5,000 bad connections in a burst are two lines, not 5,000; a quiet interval resets it."""

    def __init__(self, interval: float = REJECT_LOG_INTERVAL, max_named: int = REJECT_LOG_PEERS) -> None:
        self.interval, self.max_named = interval, max_named
        self._count = 0
        self._hosts: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, peer: str, reason: str) -> None:
        if self._timer is None:  # the first of a burst: say it now, in full
            log.warning("FastAGI session rejected: %s", reason, extra={"peer": peer, "reason": reason})
            self._start_interval()
            return
        self._count += 1
        _tally(self._hosts, _host(peer))
        _tally(self._reasons, reason)

    def flush(self) -> None:
        """The interval's end: log what it counted; a quiet interval ends the burst."""
        self._timer = None
        if self._summarise():
            self._start_interval()

    def close(self) -> None:
        """The server is stopping: log what is counted, start no new interval."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._summarise()

    def _summarise(self) -> bool:
        if not self._count:
            return False
        elapsed = asyncio.get_running_loop().time() - self._since
        log.warning("FastAGI sessions rejected: %d more in %.0f s", self._count, elapsed,
                    extra={"count": self._count, "hosts": self._named(self._hosts),
                           "reasons": self._named(self._reasons),
                           "other_hosts": max(0, len(self._hosts) - self.max_named)})
        self._count = 0
        self._hosts.clear()
        self._reasons.clear()
        return True

    def _start_interval(self) -> None:
        loop = asyncio.get_running_loop()
        self._since = loop.time()
        self._timer = loop.call_later(self.interval, self.flush)

    def _named(self, counts: Counter[str]) -> dict[str, int]:
        return dict(counts.most_common(self.max_named))


def _tally(counts: Counter[str], key: str) -> None:
    if key in counts or len(counts) < REJECT_TRACKED:
        counts[key] += 1


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


class AgiChannel:
    """One FastAGI session."""

    def __init__(self, env: dict[str, str], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, command_timeout: float, max_line: int,
                 peer: str) -> None:
        self.env = env
        self.script = _script_path(env.get("agi_network_script", ""))
        self._reader, self._writer = reader, writer
        self._command_timeout = command_timeout
        self._max_line = max_line
        self._lock = asyncio.Lock()  # one command in flight: replies carry no correlation id
        self._dead: AgiError | None = None  # set once the stream is gone or out of sync
        self.log_extra: dict[str, Any] = {
            "peer": peer, "script": self.script,
            "uniqueid": env.get("agi_uniqueid"), "channel": env.get("agi_channel"),
        }

    async def command(self, line: str, timeout: float | None = None) -> AgiResult:
        """Send one AGI command and return its 200 result; math.inf waits for ever."""
        data = _encode_command(line)
        limit = self._command_timeout if timeout is None else timeout
        async with self._lock:
            if self._dead is not None:
                raise type(self._dead)(*self._dead.args)
            try:
                async with asyncio.timeout(None if math.isinf(limit) else limit):
                    return await self._exchange(data)
            except TimeoutError:
                # A late reply would be taken as the answer to the next command.
                raise self._fatal(AgiError(f"{line.split(' ', 1)[0]} timed out after {limit:g} s"))
            except ConnectionError as exc:
                raise self._fatal(AgiHangup(f"connection lost: {exc!r}"))

    async def stream_file(self, name: str, escape_digits: str = "", *,
                          timeout: float | None = None) -> str | None:
        """Play a prompt; return the escape digit pressed, or None."""
        _check_digits(escape_digits)
        result = await self.command(f"STREAM FILE {_quote(name)} {_quote(escape_digits)}", timeout)
        if result.result == "-1":  # missing file, or a hangup that the next command will see
            log.warning("STREAM FILE %s failed", name, extra=self.log_extra)
        return result.digit

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one DTMF digit; timeout_ms=-1 waits for ever."""
        limit = math.inf if timeout_ms < 0 else self._command_timeout + timeout_ms / 1000
        result = await self.command(f"WAIT FOR DIGIT {int(timeout_ms)}", limit)
        if result.result == "-1":  # res_agi returns -1 only when the channel is gone
            raise AgiHangup("WAIT FOR DIGIT failed: channel gone")
        return result.digit

    async def get_variable(self, name: str) -> str | None:
        result = await self.command(f"GET VARIABLE {_quote(name)}")
        return result.data if result.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {_quote(name)} {_quote(value)}")

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {_quote(message)} {int(level)}")

    async def _exchange(self, data: bytes) -> AgiResult:
        self._writer.write(data)
        await self._writer.drain()
        while True:
            code, sep, text = await self._read_status()
            if code == 100:  # "100 result=0 Trying...": the real answer follows
                continue
            if code == 200:
                return self._parse_result(text)
            if code == 511:
                raise self._fatal(AgiHangup(f"{code} {text}"))
            if sep == "-":
                text = await self._read_usage(code, text)
            raise AgiError(f"{code} {text}")

    async def _read_status(self) -> tuple[int, str, str]:
        line = await self._read_line()
        match = _STATUS.fullmatch(line)
        if match is None:
            raise self._fatal(AgiError(f"unexpected response line {line[:80]!r}"))
        return int(match[1]), match[2], match[3]

    async def _read_usage(self, code: int, first: str) -> str:
        # "520-Invalid command syntax..." then usage lines, then "520 End of proper usage."
        lines = [first]
        end = f"{code} "
        while len(lines) < MAX_USAGE_LINES:
            line = await self._read_line()
            lines.append(line.removeprefix(end))
            if line.startswith(end):
                return "\n".join(lines)
        raise self._fatal(AgiError(f"{code} response longer than {MAX_USAGE_LINES} lines"))

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise self._fatal(AgiHangup("connection closed by Asterisk")) from None
        except asyncio.LimitOverrunError:
            raise self._fatal(AgiError(f"response line longer than {self._max_line} bytes")) from None
        line = _decode(raw)
        if line == "HANGUP":  # sent ahead of any result when AGISIGHUP is on
            raise self._fatal(AgiHangup("channel hung up"))
        return line

    def _parse_result(self, text: str) -> AgiResult:
        match = _RESULT.match(text)
        if match is None:
            raise AgiError(f"malformed 200 response {text[:80]!r}")
        return AgiResult(200, match[1], match[2] or "")

    def _fatal(self, exc: AgiError) -> AgiError:
        """Mark the session unusable and close it: later commands fail without touching the wire."""
        self._dead = exc
        self._writer.close()
        return exc


def _check_digits(digits: str) -> None:
    if not set(digits) <= ESCAPE_DIGITS:
        raise ValueError(f"invalid escape digits {digits!r}")


Handler = Callable[[AgiChannel], Awaitable[None]]


class FastAgiServer:
    """Accepts FastAGI connections from Asterisk and runs the handler named by the script path."""

    def __init__(self, host: str, port: int, handlers: Mapping[str, Handler], *,
                 header_timeout: float = 5.0, command_timeout: float = 30.0,
                 max_line: int = 64 * 1024, reject_log_interval: float = REJECT_LOG_INTERVAL) -> None:
        self.host, self._port = host, port
        self.handlers = dict(handlers)
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.max_line = max_line
        self.sessions_served = 0    # connections handed to a handler
        self.sessions_rejected = 0  # bad, slow or unroutable connections (not bare probes)
        self.rejections = RejectionLog(reject_log_interval)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        # limit= caps every line the peer can make us buffer. backlog: in a surge (flood,
        # earthquake) hundreds of calls connect at once; asyncio's default of 100 overflows, and
        # a dropped SYN costs a second of res_agi's 2 s connect budget.
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._port, limit=self.max_line, backlog=LISTEN_BACKLOG)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%d", self.host, self._port,
                 extra={"host": self.host, "port": self._port})

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        self.rejections.close()
        if server is not None:
            await server.wait_closed()
            log.info("FastAGI server stopped", extra={"port": self._port})

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, so the task is registered before it can run and stop() sees it.
        if self._server is None:
            writer.transport.abort()
            return
        task = asyncio.create_task(self._serve(reader, writer), name=f"fastagi {_peer(writer)}")
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        extra: dict[str, Any] = {"peer": _peer(writer)}
        try:
            accepted = await self._accept(reader, writer, extra)
            if accepted is not None:
                await self._run(*accepted)
        except asyncio.CancelledError:
            log.info("FastAGI session cancelled: server stopping", extra=extra)
            raise
        except Exception:  # a bug of ours must not kill the task silently
            log.exception("FastAGI session failed", extra=extra)
        finally:
            await _close(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      extra: dict[str, Any]) -> tuple[AgiChannel, Handler] | None:
        try:
            env = await self._read_headers(reader)
            channel = AgiChannel(env, reader, writer, command_timeout=self.command_timeout,
                                 max_line=self.max_line, peer=extra["peer"])
            handler = self._route(channel)
        except _Probe:
            log.debug("FastAGI peer closed before sending headers (probe)", extra=extra)
            return None
        except _Rejected as exc:
            self.sessions_rejected += 1
            self.rejections.add(extra["peer"], str(exc))
            return None
        self.sessions_served += 1
        return channel, handler

    @staticmethod
    async def _run(channel: AgiChannel, handler: Handler) -> None:
        extra = channel.log_extra
        log.debug("FastAGI session started", extra=extra)  # per call: debug, the IVR logs its outcome
        try:
            await handler(channel)
        except AgiHangup as exc:  # the caller hanging up is the normal end of many calls
            log.info("FastAGI session ended by hangup: %s", exc, extra=extra)
        except AgiError as exc:  # Asterisk refused or went silent; the dialplan takes over
            log.warning("FastAGI session aborted: %s", exc, extra=extra)
        except Exception:
            log.exception("FastAGI handler for %r failed", channel.script, extra=extra)
        else:
            log.debug("FastAGI session finished", extra=extra)

    def _route(self, channel: AgiChannel) -> Handler:
        if "agi_network_script" not in channel.env:
            raise _Rejected("no agi_network_script header")
        handler = self.handlers.get(channel.script)
        if handler is None:
            raise _Rejected(f"no handler for script {channel.script!r}")
        return handler

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        env: dict[str, str] = {}
        try:
            async with asyncio.timeout(self.header_timeout):
                while line := await self._read_header_line(reader, len(env)):
                    self._add_header(env, line)
        except TimeoutError:
            raise _Rejected(f"no complete headers within {self.header_timeout:g} s "
                            f"({len(env)} lines received)") from None
        except ConnectionError as exc:
            raise _Rejected(f"connection lost during headers: {exc!r}") from None
        return env

    async def _read_header_line(self, reader: asyncio.StreamReader, count: int) -> str:
        try:
            return _decode(await reader.readuntil(b"\n"))
        except asyncio.IncompleteReadError as exc:
            if count == 0 and not exc.partial:
                raise _Probe() from None
            raise _Rejected(f"peer closed after {count} header lines") from None
        except asyncio.LimitOverrunError:
            raise _Rejected(f"header line longer than {self.max_line} bytes "
                            f"after {count} header lines") from None

    @staticmethod
    def _add_header(env: dict[str, str], line: str) -> None:
        if len(env) >= MAX_HEADERS:
            raise _Rejected(f"more than {MAX_HEADERS} header lines")
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise _Rejected(f"malformed header line {line[:80]!r}")
        env[key] = value.removeprefix(" ")
