"""FastAGI server against a fake Asterisk peer over real TCP on 127.0.0.1."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from callengine.telephony.fastagi import (
    AgiChannel, AgiError, AgiHangup, AgiResult, FastAgiServer, Handler,
)

LOGGER = "callengine.telephony.fastagi"
STEP = 3.0  # bound on any single wait, so a regression fails instead of hanging

HEADERS = {
    "agi_network": "yes",
    "agi_network_script": "ivr",
    "agi_request": "agi://127.0.0.1:4573/ivr",
    "agi_channel": "PJSIP/trunk-00000007",
    "agi_language": "id",
    "agi_type": "PJSIP",
    "agi_uniqueid": "1712345678.42",
    "agi_version": "16.28.0",
    "agi_callerid": "+6281234567890",
    "agi_calleridname": "unknown",
    "agi_callingpres": "0",
    "agi_dnid": "112",
    "agi_rdnis": "unknown",
    "agi_context": "emergency",
    "agi_extension": "112",
    "agi_priority": "4",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "140245712345",
}


def header_bytes(**overrides: str) -> bytes:
    env = {**HEADERS, **overrides}
    return "".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n"


class FakeAsterisk:
    """The Asterisk side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, payload: bytes = b"") -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        peer.writer.write(payload)
        return peer

    async def expect(self, command: str) -> None:
        line = await asyncio.wait_for(self.reader.readline(), STEP)
        assert line.decode() == command + "\n"

    def reply(self, *lines: str) -> None:
        self.writer.write("".join(line + "\n" for line in lines).encode())

    async def read_to_eof(self) -> bytes:
        """What the server sent until it closed; a reset counts as closed."""
        try:
            return await asyncio.wait_for(self.reader.read(), STEP)
        except ConnectionResetError:
            return b""

    def close(self) -> None:
        self.writer.close()


MakeServer = Callable[..., Awaitable[FastAgiServer]]


@pytest_asyncio.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    servers: list[FastAgiServer] = []

    async def make(handlers: dict[str, Handler], **options: float) -> FastAgiServer:
        server = FastAgiServer("127.0.0.1", 0, handlers, **options)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def answer_only(agi: AgiChannel) -> None:
    await agi.command("ANSWER")


async def run_answer_session(port: int) -> None:
    """A minimal complete session against the answer_only handler."""
    peer = await FakeAsterisk.connect(port, header_bytes())
    await peer.expect("ANSWER")
    peer.reply("200 result=0")
    assert await peer.read_to_eof() == b""
    peer.close()


@pytest.mark.asyncio
async def test_normal_session(make_server: MakeServer) -> None:
    seen: dict[str, object] = {}

    async def ivr(agi: AgiChannel) -> None:
        seen["env"], seen["script"] = agi.env, agi.script
        seen["answer"] = await agi.command("ANSWER")
        seen["digit"] = await agi.stream_file("custom/selamat-datang", "123")
        seen["num"] = await agi.get_variable("CALLERID(num)")
        seen["missing"] = await agi.get_variable("IVR_NOPE")
        await agi.set_variable("IVR_NOTE", 'kata "tolong" \\ cepat')
        await agi.verbose("ivr done", 3)

    server = await make_server({"ivr": ivr})
    peer = await FakeAsterisk.connect(server.port, header_bytes(agi_network_script="ivr?lang=id"))
    await peer.expect("ANSWER")
    peer.reply("100 result=0 Trying...", "200 result=0")
    await peer.expect('STREAM FILE "custom/selamat-datang" "123"')
    peer.reply("200 result=49 endpos=1234")
    await peer.expect('GET VARIABLE "CALLERID(num)"')
    peer.reply("200 result=1 (+62 812 (mobile))")
    await peer.expect('GET VARIABLE "IVR_NOPE"')
    peer.reply("200 result=0")
    await peer.expect('SET VARIABLE "IVR_NOTE" "kata \\"tolong\\" \\\\ cepat"')
    peer.reply("200 result=1")
    await peer.expect('VERBOSE "ivr done" 3')
    peer.reply("200 result=1")
    assert await peer.read_to_eof() == b""
    peer.close()

    assert seen["script"] == "ivr"
    assert seen["env"] == {**HEADERS, "agi_network_script": "ivr?lang=id"}
    assert seen["answer"] == AgiResult(200, "0", "")
    assert seen["digit"] == "1"
    assert seen["num"] == "+62 812 (mobile)"
    assert seen["missing"] is None
    assert (server.sessions_served, server.sessions_rejected) == (1, 0)


@pytest.mark.asyncio
async def test_unknown_script_closes_without_sending(make_server: MakeServer,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only})
    peer = await FakeAsterisk.connect(server.port, header_bytes(agi_network_script="nope"))
    assert await peer.read_to_eof() == b""
    peer.close()
    assert (server.sessions_served, server.sessions_rejected) == (0, 1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.reason == "no handler for script 'nope'"
    assert not errors(caplog)


@pytest.mark.asyncio
async def test_probe_is_harmless(make_server: MakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only})
    started = time.monotonic()
    probe = await FakeAsterisk.connect(server.port)
    probe.close()
    await probe.writer.wait_closed()
    await run_answer_session(server.port)
    assert time.monotonic() - started < 1.0
    assert (server.sessions_served, server.sessions_rejected) == (1, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", [b"", b"agi_network: yes\nagi_network_scr"])
async def test_stalled_peer_does_not_delay_others_and_is_dropped(
        make_server: MakeServer, caplog: pytest.LogCaptureFixture, payload: bytes) -> None:
    server = await make_server({"ivr": answer_only}, header_timeout=0.3)
    started = time.monotonic()
    stalled = await FakeAsterisk.connect(server.port, payload)
    await run_answer_session(server.port)
    assert not stalled.reader.at_eof()  # the normal call finished while the stalled one waits
    assert await stalled.read_to_eof() == b""
    assert time.monotonic() - started >= 0.25
    assert (server.sessions_served, server.sessions_rejected) == (1, 1)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.reason.startswith("no complete headers within 0.3 s")
    stalled.close()


@pytest.mark.asyncio
async def test_huge_header_line_rejected(make_server: MakeServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only})
    peer = await FakeAsterisk.connect(server.port, b"agi_network: yes\nagi_x: " + b"x" * 1024 * 1024)
    assert await peer.read_to_eof() == b""
    peer.close()
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.reason == "header line longer than 65536 bytes after 1 header lines"
    assert server.sessions_rejected == 1
    await run_answer_session(server.port)
    assert server.sessions_served == 1


@pytest.mark.asyncio
async def test_malformed_header_rejected(make_server: MakeServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only})
    peer = await FakeAsterisk.connect(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await peer.read_to_eof() == b""
    peer.close()
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.reason == "malformed header line 'GET / HTTP/1.1'"


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


async def reject(port: int, count: int) -> None:
    """`count` HTTP probes on the FastAGI port at once, each closed by the server."""
    peers = [await FakeAsterisk.connect(port, b"GET / HTTP/1.1\r\n\r\n") for _ in range(count)]
    assert await asyncio.gather(*(peer.read_to_eof() for peer in peers)) == [b""] * count
    for peer in peers:
        peer.close()


@pytest.mark.asyncio
async def test_a_burst_of_rejections_is_one_line_at_once_and_one_summary(
        make_server: MakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only}, reject_log_interval=3600.0)
    await reject(server.port, 200)
    assert server.sessions_rejected == 200
    [first] = warnings(caplog)                     # the first, at once and in full
    assert first.reason == "malformed header line 'GET / HTTP/1.1'" and first.peer.startswith("127.0.0.1:")
    await run_answer_session(server.port)          # a real call is served meanwhile
    await server.stop()                            # stopping tells what was counted
    first_again, summary = warnings(caplog)
    assert first_again is first and summary.count == 199 and summary.hosts == {"127.0.0.1": 199}
    assert summary.reasons == {"malformed header line 'GET / HTTP/1.1'": 199} and summary.other_hosts == 0
    assert not errors(caplog)


@pytest.mark.asyncio
async def test_each_interval_is_one_summary_and_a_quiet_one_ends_the_burst(
        make_server: MakeServer, caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server({"ivr": answer_only}, reject_log_interval=3600.0)
    await reject(server.port, 3)
    server.rejections.flush()                      # the interval's end, as its timer would call it
    assert [r.getMessage() for r in warnings(caplog)] == [
        "FastAGI session rejected: malformed header line 'GET / HTTP/1.1'",
        "FastAGI sessions rejected: 2 more in 0 s"]
    server.rejections.flush()                      # a quiet interval: nothing to say, the burst ends
    await reject(server.port, 1)                   # so the next rejection is told at once, in full
    assert len(warnings(caplog)) == 3 and warnings(caplog)[-1].reason == "malformed header line 'GET / HTTP/1.1'"
    await server.stop()
    assert len(warnings(caplog)) == 3


@pytest.mark.asyncio
async def test_the_interval_timer_logs_the_summary(make_server: MakeServer,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    summarised = asyncio.Event()
    counted = 0

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            nonlocal counted
            counted += getattr(record, "count", 0)
            if counted == 4:
                summarised.set()

    watch = Watch()
    logging.getLogger(LOGGER).addHandler(watch)
    try:
        server = await make_server({"ivr": answer_only}, reject_log_interval=0.2)
        await reject(server.port, 5)
        await asyncio.wait_for(summarised.wait(), STEP)
    finally:
        logging.getLogger(LOGGER).removeHandler(watch)
    # Normally one summary of 4; on a slow machine the timer may cut the burst in two intervals.
    summaries = [r.count for r in warnings(caplog) if hasattr(r, "count")]
    assert sum(summaries) == 4 and len(summaries) <= 2


@pytest.mark.asyncio
async def test_the_summary_names_a_bounded_number_of_hosts_and_reasons() -> None:
    from callengine.telephony.fastagi import REJECT_TRACKED, RejectionLog

    rejections = RejectionLog(interval=3600.0, max_named=3)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logging.getLogger(LOGGER).addHandler(keep)
    try:
        rejections.add("10.0.0.1:4000", "first")
        for i in range(3000):                      # a spoofed flood: every connection from another host
            rejections.add(f"10.{i // 250}.{i % 250}.1:{5000 + i}", f"reason {i % 5}")
        rejections.add("10.0.7.1:6000", "reason 2")
        rejections.close()
    finally:
        logging.getLogger(LOGGER).removeHandler(keep)
    first, summary = records
    assert (first.peer, first.reason) == ("10.0.0.1:4000", "first")
    assert summary.count == 3001 and len(summary.hosts) == 3 and summary.hosts["10.0.7.1"] == 2
    assert summary.other_hosts == REJECT_TRACKED - 3    # the tally keeps a bounded number of hosts; count has all
    assert len(summary.reasons) == 3 and summary.reasons["reason 2"] == 601


@pytest.mark.asyncio
@pytest.mark.parametrize("hangup", [
    b"HANGUP\n200 result=-1 endpos=0\n",
    b"511 result=-1 Command Not Permitted on a dead channel\n",
    b"",          # Asterisk just closes the socket
    b"200 resu",  # ... possibly in the middle of a line
])
@pytest.mark.asyncio
async def test_hangup_mid_command(make_server: MakeServer, caplog: pytest.LogCaptureFixture,
                                  hangup: bytes) -> None:
    outcome: dict[str, BaseException] = {}

    async def ivr(agi: AgiChannel) -> None:
        try:
            await agi.stream_file("custom/menu", "123")
        except AgiHangup as exc:
            outcome["first"] = exc
        try:
            await agi.verbose("after hangup")  # must fail fast, without touching the wire
        except AgiHangup as exc:
            outcome["second"] = exc
            raise

    server = await make_server({"ivr": ivr})
    peer = await FakeAsterisk.connect(server.port, header_bytes())
    await peer.expect('STREAM FILE "custom/menu" "123"')
    peer.writer.write(hangup)
    if not hangup.endswith(b"\n"):
        peer.writer.write_eof()
    assert await peer.read_to_eof() == b""
    peer.close()

    assert isinstance(outcome["first"], AgiHangup)
    assert isinstance(outcome["second"], AgiHangup)
    assert not errors(caplog)
    assert any(r.levelno == logging.INFO and "hangup" in r.getMessage()
               and r.uniqueid == "1712345678.42" for r in caplog.records)


@pytest.mark.asyncio
async def test_handler_exception_logged_and_server_keeps_serving(
        make_server: MakeServer, caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def ivr(agi: AgiChannel) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        await answer_only(agi)

    server = await make_server({"ivr": ivr})
    peer = await FakeAsterisk.connect(server.port, header_bytes())
    assert await peer.read_to_eof() == b""
    peer.close()
    [record] = errors(caplog)
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert record.channel == "PJSIP/trunk-00000007"
    await run_answer_session(server.port)
    assert server.sessions_served == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(("server_timeout", "command_timeout"), [(0.2, None), (30.0, 0.2)])
async def test_command_timeout_closes_session(make_server: MakeServer,
                                              server_timeout: float,
                                              command_timeout: float | None) -> None:
    outcome: dict[str, AgiError] = {}
    done = asyncio.Event()

    async def ivr(agi: AgiChannel) -> None:
        try:
            await agi.command("ANSWER", timeout=command_timeout)
        except AgiError as exc:
            outcome["first"] = exc
        try:
            await agi.command("ANSWER")
        except AgiError as exc:
            outcome["second"] = exc
        done.set()

    server = await make_server({"ivr": ivr}, command_timeout=server_timeout)
    peer = await FakeAsterisk.connect(server.port, header_bytes())
    await peer.expect("ANSWER")
    assert await peer.read_to_eof() == b""  # no second command was sent
    await asyncio.wait_for(done.wait(), STEP)
    peer.close()
    assert type(outcome["first"]) is AgiError
    assert str(outcome["first"]) == "ANSWER timed out after 0.2 s"
    assert str(outcome["second"]) == "ANSWER timed out after 0.2 s"


@pytest.mark.asyncio
async def test_error_responses_keep_session_in_sync(make_server: MakeServer) -> None:
    outcome: dict[str, object] = {}

    async def ivr(agi: AgiChannel) -> None:
        for key, line in (("usage", "STREAM FILE"), ("unknown", "FLY AWAY")):
            try:
                await agi.command(line)
            except AgiError as exc:
                outcome[key] = exc
        outcome["after"] = await agi.command("ANSWER")

    server = await make_server({"ivr": ivr})
    peer = await FakeAsterisk.connect(server.port, header_bytes())
    await peer.expect("STREAM FILE")
    peer.reply("520-Invalid command syntax.  Proper usage follows:",
               "Usage: STREAM FILE <filename> <escape_digits> [sample offset]",
               "",
               "520 End of proper usage.")
    await peer.expect("FLY AWAY")
    peer.reply("510 Invalid or unknown command")
    await peer.expect("ANSWER")
    peer.reply("200 result=0")
    assert await peer.read_to_eof() == b""
    peer.close()

    usage, unknown = outcome["usage"], outcome["unknown"]
    assert type(usage) is AgiError and type(unknown) is AgiError
    assert str(usage) == ("520 Invalid command syntax.  Proper usage follows:\n"
                          "Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n"
                          "\nEnd of proper usage.")
    assert str(unknown) == "510 Invalid or unknown command"
    assert outcome["after"] == AgiResult(200, "0")


@pytest.mark.asyncio
async def test_stop_with_open_sessions(make_server: MakeServer,
                                       caplog: pytest.LogCaptureFixture) -> None:
    cancelled = asyncio.Event()

    async def ivr(agi: AgiChannel) -> None:
        try:
            await agi.command("EXEC Wait 600")
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await make_server({"ivr": ivr}, header_timeout=60.0, command_timeout=60.0)
    busy = await FakeAsterisk.connect(server.port, header_bytes())
    await busy.expect("EXEC Wait 600")
    stalled = await FakeAsterisk.connect(server.port, b"agi_network: yes\n")

    await asyncio.wait_for(server.stop(), 1.0)
    assert cancelled.is_set()
    assert not server.listening
    assert await busy.read_to_eof() == b""
    assert await stalled.read_to_eof() == b""
    busy.close()
    stalled.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not errors(caplog)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


@pytest.mark.asyncio
async def test_rejects_command_injection(make_server: MakeServer) -> None:
    outcome: list[Exception] = []

    async def ivr(agi: AgiChannel) -> None:
        for bad in (lambda: agi.set_variable("X", "1\nEXEC Hangup"),
                    lambda: agi.stream_file("menu", "1;"),
                    lambda: agi.command("VERBOSE " + "x" * 3000)):
            try:
                await bad()
            except ValueError as exc:
                outcome.append(exc)
        await agi.command("ANSWER")

    server = await make_server({"ivr": ivr})
    peer = await FakeAsterisk.connect(server.port, header_bytes())
    await peer.expect("ANSWER")  # nothing else reached the wire
    peer.reply("200 result=0")
    assert await peer.read_to_eof() == b""
    peer.close()
    assert len(outcome) == 3


def test_result_digit() -> None:
    assert AgiResult(200, "49").digit == "1"
    assert AgiResult(200, "35").digit == "#"
    assert AgiResult(200, "0").digit is None
    assert AgiResult(200, "-1").digit is None
    assert AgiResult(200, "").digit is None
    assert AgiResult(200, "99999999").digit is None
