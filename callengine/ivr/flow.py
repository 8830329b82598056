"""The IVR flow. It never stands between a caller and a human: every path ends by telling
the dialplan the IVR is done (CE_IVR_DONE=1) so the caller is queued without the fallback."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from callengine.telephony.fastagi import AgiChannel

log = logging.getLogger(__name__)
DONE_VARIABLE = "CE_IVR_DONE"

Annotate = Callable[..., None]


class Ivr:
    def __init__(self, language: str, annotate: Annotate) -> None:
        self.language = language
        self.annotate = annotate

    def prompt(self, name: str) -> str:
        return f"callengine/{self.language}/{name}"

    async def __call__(self, channel: AgiChannel) -> None:
        started = time.monotonic()
        linkedid = channel.env.get("agi_uniqueid", "")
        path: list[str] = ["greeting"]
        await channel.stream_file(self.prompt("greeting"))
        await channel.set_variable(DONE_VARIABLE, "1")
        notes: dict[str, Any] = {"ivr_path": path, "ivr_s": round(time.monotonic() - started, 3)}
        self.annotate(linkedid, **notes)
        log.info("ivr done", extra={"linkedid": linkedid, **notes})
