"""The rating call, the engine's side: the console asks (`POST /api/live/rate`) for a call to the
citizen with the spoken message it made; Asterisk dials through the outbound route ([rating]
dial, else [notify] voice_dial) from a Local channel, so the call is no 112 record, and once
answered the dialplan's [rating] context plays the message and reads one digit 1–5 (at most 3
plays). The engine tells the console, on the live stream, `rating.result` when the call ends:
rated (with the score), no-digit, no-answer, busy, rejected or failed. It stores nothing: the
console owns the ticket's rating.

The duty phone's machinery (calls.dutyphone.SpokenCalls) does the Originate and follows the call.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callengine.calls.dutyphone import NO_DIGIT, TICKET, SpokenCall, SpokenCalls, voice_settings
from callengine.core.conf import ConfigError
from callengine.dispatch.config import VoiceSettings
from callengine.rating.config import RatingSettings, load_rating
from callengine.telephony import dialplan

log = logging.getLogger(__name__)
RATED = "rated"


class RatingCallError(ValueError):
    """A rate command refused: a bad field, or a message file that is not there."""


@dataclass(frozen=True)
class RatingResult:
    """Live event `rating.result`: how one rating call ended, and the digit pressed."""
    call_id: str
    ticket: str
    phone: str
    result: str
    score: int | None
    answered: bool
    at: datetime
    cause: str | None = None


@dataclass
class RatingCall(SpokenCall):
    score: int | None = None


def rating_voice(config_file: Path, agencies_file: Path) -> VoiceSettings:
    """The call's ring and route as the engine reads them: a broken [rating] is the console's to
    refuse (it does, at start); the engine logs it and uses the defaults."""
    try:
        rating = load_rating(config_file)
    except (ConfigError, OSError) as exc:
        log.warning("rating calls use the defaults: %s", exc)
        rating = RatingSettings()
    return rating.voice_settings(voice_settings(agencies_file))


class RatingCalls(SpokenCalls):
    context = dialplan.RATING_CONTEXT
    user_event = dialplan.RATING_EVENT
    label = "rating call"
    error = RatingCallError

    async def call(self, ticket: object, phone: object, prompt: object, confirm: object = None) -> RatingCall:
        if not isinstance(ticket, str) or not TICKET.fullmatch(ticket):
            raise RatingCallError("'ticket' must be a ticket number")
        e164 = self.number(phone)
        message = self._sound(prompt, "prompt")
        thanks = self._sound(confirm, "confirm") if confirm is not None else ""
        call = RatingCall(f"rt-{secrets.token_hex(6)}", e164, ticket, self.clock.now())
        await self._place(call, message, thanks)
        log.info("rating call placed", extra={"call": call.id, "phone": e164, "ticket": ticket})
        return call

    async def _heard(self, call: SpokenCall, event: Mapping[str, str]) -> None:
        assert isinstance(call, RatingCall)
        score = event.get("Score", "")
        if event.get("Result") == RATED and score in ("1", "2", "3", "4", "5"):
            call.result, call.score = RATED, int(score)
            log.info("rating pressed", extra={"call": call.id, "ticket": call.ticket, "score": call.score})
        else:
            call.result = NO_DIGIT

    def _ended(self, call: SpokenCall, result: str, cause: str | None) -> object:
        assert isinstance(call, RatingCall)
        log.info("rating call ended", extra={"call": call.id, "ticket": call.ticket, "phone": call.phone,
                                             "result": result, "score": call.score, "cause": cause})
        return RatingResult(call.id, call.ticket, call.phone, result, call.score if result == RATED else None,
                            call.answered, self.clock.now(), cause)
