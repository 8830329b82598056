"""The notifications as the console composes them: the settings read, each configured channel's
sender, the outbox on the delivery log, and the notifier's hooks."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from callengine.core.clock import Clock
from callengine.core.settings import Settings, read_secret
from callengine.db.database import Database
from callengine.db.escalations import OutboxRepository
from callengine.dispatch.model import DispatchRules
from callengine.dispatch.sla import CONSOLE, EMAIL
from callengine.notify.config import EMAIL_CHANNEL, TELEGRAM_CHANNEL, WEBHOOK_CHANNEL, load_messages
from callengine.notify.email import EmailSender
from callengine.notify.notifier import Notifier, Plan
from callengine.notify.outbox import Outbox, Sender
from callengine.notify.telegram import TelegramSender
from callengine.notify.webhooks import WebhookSender


class Notifications:
    def __init__(self, settings: Settings, db: Database, rules: DispatchRules, clock: Clock, zone: ZoneInfo) -> None:
        self.settings = messages = load_messages(settings.agencies_file)
        senders: dict[str, Sender] = {}
        if messages.email is not None:
            senders[EMAIL_CHANNEL] = EmailSender(messages.email, lambda: read_secret(settings, "smtp"))
        if messages.telegram is not None:
            senders[TELEGRAM_CHANNEL] = TelegramSender(messages.telegram, lambda: read_secret(settings, "telegram"))
        if messages.webhooks and settings.webhook_urls:
            senders[WEBHOOK_CHANNEL] = WebhookSender(lambda: read_secret(settings, "webhook"))
        self.senders = senders
        self.outbox = Outbox(OutboxRepository(db), senders, clock, messages.retry)
        urls = settings.webhook_urls if WEBHOOK_CHANNEL in senders else ()
        self.notifier = Notifier(Plan(rules, messages, urls, zone, settings.city), self.outbox, clock)
        # the SLA watcher writes the heads' e-mail rows itself when that channel is on
        self.sla_channels = frozenset({CONSOLE, EMAIL} if EMAIL_CHANNEL in senders else {CONSOLE})

    async def run(self) -> None:
        try:
            await self.outbox.run()
        finally:
            await self.notifier.drain()
            for sender in self.senders.values():
                close = getattr(sender, "close", None)
                if close is not None:
                    await close()
