"""[notify] of config/agencies.conf, the keys of the written channels (the voice_* keys are the
duty phone's, dispatch/config.py): the SMTP server, the Telegram bot, the dispatch.* webhooks and
how deliveries are retried. Checked with the rest of the file by `callengine check` and at the
console's start. Secrets stay out of it: the SMTP password is `smtp` and the bot token
`telegram` in runtime/secrets.conf (a `telegram_token` here wins, for a bot of its own)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from callengine.core.conf import ConfigReader
from callengine.dispatch.config import NOTIFY, notify_duration
from callengine.notify.contacts import EMAIL

EMAIL_CHANNEL, TELEGRAM_CHANNEL, WEBHOOK_CHANNEL = "email", "telegram", "webhook"
HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$")
URL = re.compile(r"^https?://[A-Za-z0-9.:\[\]-]{1,260}(/[A-Za-z0-9._~/-]*)?$")
TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{10,100}$")
YES_NO = ("yes", "no")


@dataclass(frozen=True)
class EmailSettings:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    user: str = ""                       # empty: no login; else the password is `smtp` in secrets.conf
    sender: str = "112@localhost"        # the From address
    timeout_s: float = 20.0


@dataclass(frozen=True)
class TelegramSettings:
    base_url: str = "https://api.telegram.org"
    token: str = ""                      # empty: `telegram` in runtime/secrets.conf
    timeout_s: float = 15.0


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 10                   # then the row is failed
    first: timedelta = timedelta(seconds=10)
    longest: timedelta = timedelta(minutes=10)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try, after `attempts` failed ones: doubling, capped."""
        return min(self.first.total_seconds() * 2 ** max(attempts - 1, 0), self.longest.total_seconds())


@dataclass(frozen=True)
class MessageSettings:
    email: EmailSettings | None = None          # None: the channel is off
    telegram: TelegramSettings | None = None
    webhooks: bool = True                       # dispatch.* events to [webhooks] urls (callengine.conf)
    retry: RetrySettings = field(default_factory=RetrySettings)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(name for name, on in ((EMAIL_CHANNEL, self.email), (TELEGRAM_CHANNEL, self.telegram),
                                           (WEBHOOK_CHANNEL, self.webhooks)) if on)


def load_messages(path: Path) -> MessageSettings:
    return read_messages(ConfigReader(path))


def read_messages(r: ConfigReader) -> MessageSettings:
    """Every key checked even when its channel is off, so a typo shows before it is switched on."""
    email = EmailSettings(
        host=_host(r), port=r.integer(NOTIFY, "email_port", 25),
        starttls=r.choice(NOTIFY, "email_starttls", "no", YES_NO) == "yes",
        user=r.sections.get(NOTIFY, {}).get("email_user", ""), sender=_sender(r))
    if len(email.user) > 200:
        raise r.fail(NOTIFY, "email_user", "at most 200 characters")
    base = r.text(NOTIFY, "telegram_url", TelegramSettings.base_url).rstrip("/")
    if not URL.match(base):
        raise r.fail(NOTIFY, "telegram_url", f"{base!r} is not an http:// or https:// URL")
    token = r.sections.get(NOTIFY, {}).get("telegram_token", "")
    if token and not TOKEN.match(token):
        raise r.fail(NOTIFY, "telegram_token", "not a bot token (digits, a colon, letters: as @BotFather gives it)")
    first, longest = notify_duration(r, "send_retry_after", "10s"), notify_duration(r, "send_retry_max", "10m")
    if longest < first:
        raise r.fail(NOTIFY, "send_retry_max", "cannot be shorter than send_retry_after")
    return MessageSettings(
        email=email if r.choice(NOTIFY, "email", "no", YES_NO) == "yes" else None,
        telegram=(TelegramSettings(base, token) if r.choice(NOTIFY, "telegram", "no", YES_NO) == "yes" else None),
        webhooks=r.choice(NOTIFY, "webhooks", "yes", YES_NO) == "yes",
        retry=RetrySettings(r.integer(NOTIFY, "send_attempts", 10, low=1, high=100), first, longest))


def _host(r: ConfigReader) -> str:
    host = r.text(NOTIFY, "email_host", EmailSettings.host)
    if not HOST.match(host):
        raise r.fail(NOTIFY, "email_host", f"{host!r} is not a host name or address")
    return host.strip("[]")


def _sender(r: ConfigReader) -> str:
    sender = r.text(NOTIFY, "email_from", EmailSettings.sender)
    if not (EMAIL.match(sender) or re.fullmatch(r"[^<>@\s,;]+@localhost", sender)):
        raise r.fail(NOTIFY, "email_from", f"{sender!r} is not an e-mail address")
    return sender
