"""aiohttp application: /healthz, and the AML endpoints handsets and SMS gateways post to.

Every bad request gets a 400 with the precise reason (and a log line); nothing a caller's
phone sends can touch a call in progress.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from callengine.location.aml import AmlReport, parse_aml_http, parse_aml_sms
from callengine.location.model import LocationError

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[bool]]
AmlSink = Callable[[AmlReport], Awaitable[str | None]]
MAX_BODY = 16 * 1024     # an AML POST is a few hundred bytes


def make_app(checks: Mapping[str, Check], aml: AmlSink | None = None) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        results = {name: await check() for name, check in checks.items()}
        failing = [name for name, ok in results.items() if not ok]
        body = {"status": "ok" if not failing else "degraded", "checks": results, "failing": failing}
        return web.json_response(body, status=200 if not failing else 503)

    async def aml_http(request: web.Request) -> web.Response:
        form = await request.post()
        return await _accept(lambda: parse_aml_http({k: str(v) for k, v in form.items()}), request)

    async def aml_sms(request: web.Request) -> web.Response:
        """The SMS text as the body (text/plain, sender in ?from=) or as form fields from + text."""
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            sender, text = str(form.get("from", "")), str(form.get("text", ""))
        else:
            sender, text = request.query.get("from", ""), await request.text()
        return await _accept(lambda: parse_aml_sms(text, sender or None), request)

    async def _accept(parse: Callable[[], AmlReport], request: web.Request) -> web.Response:
        try:
            report = parse()
        except LocationError as exc:
            log.warning("AML refused: %s", exc, extra={"path": request.path, "peer": request.remote})
            return web.json_response({"status": "refused", "error": str(exc)}, status=400)
        assert aml is not None
        linkedid = await aml(report)
        log.info("AML received", extra={"number": report.number, "linkedid": linkedid,
                                        "transport": report.transport, "has_location": report.location is not None})
        return web.json_response({"status": "accepted", "number": report.number, "linkedid": linkedid},
                                 status=200 if linkedid else 202)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", healthz)
    if aml is not None:
        app.router.add_post("/api/aml", aml_http)
        app.router.add_post("/api/aml/sms", aml_sms)
    return app
