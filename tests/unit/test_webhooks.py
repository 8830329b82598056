"""Webhooks against a real aiohttp server on loopback: signed, retried, never duplicated on success."""
from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from callengine.tickets.webhooks import SIGNATURE_HEADER, WebhookSink, signature

SECRET = "s3cret"


async def serve(statuses: list[int]) -> tuple[web.AppRunner, str, list[web.Request], list[bytes]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook", seen, bodies


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)  # wait-ok: polls the condition `until` was given, bounded by its timeout


async def test_a_ticket_is_signed_and_retried_until_delivered_once(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="callengine.tickets.webhooks")
    runner, url, seen, bodies = await serve([500, 503])
    sink = WebhookSink((url,), SECRET, backoff_s=0.01)
    task = asyncio.create_task(sink.run())
    try:
        sink.submit("ticket.created", {"ticket": {"id": 7, "status": "baru"}, "call": {"linkedid": "1.0"}})
        await until(lambda: len(seen) == 3)
        await until(lambda: "webhook delivered" in caplog.text)   # the delivery has ended: no fourth POST can follow
        assert len(seen) == 3 and len(set(bodies)) == 1
        body = bodies[-1]
        assert seen[-1].headers[SIGNATURE_HEADER] == signature(SECRET, body)
        assert json.loads(body) == {"event": "ticket.created", "ticket": {"id": 7, "status": "baru"},
                                    "call": {"linkedid": "1.0"}}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()


async def test_a_client_error_is_final_and_an_unreachable_url_is_retried_then_given_up(caplog) -> None:  # type: ignore[no-untyped-def]
    runner, url, seen, _ = await serve([404])
    sink = WebhookSink((url, "http://127.0.0.1:9/nobody"), SECRET, attempts=3, backoff_s=0.01)
    task = asyncio.create_task(sink.run())
    try:
        sink.submit("ticket.created", {"ticket": {"id": 1}})
        await until(lambda: "webhook given up" in caplog.text)
        assert len(seen) == 1 and "webhook refused; not retried" in caplog.text
        assert caplog.text.count("webhook failed; retrying") == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()


def test_the_signature_is_hmac_sha256_of_the_body() -> None:   # RFC 4231-style known vector
    assert signature("key", b"The quick brown fox jumps over the lazy dog") == \
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
