"""The e-mail channel: one message per row to the configured SMTP server ([notify] email_*),
with STARTTLS when asked and a login when a user is set (its password: `smtp` in
runtime/secrets.conf, read at each try so a fixed secret needs no restart). The standard
library's smtplib, run in a thread: a slow server holds that thread, never the console's loop.
A 5xx answer is final (Refused); anything else (refused connection, timeout, 4xx) is retried
by the outbox."""
from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from callengine.notify.config import EmailSettings
from callengine.notify.outbox import OutboxRow, Refused


class EmailSender:
    def __init__(self, settings: EmailSettings, password: Callable[[], str | None]) -> None:
        self.settings, self.password = settings, password

    def message(self, row: OutboxRow) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = row.recipient
        message["Subject"] = row.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(f"notification-{row.id}", self.settings.sender.partition("@")[2] or None)
        message.set_content(row.body)
        return message

    async def send(self, row: OutboxRow) -> None:
        await asyncio.to_thread(self._send, self.message(row))

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.user:
                    password = self.password()
                    if not password:
                        raise LookupError("no SMTP password: add `smtp = ...` to runtime/secrets.conf")
                    smtp.login(s.user, password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"recipient refused: {exc.recipients}") from None
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise Refused(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from None
            raise
