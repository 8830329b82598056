"""What the player draws on the waveform: the call's moments, in seconds from the start of the
recording (MixMonitor starts right after Answer(), so the call's start is the recording's):
the IVR's greeting, the menu's digits, the queue, each ring of a call taker, the answer, each
hold and its end, the end."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from callengine.calls.record import CallRecord


@dataclass(frozen=True)
class Mark:
    at_s: float
    kind: str          # ivr, menu, queue, ring, answer, hold, unhold, end
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def marks(call: CallRecord, duration_s: float | None = None) -> list[Mark]:
    """The call's moments that fall within the recording (all of them without its duration)."""
    since = lambda moment: round((moment - call.started_at).total_seconds(), 2)  # noqa: E731
    found = [Mark(0.0, "ivr", "/".join(call.ivr.get("ivr_path") or ()))] if call.ivr else []
    ivr_s = call.ivr.get("ivr_s") if call.ivr else None
    if isinstance(ivr_s, (int, float)) and call.ivr.get("ivr_digits"):
        found.append(Mark(round(float(ivr_s), 2), "menu", str(call.ivr["ivr_digits"])))
    if call.answered_at is not None and call.wait_s is not None:
        found.append(Mark(max(0.0, since(call.answered_at) - call.wait_s), "queue", call.queue or ""))
    elif isinstance(ivr_s, (int, float)) and call.queue:
        found.append(Mark(round(float(ivr_s), 2), "queue", call.queue))
    found += _rings(call, since)      # before the answer: a ring answered at once sorts first
    if call.answered_at is not None:
        found.append(Mark(since(call.answered_at), "answer", call.agent or ""))
    found += _holds(call, since)
    found.append(Mark(since(call.ended_at), "end", call.disposition))
    limit = duration_s if duration_s is not None else float("inf")
    return sorted((m for m in found if m.at_s <= limit + 1.0), key=lambda m: m.at_s)


def _rings(call: CallRecord, since: Callable[[datetime], float]) -> list[Mark]:
    """One per call taker rung, answered or not."""
    return [Mark(since(datetime.fromisoformat(ring["at"])), "ring", ring.get("agent") or "")
            for ring in call.moments.get("rings", ())]


def _holds(call: CallRecord, since: Callable[[datetime], float]) -> list[Mark]:
    """Each hold and, unless the call ended on hold, its end."""
    found: list[Mark] = []
    for hold in call.moments.get("holds", ()):
        found.append(Mark(since(datetime.fromisoformat(hold["start"])), "hold", hold.get("by") or ""))
        if hold.get("end"):
            found.append(Mark(since(datetime.fromisoformat(hold["end"])), "unhold", hold.get("by") or ""))
    return found
