"""The web app's body parsing and refusals, in process: aiohttp's test server on 127.0.0.1."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from callengine.location.aml import AmlReport
from callengine.web import server
from callengine.web.server import Refused, make_app

FORM = "application/x-www-form-urlencoded"
GOOD = (b"device_number=%2B6281234567890&location_latitude=-0.5031&location_longitude=117.1502"
        b"&location_accuracy=12&location_time=1715915702000")
MULTIPART = (b'--b\r\nContent-Disposition: form-data; name="device_number"\r\n\r\n+6281234567890\r\n'
             b'--b\r\nContent-Disposition: form-data; name="location_latitude"\r\n\r\n-0.5031\r\n'
             b'--b\r\nContent-Disposition: form-data; name="location_longitude"\r\n'
             b'Content-Type: text/plain; charset=utf-8\r\n\r\n117.1502\r\n--b--\r\n')


@pytest_asyncio.fixture
async def client() -> AsyncIterator[tuple[TestClient, list[AmlReport]]]:
    received: list[AmlReport] = []

    async def sink(report: AmlReport) -> str | None:
        received.append(report)
        return None

    async with TestClient(TestServer(make_app({}, sink))) as test_client:
        yield test_client, received


def web_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name in ("callengine.web.server", "aiohttp.server")]


async def raw_exchange(test_client: TestClient, request: bytes) -> bytes:
    """Send bytes no HTTP client library would, and read the answer to its end."""
    reader, writer = await asyncio.open_connection(test_client.host, test_client.port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_form_and_multipart_reports_are_accepted(client: tuple[TestClient, list[AmlReport]]) -> None:
    test_client, received = client
    for content_type, body in ((FORM, GOOD), ("multipart/form-data; boundary=b", MULTIPART)):
        reply = await test_client.post("/api/aml", data=body, headers={"Content-Type": content_type})
        assert reply.status == 202 and (await reply.json())["number"] == "+6281234567890"
    assert [r.location.lat for r in received] == [-0.5031, -0.5031]


@pytest.mark.parametrize("content_type,body,status,reason", [
    (FORM, b"\xff\xfe=1", 400, "form body is not valid UTF-8 (byte 0xff at offset 0)"),
    (FORM + "; charset=x-bogus-42", GOOD, 415, "charset 'x-bogus-42' is not supported"),
    (FORM + "; charset=utf-16", GOOD.decode().encode("utf-16"), 415, "charset 'utf-16' is not supported"),
    ("multipart/form-data", MULTIPART, 400, "no boundary"),
    ("multipart/form-data; boundary=b", MULTIPART[:60], 400, "not the corresponding close boundary"),
    ("multipart/form-data; boundary=b", MULTIPART.replace(b"117.1502", b"\xc0\xaf"), 400,
     "part 'location_longitude' is not valid UTF-8"),
    ("multipart/form-data; boundary=b", MULTIPART.replace(b"charset=utf-8", b"charset=utf-16"), 415,
     "part 'location_longitude' charset 'utf-16' is not supported"),
    ("multipart/form-data; boundary=b", MULTIPART.replace(b'; name="location_latitude"', b""), 400,
     "part 2 has no form-data name"),
    (FORM, b"", 400, "AML location_latitude: missing"),
    (FORM, GOOD.replace(b"device_number=%2B6281234567890&", b""), 400, "AML device_number: missing"),
    (FORM, GOOD + b"&location_latitude=-6.2", 400, "field 'location_latitude' appears twice"),
    (FORM, GOOD + b"&device_model=%ff", 400, "'device_model' is not valid UTF-8 once percent-decoded"),
    (FORM, GOOD + b"&device_model=a%00b", 400, "AML device_model: contains the control character 0x00"),
    (FORM, GOOD + b"&garbage", 400, "form field 'garbage' has no '='"),
    (FORM, GOOD + b"".join(b"&f%d=1" % i for i in range(64)), 400, "more than 64"),
    (FORM, GOOD + b"&x=" + b"a" * 17000, 413, "body larger than 16384 bytes"),
    ("application/json", b"{}", 415, "content type 'application/json' is not supported"),
])
async def test_bad_aml_posts_are_refused_with_their_reason_and_one_warning(
        client: tuple[TestClient, list[AmlReport]], caplog: pytest.LogCaptureFixture,
        content_type: str, body: bytes, status: int, reason: str) -> None:
    test_client, received = client
    reply = await test_client.post("/api/aml", data=body, headers={"Content-Type": content_type})
    assert reply.status == status and reason in (await reply.json())["error"]
    [record] = web_records(caplog)
    assert record.levelno == logging.WARNING and reason in record.getMessage() and not record.exc_info
    assert received == []


@pytest.mark.parametrize("query,content_type,body,status,reason", [
    ("?from=0812345678", "text/plain", b'A"ML=1;\xff', 400, "SMS text is not valid UTF-8 (byte 0xff at offset 7)"),
    ("?from=0812345678", "text/plain; charset=utf-16", 'A"ML=1'.encode("utf-16"), 415, "charset 'utf-16'"),
    ("", "text/plain", b'A"ML=1;lt=1', 400, "AML ml: missing"),
    ("?from=0812345678", "image/png", b"\x89PNG", 415, "content type 'image/png' is not supported"),
])
async def test_bad_sms_posts_are_refused(client: tuple[TestClient, list[AmlReport]], caplog: pytest.LogCaptureFixture,
                                         query: str, content_type: str, body: bytes, status: int,
                                         reason: str) -> None:
    test_client, _ = client
    reply = await test_client.post("/api/aml/sms" + query, data=body, headers={"Content-Type": content_type})
    assert reply.status == status and reason in (await reply.json())["error"]
    assert [r.levelno for r in web_records(caplog)] == [logging.WARNING]


async def test_routing_refusals_are_json_with_one_warning(client: tuple[TestClient, list[AmlReport]],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    test_client, _ = client
    wrong_method = await test_client.get("/api/aml")
    assert wrong_method.status == 405 and wrong_method.headers["Allow"] == "POST"
    assert (await wrong_method.json())["error"] == "405: Method Not Allowed"
    assert (await test_client.get("/nope")).status == 404
    assert [r.getMessage() for r in web_records(caplog)] == [
        "AML refused: 405: Method Not Allowed", "web request refused: 404: Not Found"]


@pytest.mark.parametrize("request_bytes,reason", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "Got more than 8190 bytes"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", "Got more than 8190 bytes"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x00Name: 1\r\n\r\n", "Invalid header"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), "HTTPS traffic"),
])
async def test_what_aiohttp_refuses_is_one_warning_line_without_traceback(
        client: tuple[TestClient, list[AmlReport]], caplog: pytest.LogCaptureFixture,
        request_bytes: bytes, reason: str) -> None:
    caplog.set_level(logging.DEBUG)        # aiohttp logs a non-HTTP first request at debug, with a traceback
    answer = await raw_exchange(client[0], request_bytes)
    assert answer.startswith(b"HTTP/1.0 400 ") or answer.startswith(b"HTTP/1.1 400 ")
    [record] = web_records(caplog)
    assert record.levelno == logging.WARNING and reason in record.getMessage()
    assert record.exc_info is None and record.status == 400


async def test_a_body_that_never_ends_is_refused_after_the_body_timeout(
        client: tuple[TestClient, list[AmlReport]], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "BODY_TIMEOUT", 0.2)
    # A peer that announces 100 bytes and sends 3 (a slow peer looks the same to the server).
    head = (b"POST /api/aml HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " + FORM.encode() +
            b"\r\nContent-Length: 100\r\n\r\nv=1")
    reader, writer = await asyncio.open_connection(client[0].host, client[0].port)
    writer.write(head)
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 408 ")
    assert [r.getMessage() for r in web_records(caplog) if r.levelno >= logging.WARNING] == [
        "AML refused: body not received within 0.2 s"]


async def test_a_compressed_body_is_refused(client: tuple[TestClient, list[AmlReport]]) -> None:
    reply = await client[0].post("/api/aml", data=b"\x1f\x8b garbage",
                                 headers={"Content-Type": FORM, "Content-Encoding": "gzip"})
    assert reply.status == 415 and (await reply.json())["error"] == "content encoding 'gzip' is not supported"


def test_every_truncation_of_a_multipart_body_is_refused() -> None:
    content_type = "multipart/form-data; boundary=b"
    for cut in range(MULTIPART.index(b"--b--") + 5):        # up to the close boundary, not after
        with pytest.raises(Refused) as caught:
            server._multipart(content_type, MULTIPART[:cut])
        assert caught.value.status == 400 and caught.value.reason.startswith("multipart")


def test_a_corrupted_multipart_body_is_refused_or_read_never_an_error() -> None:
    """The email parser must turn every broken framing into a Refused, never another exception."""
    chance = random.Random(112)
    outcomes = {"refused": 0, "read": 0}
    for _ in range(3000):
        body = bytearray(MULTIPART)
        for _ in range(chance.randint(1, 4)):
            body[chance.randrange(len(body))] = chance.randrange(256)
        try:
            fields = server._multipart("multipart/form-data; boundary=b", bytes(body))
        except Refused as exc:
            assert 400 <= exc.status < 500 and exc.reason
            outcomes["refused"] += 1
        else:
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields)
            outcomes["read"] += 1
    assert outcomes["refused"] > 100 and outcomes["read"] > 100   # the corpus exercised both ways


async def test_a_store_outage_answers_503_to_retry_never_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def down(report: AmlReport) -> str | None:
        raise ConnectionRefusedError("database unreachable")

    async with TestClient(TestServer(make_app({}, down))) as test_client:
        reply = await test_client.post("/api/aml", data=GOOD, headers={"Content-Type": FORM})
        assert reply.status == 503 and reply.headers["Retry-After"] == "5"
        assert (await reply.json())["status"] == "unavailable"
    assert [r.levelname for r in web_records(caplog)] == ["WARNING"] and "database unreachable" in caplog.text
