"""The IVR flow. It never stands between a caller and a human: a hard time budget bounds it,
every path ends in the queue, and only CE_IVR_DONE=1 spares the caller the dialplan's
fallback greeting. Prompts are skipped rather than cut when they would overrun the budget."""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callengine.calls.numbers import to_e164
from callengine.core.deadline import answer_within
from callengine.ivr.config import IvrSettings
from callengine.telephony import dialplan
from callengine.telephony.fastagi import AgiChannel

log = logging.getLogger(__name__)
ALL_DIGITS = "0123456789*#"
PRANK_CHECK_TIMEOUT = 0.5

# Every prompt the IVR and the dialplan play; `callengine prompts check` looks for each.
PROMPTS = ("greeting", "menu", "invalid", "connecting", "prank_warning", "fallback", "hold")

Annotate = Callable[..., None]
PrankCheck = Callable[[str], Awaitable[bool]]


@dataclass
class IvrRun:
    """What one call did in the IVR, kept on its record."""
    started: float
    deadline: float
    language: str
    path: list[str] = field(default_factory=list)
    digits: str = ""
    category: str | None = None
    prank: bool = False

    def remaining(self, now: float) -> float:
        return self.deadline - now


class Ivr:
    def __init__(self, settings: IvrSettings, language: str, durations: Mapping[tuple[str, str], float],
                 is_prank: PrankCheck, annotate: Annotate, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.language = language
        self.durations = durations
        self.is_prank = is_prank
        self.annotate = annotate
        self.monotonic = monotonic

    async def __call__(self, agi: AgiChannel) -> None:
        now = self.monotonic()
        run = IvrRun(started=now, deadline=now + self.settings.budget_s, language=self.language)
        linkedid = agi.env.get("agi_uniqueid", "")
        try:
            await self.flow(agi, run)
        finally:
            self._record(linkedid, run)

    async def flow(self, agi: AgiChannel, run: IvrRun) -> None:
        run.prank = await self._prank_history(agi.env.get("agi_callerid", ""))
        if run.prank:
            await self._play(agi, run, "prank_warning", barge_in=False)
        digit = await self._play(agi, run, "greeting")
        invalid = 0
        while run.category is None:
            if digit is None:
                digit = await self._play(agi, run, "menu") or await self._wait(agi, run)
            if digit is None:
                run.path.append("no_input")
                break
            choice = self.settings.options.get(digit)
            if choice == "operator":
                run.path.append("operator")
                break
            if choice == "english" and run.language != "en":
                run.language, digit = "en", None
                await agi.set_variable("CHANNEL(language)", "en")
                continue
            if choice is None or choice == "english":
                invalid += 1
                if invalid > self.settings.retries:
                    break
                digit = await self._play(agi, run, "invalid")
                continue
            run.category = choice
        await self._play(agi, run, "connecting", barge_in=False)
        await self._hand_to_queue(agi, run)

    async def _play(self, agi: AgiChannel, run: IvrRun, name: str, barge_in: bool = True) -> str | None:
        """Play a prompt if it fits the budget; a digit pressed during it is returned at once."""
        length = self.durations.get((run.language, name), 0.0)
        if length > run.remaining(self.monotonic()):
            run.path.append(f"skip:{name}")
            return None
        run.path.append(name)
        log.debug("ivr prompt", extra={"linkedid": agi.env.get("agi_uniqueid", ""), "prompt": name})
        digit = await agi.stream_file(f"callengine/{run.language}/{name}", ALL_DIGITS if barge_in else "")
        return self._pressed(run, digit)

    async def _wait(self, agi: AgiChannel, run: IvrRun) -> str | None:
        wait = min(self.settings.wait_s, run.remaining(self.monotonic()))
        if wait < 0.2:
            return None
        return self._pressed(run, await agi.wait_for_digit(int(wait * 1000)))

    @staticmethod
    def _pressed(run: IvrRun, digit: str | None) -> str | None:
        if digit is not None:
            run.digits += digit
        return digit

    async def _prank_history(self, callerid: str) -> bool:
        """Never blocks the call: a slow or failing store counts as no history."""
        caller = to_e164(callerid)
        if caller is None:
            return False
        try:
            return await answer_within(self.is_prank(caller), PRANK_CHECK_TIMEOUT)
        except Exception as exc:  # the store's failures must not touch the caller
            log.warning("prank history unavailable (%s); treating caller as normal", str(exc) or type(exc).__name__)
            return False

    def priority(self, run: IvrRun) -> int:
        key = "prank" if run.prank else (run.category or "none")
        return self.settings.priorities.get(key, self.settings.priorities["none"])

    async def _hand_to_queue(self, agi: AgiChannel, run: IvrRun) -> None:
        await agi.set_variable(dialplan.PRIORITY, str(self.priority(run)))
        if run.category:
            await agi.set_variable(dialplan.CATEGORY, run.category)
        # the dialplan copies these to CEL: a record rebuilt without the engine keeps them
        await agi.set_variable(dialplan.IVR_NOTES, dialplan.encode_notes(self.cel_notes(run)))
        await agi.set_variable(dialplan.IVR_DONE, "1")

    def cel_notes(self, run: IvrRun) -> dict[str, str]:
        notes = {"category": run.category or "", "priority": str(self.priority(run)),
                 "ivr_path": "/".join(run.path), "ivr_digits": run.digits, "ivr_language": run.language}
        if run.prank:
            notes["prank_history"] = "1"
        return notes

    def _record(self, linkedid: str, run: IvrRun) -> None:
        notes: dict[str, Any] = {
            "ivr_path": run.path, "ivr_digits": run.digits, "ivr_language": run.language,
            "ivr_s": round(self.monotonic() - run.started, 3), "priority": self.priority(run),
        }
        if run.prank:
            notes["prank_history"] = True
        self.annotate(linkedid, category=run.category, **notes)
        log.info("ivr done", extra={"linkedid": linkedid, "category": run.category, **notes})
