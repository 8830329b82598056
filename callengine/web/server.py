"""aiohttp application: /healthz, and the AML endpoints handsets and SMS gateways post to.

Every request we refuse gets a 4xx whose JSON body says precisely why, and one warning line;
no body, charset, framing or header a sender makes up can turn into a 500 or a traceback, and
nothing a caller's phone sends can touch a call in progress.
"""
from __future__ import annotations

import asyncio
import base64
import email.parser
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from callengine.location.aml import MAX_FIELDS, AmlReport, parse_aml_http, parse_aml_sms
from callengine.location.model import LocationError

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[bool]]
AmlSink = Callable[[AmlReport], Awaitable[str | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Fields = list[tuple[str, str]]
MAX_BODY = 16 * 1024     # an AML POST is a few hundred bytes
# aiohttp has no body timeout: a peer that trickles a body, or breaks its chunked framing after
# the first chunk (aiohttp then never ends that body), would hold its handler for ever.
BODY_TIMEOUT = 10.0
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# What aiohttp reports when a request has no Content-Type: an SMS gateway may send the bare text.
NO_TYPE = "application/octet-stream"
# UTF-8 only: ASCII is a subset, and a form in UTF-16 or a made-up charset is not a handset's.
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


class Refused(Exception):
    """A request answered with a 4xx: the status and the reason the sender is told."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class AmlAccess:
    """Who may post AML: the configured token (`Authorization: Bearer`, HTTP basic with user
    `aml`, or `?token=` for SMS gateways that only take a URL), from the allowed networks."""
    token: str
    allow: tuple[str, ...] = ()

    def check(self, request: web.Request) -> None:
        if self.allow and not _in_networks(request.remote or "", self.allow):
            raise Refused(403, f"{request.remote} may not post AML ([aml] allow)")
        if not any(hmac.compare_digest(given.encode(), self.token.encode()) for given in _credentials(request)):
            raise Refused(401, "AML needs its token (Authorization: Bearer, basic auth as 'aml', or ?token=)")


def _credentials(request: web.Request) -> list[str]:
    given = [request.query.get("token", "")]
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer":
        given.append(value.strip())
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return given
        if user == "aml":
            given.append(password)
    return [g for g in given if g]


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def make_app(checks: Mapping[str, Check], aml: AmlSink | None = None,
             aml_access: AmlAccess | None = None) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        results = {name: await check() for name, check in checks.items()}
        failing = [name for name, ok in results.items() if not ok]
        body = {"status": "ok" if not failing else "degraded", "checks": results, "failing": failing}
        return web.json_response(body, status=200 if not failing else 503)

    async def aml_http(request: web.Request) -> web.Response:
        _allowed(request)
        return await _accept(parse_aml_http(_unique(await _form(request))))

    def _allowed(request: web.Request) -> None:
        if aml_access is not None:
            aml_access.check(request)

    async def aml_sms(request: web.Request) -> web.Response:
        """The SMS text as the body (text/plain, sender in ?from=) or as form fields from + text."""
        _allowed(request)
        if request.content_type in (FORM, MULTIPART):
            fields = _unique(await _form(request))
            sender, text = fields.get("from", ""), fields.get("text", "")
        elif request.content_type in ("text/plain", NO_TYPE):
            _check_charset(request.charset, "body")
            sender, text = request.query.get("from", ""), _utf8(await _read(request), "SMS text")
        else:
            raise Refused(415, f"content type {request.content_type!r} is not supported "
                               f"(use text/plain, {FORM} or {MULTIPART})")
        return await _accept(parse_aml_sms(text, sender or None))

    async def _accept(report: AmlReport) -> web.Response:
        assert aml is not None
        try:
            linkedid = await aml(report)
        except Exception as exc:  # the store is away (driver errors vary): the sender retries
            log.warning("AML not stored: %s", str(exc) or type(exc).__name__, extra={"number": report.number})
            return web.json_response({"status": "unavailable", "error": "the store is unavailable; retry"},
                                     status=503, headers={"Retry-After": "5"})
        log.info("AML received", extra={"number": report.number, "linkedid": linkedid,
                                        "transport": report.transport})
        return web.json_response({"status": "accepted", "number": report.number, "linkedid": linkedid},
                                 status=200 if linkedid else 202)

    # handler_args reach aiohttp's RequestHandler: its logger sees the requests refused before
    # any route runs (a request line over 8 KiB, a bad header). No handset compresses an AML
    # POST: bodies are taken as sent, and a Content-Encoding is refused (no gzip bomb either).
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_refusals],
                          handler_args={"logger": ProtocolLog(logging.getLogger("aiohttp.server")),
                                        "auto_decompress": False})
    app.router.add_get("/healthz", healthz)
    if aml is not None:
        app.router.add_post("/api/aml", aml_http)
        app.router.add_post("/api/aml/sms", aml_sms)
    return app


@web.middleware
async def _refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Our refusals, the AML parsers' and aiohttp's own 4xx (404, 405, 413) as one JSON shape."""
    try:
        return await handler(request)
    except Refused as exc:
        return _refuse(request, exc.status, exc.reason)
    except LocationError as exc:
        return _refuse(request, 400, str(exc))
    except web.HTTPException as exc:
        if not 400 <= exc.status < 500:
            raise
        allow = {hdrs.ALLOW: exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else None
        return _refuse(request, exc.status, exc.text or exc.reason, allow)


def _refuse(request: web.Request, status: int, reason: str,
            headers: Mapping[str, str] | None = None) -> web.Response:
    what = "AML" if request.path.startswith("/api/aml") else "web request"
    log.warning("%s refused: %s", what, reason, extra={"path": request.path, "peer": request.remote,
                                                        "status": status})
    return web.json_response({"status": "refused", "error": reason}, status=status, headers=headers)


async def _read(request: web.Request) -> bytes:
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity")
    if encoding.lower() != "identity":
        raise Refused(415, f"content encoding {encoding[:40]!r} is not supported")
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        raise Refused(408, f"body not received within {BODY_TIMEOUT:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, f"body larger than {MAX_BODY} bytes") from None
    except web.RequestPayloadError as exc:  # a broken chunked framing, a body shorter than said
        cause = exc.__cause__
        reason = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        raise Refused(400, f"body unreadable: {reason}") from None


async def _form(request: web.Request) -> Fields:
    if request.content_type == FORM:
        _check_charset(request.charset, "body")
        return _urlencoded(_utf8(await _read(request), "form body").strip())
    if request.content_type == MULTIPART:
        return _multipart(request.headers[hdrs.CONTENT_TYPE], await _read(request))
    raise Refused(415, f"content type {request.content_type!r} is not supported (use {FORM} or {MULTIPART})")


def _check_charset(charset: str | None, what: str) -> None:
    if charset is not None and charset.lower() not in _UTF8:
        raise Refused(415, f"{what} charset {charset[:40]!r} is not supported (only utf-8)")


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _urlencoded(text: str) -> Fields:
    items = [item for item in text.split("&") if item]
    if len(items) > MAX_FIELDS:
        raise Refused(400, f"{len(items)} form fields, more than {MAX_FIELDS}")
    return [_form_field(item) for item in items]


def _form_field(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise Refused(400, f"form field {item[:40]!r} has no '='")
    try:
        return unquote_plus(key, errors="strict"), unquote_plus(value, errors="strict")
    except UnicodeDecodeError:
        raise Refused(400, f"form field {key[:40]!r} is not valid UTF-8 once percent-decoded") from None


def _multipart(content_type: str, body: bytes) -> Fields:
    # The email package parses MIME without raising: what is wrong with the framing (no boundary,
    # a truncated part) comes back as defects, each with a sentence saying what it is.
    head = f"Content-Type: {content_type}\r\n\r\n".encode("utf-8", "replace")
    message = email.parser.BytesParser().parsebytes(head + body)
    _check_defects(message, "multipart body")
    parts = message.get_payload()
    if not isinstance(parts, list) or not parts:
        raise Refused(400, "multipart body has no parts")
    if len(parts) > MAX_FIELDS:
        raise Refused(400, f"{len(parts)} multipart parts, more than {MAX_FIELDS}")
    return [_part_field(number, part) for number, part in enumerate(parts, 1)]


def _part_field(number: int, part: Message) -> tuple[str, str]:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise Refused(400, f"multipart part {number} has no form-data name")
    if part.is_multipart():
        raise Refused(400, f"multipart part {name[:40]!r} is itself multipart")
    _check_charset(part.get_content_charset(), f"multipart part {name[:40]!r}")
    data = part.get_payload(decode=True)
    _check_defects(part, f"multipart part {name[:40]!r}")  # decoding a bad base64 part records a defect
    return name, _utf8(data if isinstance(data, bytes) else b"", f"multipart part {name[:40]!r}")


def _check_defects(message: Message, what: str) -> None:
    if message.defects:
        defect = message.defects[0]
        sentence = (type(defect).__doc__ or type(defect).__name__).strip().rstrip(".")
        raise Refused(400, f"{what}: {sentence[0].lower()}{sentence[1:]}")


def _unique(fields: Fields) -> dict[str, str]:
    # Two values for one field (two latitudes) leave no way to tell which the handset meant.
    seen: dict[str, str] = {}
    for key, value in fields:
        if key in seen:
            raise Refused(400, f"field {key[:40]!r} appears twice")
        seen[key] = value
    return seen


class ProtocolLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with the requests its HTTP parser refuses (a request line over
    8 KiB, a malformed header, a non-HTTP probe) told as one warning line, not an error with a
    traceback: they are the sender's fault and aiohttp answered them 400 already."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, web.RequestPayloadError):
            # After answering, aiohttp reads what is left of the body ("lingering close"); a
            # broken body fails that read, once the handler refused it or had no use for it.
            self.logger.debug("unread rest of a request body was broken: %s", exc_info.__cause__ or exc_info)
            return
        if self._refusal(exc_info, args):
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        # aiohttp logs a non-HTTP first request (BadHttpMethod) at debug, still with its traceback.
        if self._refusal(kwargs.get("exc_info"), args):
            return
        super().debug(msg, *args, **kwargs)

    def _refusal(self, exc: Any, args: tuple[object, ...]) -> bool:
        if not isinstance(exc, HttpProcessingError) or not 400 <= exc.code < 500:
            return False
        peer = args[0] if args else None  # aiohttp's message is "Error handling request from %s"
        self.logger.warning("HTTP request refused: %s", exc.message or type(exc).__name__,
                            extra={"peer": peer, "status": exc.code})
        return True


class WebServer:
    """An aiohttp application served on one address, as a component."""

    def __init__(self, app: web.Application, host: str, port: int,
                 on_stop: Callable[[], None] = lambda: None) -> None:
        self.runner = web.AppRunner(app)
        self.host, self.port = host, port
        self.on_stop = on_stop   # e.g. end the live streams, or cleanup waits for them

    async def start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        self.on_stop()
        await self.runner.cleanup()
