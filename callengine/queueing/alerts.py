"""Alerts for supervisors, kept in the database; a store outage never stops the shift keeper."""
from __future__ import annotations

import logging

from callengine.core.clock import Clock
from callengine.db.alerts import AlertRepository

log = logging.getLogger(__name__)


class AlertKeeper:
    def __init__(self, alerts: AlertRepository, clock: Clock) -> None:
        self.alerts, self.clock = alerts, clock

    async def __call__(self, kind: str, message: str) -> None:
        try:
            await self.alerts.add(self.clock.now(), kind, message)
        except Exception as exc:  # driver errors vary by backend; the log line already carries it
            log.error("alert not stored (%s): %s", exc, message)
