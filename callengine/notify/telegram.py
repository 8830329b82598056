"""The Telegram channel: the Bot API's sendMessage (`POST <base>/bot<token>/sendMessage`,
JSON chat_id and text) at the configured base URL ([notify] telegram_url, api.telegram.org by
default; a local Bot API server or a test's works the same). The token is [notify]
telegram_token, else `telegram` in runtime/secrets.conf, read at each try. A refusal the bot
cannot outlive (400 chat not found, 403 blocked by the user) is final; 429, 5xx and the network
are retried by the outbox. The token never reaches a log line or the delivery log."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp

from callengine.notify.config import TelegramSettings
from callengine.notify.outbox import OutboxRow, Refused

MAX_TEXT = 4096          # the Bot API's limit for one message


class TelegramSender:
    def __init__(self, settings: TelegramSettings, token: Callable[[], str | None]) -> None:
        self.settings, self.token = settings, token
        self._session: aiohttp.ClientSession | None = None

    async def send(self, row: OutboxRow) -> None:
        token = self.settings.token or self.token()
        if not token:
            raise LookupError("no bot token: [notify] telegram_token or `telegram = ...` in runtime/secrets.conf")
        text = f"{row.subject}\n\n{row.body}"[:MAX_TEXT]
        url = f"{self.settings.base_url}/bot{token}/sendMessage"
        try:
            async with self.session().post(url, json={"chat_id": row.recipient, "text": text,
                                                      "disable_web_page_preview": True}) as reply:
                status, raw = reply.status, await reply.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:   # named by host, never by the token's path
            raise ConnectionError(f"{type(exc).__name__} talking to {self.settings.base_url}") from None
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        if 200 <= status < 300 and isinstance(answer, dict) and answer.get("ok") is True:
            return
        described = str(answer.get("description", ""))[:200] if isinstance(answer, dict) else ""
        if status in (400, 403):       # a 401 or 404 is a wrong token: retried while an admin fixes it
            raise Refused(f"HTTP {status} {described}".strip())
        raise ConnectionError(f"HTTP {status} {described}".strip())

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)
