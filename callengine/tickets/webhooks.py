"""Webhooks: every new ticket POSTed as JSON to the configured URLs (dispatch boards, agency
systems), signed with HMAC-SHA256, retried with backoff, and never in the call's way: the
writer only enqueues; deliveries run on their own."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import aiohttp

from callengine.tickets.events import TicketOpened

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Callengine-Signature"   # "sha256=<hex of HMAC-SHA256(secret, body)>"
RETRIABLE = frozenset({408, 425, 429})          # plus every 5xx


DELIVERY_HEADER = "X-Callengine-Delivery"      # one id per delivery, the same on each of its retries


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    """The headers of every webhook the centre sends (tickets' here, dispatch.* from notify/)."""
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
            DELIVERY_HEADER: delivery or str(uuid.uuid4())}


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> str | None:
    """None when delivered; 'retry: …' for what may pass later; any other text is final."""
    try:
        async with session.post(url, data=body, headers=headers) as reply:
            if 200 <= reply.status < 300:
                return None
            if reply.status >= 500 or reply.status in RETRIABLE:
                return f"retry: HTTP {reply.status}"
            return f"HTTP {reply.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"retry: {type(exc).__name__} {exc}"


class WebhookSink:
    def __init__(self, urls: tuple[str, ...], secret: str, *, attempts: int = 8, backoff_s: float = 1.0,
                 backoff_max_s: float = 60.0, timeout_s: float = 5.0, parallel: int = 8) -> None:
        self.urls = urls
        self.secret = secret
        self.attempts = attempts
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.slots = asyncio.Semaphore(parallel)

    async def on_ticket_opened(self, event: TicketOpened) -> None:
        if not self.urls:   # no receiver configured: nothing to encode
            return
        self.submit("ticket.created", {"ticket": event.ticket.to_json(), "call": event.record.to_json()})

    def submit(self, event: str, payload: dict[str, Any]) -> None:
        body = json.dumps({"event": event, **payload}, ensure_ascii=False).encode()
        for url in self.urls:
            self.queue.put_nowait((url, body))

    async def run(self) -> None:
        deliveries: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            try:
                while True:
                    url, body = await self.queue.get()
                    await self.slots.acquire()
                    task = asyncio.create_task(self._deliver(session, url, body))
                    deliveries.add(task)
                    task.add_done_callback(deliveries.discard)
            finally:
                for task in deliveries:
                    task.cancel()
                await asyncio.gather(*deliveries, return_exceptions=True)

    async def _deliver(self, session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        headers = signed_headers(self.secret, body)
        delay = self.backoff_s
        try:
            for attempt in range(1, self.attempts + 1):
                outcome = await post(session, url, body, headers)
                if outcome is None:
                    log.info("webhook delivered", extra={"url": url, "attempt": attempt})
                    return
                if not outcome.startswith("retry"):
                    log.error("webhook refused; not retried", extra={"url": url, "reason": outcome})
                    return
                if attempt == self.attempts:
                    break
                log.warning("webhook failed; retrying", extra={"url": url, "reason": outcome, "in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
            log.error("webhook given up", extra={"url": url, "attempts": self.attempts})
        finally:
            self.slots.release()
