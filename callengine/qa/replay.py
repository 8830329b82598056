"""What the player draws on the waveform: the call's moments, in seconds from the start of the
recording (MixMonitor starts right after Answer(), so the call's start is the recording's):
the IVR's greeting, the menu's digits, the queue, the ring answered by the taker, the end."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from callengine.calls.record import CallRecord


@dataclass(frozen=True)
class Mark:
    at_s: float
    kind: str          # ivr, menu, queue, answer, end
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
    if call.answered_at is not None:
        found.append(Mark(since(call.answered_at), "answer", call.agent or ""))
    found.append(Mark(since(call.ended_at), "end", call.disposition))
    limit = duration_s if duration_s is not None else float("inf")
    return sorted((m for m in found if m.at_s <= limit + 1.0), key=lambda m: m.at_s)
