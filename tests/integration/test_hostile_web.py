"""Hostile requests against the running engine's web port: bad encodings and charsets, broken
multipart, oversized bodies, missing and garbage fields, bad numbers, NUL bytes, huge request
lines and headers. Each is refused with a 4xx that says why and one warning line; the engine
logs no error or traceback, stays up, and records the next real call."""
from __future__ import annotations

import json
import socket
import time
import urllib.parse

import pytest

from lab import AML_TOKEN, Lab

pytestmark = pytest.mark.integration
FORM = "application/x-www-form-urlencoded"
WEB_LOGGERS = ("callengine.web.server", "aiohttp.server")


def aml_fields(**changes: str | None) -> dict[str, str]:
    fields: dict[str, str | None] = {
        "v": "3", "emergency_number": "112", "device_number": "+6281234567890", "location_latitude": "-0.5031",
        "location_longitude": "117.1502", "location_accuracy": "12", "location_time": str(int(time.time() * 1000))}
    return {k: v for k, v in (fields | changes).items() if v is not None}


def form(**changes: str | None) -> bytes:
    return urllib.parse.urlencode(aml_fields(**changes)).encode()


def multipart(boundary: str = "b") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in aml_fields().items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


def sms() -> bytes:
    head = 'A"ML=1;lt=-0.5040;lg=117.1499;rd=8;top=20261123070000;lc=90;pm=G;ml='
    return f"{head}{len(head) + 2}".encode()


def request(method: str, path: str, body: bytes = b"", content_type: str | None = None, *extra: str) -> bytes:
    headers = ["Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}",
               f"Authorization: Bearer {AML_TOKEN}", *extra]
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    return f"{method} {path} HTTP/1.1\r\n{''.join(h + chr(13) + chr(10) for h in headers)}\r\n".encode() + body


def post(path: str, body: bytes, content_type: str | None = FORM, *extra: str) -> bytes:
    return request("POST", path, body, content_type, *extra)


SMS_PATH = "/api/aml/sms?from=%2B6281234567890"
MP = "multipart/form-data; boundary=b"
# (name, raw request, the status it must get)
CORPUS: list[tuple[str, bytes, int]] = [
    # encodings and charsets
    ("aml raw non-UTF-8 bytes", post("/api/aml", b"\xff\xfe\xfd=\x80\x81"), 400),
    ("aml charset x-bogus-42", post("/api/aml", form(), FORM + "; charset=x-bogus-42"), 415),
    ("aml charset utf-16", post("/api/aml", form().decode().encode("utf-16"), FORM + "; charset=utf-16"), 415),
    ("aml percent-encoded non-UTF-8", post("/api/aml", form(device_model="%").replace(b"%25", b"%ff")), 400),
    ("sms non-UTF-8 text", post(SMS_PATH, b'A"ML=1;lt=\xff\xfe', "text/plain"), 400),
    ("sms charset x-bogus-42", post(SMS_PATH, sms(), "text/plain; charset=x-bogus-42"), 415),
    ("sms form non-UTF-8", post("/api/aml/sms", b"from=0812345678&text=\xc0\xaf"), 400),
    # multipart
    ("aml multipart without boundary", post("/api/aml", multipart(), "multipart/form-data"), 400),
    ("aml multipart truncated part", post("/api/aml", multipart()[:90], MP), 400),
    ("aml multipart wrong boundary", post("/api/aml", multipart("other"), MP), 400),
    ("aml multipart part non-UTF-8", post("/api/aml", multipart().replace(b"117.1502", b"\xff\xff"), MP), 400),
    ("aml multipart empty", post("/api/aml", b"", MP), 400),
    ("sms multipart without boundary", post("/api/aml/sms", multipart(), "multipart/form-data"), 400),
    # sizes and types
    ("aml body of 20 KiB", post("/api/aml", form(x="a" * 20000)), 413),
    ("aml body of 200 KiB", post("/api/aml", b"a" * 200_000), 413),
    ("sms body of 20 KiB", post(SMS_PATH, b"x" * 20000, "text/plain"), 413),
    ("aml json", post("/api/aml", b'{"device_number": "+6281234567890"}', "application/json"), 415),
    ("aml no content type", post("/api/aml", form(), None), 415),
    ("aml gzip", post("/api/aml", b"\x1f\x8b\x08\x00garbage", FORM, "Content-Encoding: gzip"), 415),
    # missing and garbage fields
    ("aml empty body", post("/api/aml", b""), 400),
    ("aml no number", post("/api/aml", form(device_number=None)), 400),
    ("aml no location", post("/api/aml", form(location_latitude=None, location_longitude=None)), 400),
    ("aml garbage latitude", post("/api/aml", form(location_latitude="north")), 400),
    ("aml latitude out of range", post("/api/aml", form(location_latitude="-91")), 400),
    ("aml field twice", post("/api/aml", form() + b"&location_latitude=-6.2"), 400),
    ("aml field without '='", post("/api/aml", form() + b"&garbage"), 400),
    ("aml 100 fields", post("/api/aml", form() + b"".join(b"&f%d=1" % i for i in range(100))), 400),
    ("aml field of 300 characters", post("/api/aml", form(device_model="m" * 300)), 400),
    ("sms empty", post(SMS_PATH, b"", "text/plain"), 400),
    ("sms no sender", post("/api/aml/sms", sms(), "text/plain"), 400),
    ("sms garbage", post(SMS_PATH, b"hello 112, please help", "text/plain"), 400),
    # bad numbers
    ("aml number with letters", post("/api/aml", form(device_number="+62abc12345")), 400),
    ("aml number in Arabic-Indic digits", post("/api/aml", form(device_number="+62٨١٢٣٤٥٦٧٨٩")), 400),
    ("aml number too short", post("/api/aml", form(device_number="+6212")), 400),
    ("sms sender not a number", post("/api/aml/sms?from=not-a-number", sms(), "text/plain"), 400),
    # NUL bytes
    ("aml percent-encoded NUL", post("/api/aml", form(device_model="a\x00b")), 400),
    ("aml raw NUL", post("/api/aml", form() + b"&device_model=a\x00b"), 400),
    ("sms NUL", post(SMS_PATH, sms().replace(b"lc=90", b"lc=9\x00"), "text/plain"), 400),
    ("NUL in a header", post("/api/aml", form(), FORM, "X-Handset: a\x00b"), 400),
    # huge lines and headers, protocol garbage
    ("request line of 9 KiB", request("GET", "/" + "a" * 9000), 400),
    ("request line of 1 MiB", request("GET", "/" + "a" * 1024 * 1024), 400),
    ("header of 9 KiB", post("/api/aml", form(), FORM, "X-Big: " + "b" * 9000), 400),
    ("200 headers", post("/api/aml", form(), FORM, *(f"X-H{i}: {i}" for i in range(200))), 400),
    ("TLS hello on the HTTP port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200), 400),
    ("bad chunk size", post("/api/aml", b"", FORM, "Transfer-Encoding: chunked").replace(
        b"Content-Length: 0\r\n", b"") + b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("Content-Length not a number", post("/api/aml", form()).replace(b"Content-Length: ", b"Content-Length: x"), 400),
    ("control character in the method", b"PO\x01ST /api/aml HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("GET on the AML endpoint", request("GET", "/api/aml"), 405),
    ("unknown path", request("GET", "/cgi-bin/../../etc/passwd"), 404),
]


def exchange(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send raw bytes, read the answer to its end: (status, body)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass                                       # refused before the whole request was read
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass                                       # what was answered before the reset counts
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), f"no HTTP answer: {answer[:200]!r}"
    return int(head.split(b" ", 2)[1]), body


def reason_of(body: bytes) -> str:
    """The refusal's reason: the JSON error of ours, or aiohttp's plain text."""
    try:
        return str(json.loads(body)["error"])
    except ValueError:
        return body.decode(errors="replace").strip()


def test_hostile_requests_are_refused_one_warning_each_and_the_engine_records_the_next_call(bots, lab: Lab) -> None:
    engine = lab.engine()
    assert engine.proc is not None
    pid, mark, port = engine.proc.pid, len(engine.lines), lab.settings.web_port
    answers = {name: exchange(port, raw) for name, raw, _ in CORPUS}
    exchange(port, request("GET", "/end-of-hostile-corpus"))
    engine.wait_log("web request refused: 404: Not Found", path="/end-of-hostile-corpus", start=mark)

    wrong = {name: answers[name] for name, _, status in CORPUS if answers[name][0] != status}
    assert wrong == {}, "statuses differ from the expected ones"
    assert all(reason_of(body) for _, body in answers.values()), "every refusal says why"
    lines = engine.lines[mark:]
    web = [e for e in lines if e.get("logger") in WEB_LOGGERS]
    assert len(web) == len(CORPUS) + 1 and {e["level"] for e in web} == {"warning"}, "one warning per request"
    ours = [reason_of(body) for status, body in answers.values() if body.startswith(b"{")]
    assert all(any(e["msg"].endswith(": " + reason) for e in web) for reason in ours), "the log says why too"
    assert not [e for e in lines if e.get("level") in ("error", "critical", "raw") or "exc" in e]
    assert engine.alive() and engine.proc.pid == pid

    status, body = exchange(port, post("/api/aml", form()))
    assert status == 202 and json.loads(body)["number"] == "+6281234567890"       # the endpoint still serves
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    greeting = engine.wait_log("ivr prompt", prompt="greeting", timeout=20)
    call.hangup()
    engine.wait_log("call recorded", linkedid=greeting["linkedid"])
    [record] = lab.calls()
    assert record["linkedid"] == greeting["linkedid"] and record["caller"] == "+6281234567890"
    assert engine.errors() == [] and engine.alive() and engine.proc.pid == pid
