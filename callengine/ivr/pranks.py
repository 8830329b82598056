"""The prank policy: a number marked as a prank caller often enough lately is warned and
queued last."""
from __future__ import annotations

from datetime import timedelta

from callengine.core.clock import Clock
from callengine.db.calls import CallRepository
from callengine.ivr.config import IvrSettings


class PrankPolicy:
    def __init__(self, calls: CallRepository, settings: IvrSettings, clock: Clock) -> None:
        self.calls, self.settings, self.clock = calls, settings, clock

    async def has_history(self, caller: str) -> bool:
        since = self.clock.now() - timedelta(days=self.settings.prank_days)
        return await self.calls.prank_calls(caller, since) >= self.settings.prank_calls
