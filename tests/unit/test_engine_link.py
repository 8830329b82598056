"""The console's copy of the calls in progress, kept by replacing each call with the state its
event carries (never by replaying the engine's rules), and what listeners are told."""
from __future__ import annotations

from callengine.web.engine_link import LINK_STATE, EngineLink, LiveEvent


def call(linkedid: str, state: str, **more: object) -> dict[str, object]:
    return {"linkedid": linkedid, "state": state, "started_at": f"2026-12-02T03:00:0{linkedid[-1]}+00:00", **more}


async def test_the_link_keeps_the_present_and_passes_every_event_on() -> None:
    link = EngineLink("http://127.0.0.1:1", lambda: "secret")
    heard = link.feed.listen()
    await link._apply(LiveEvent("snapshot", {"calls": [call("1.1", "queued")]}))
    assert link.connected and [c["linkedid"] for c in link.snapshot()["calls"]] == ["1.1"]
    await link._apply(LiveEvent("call.offered", {"linkedid": "1.2", "agent": "taker1",
                                                 "call": call("1.2", "ringing", ringing=["taker1"])}))
    await link._apply(LiveEvent("call.ended", {"record": {"linkedid": "1.1"}, "call": None}))
    await link._apply(LiveEvent("queue.member", {"account": "taker1", "paused": False}))
    assert [c["linkedid"] for c in link.snapshot()["calls"]] == ["1.2"]
    names = [heard.get_nowait().name for _ in range(heard.qsize())]     # type: ignore[union-attr]
    assert names == ["snapshot", "call.offered", "call.ended", "queue.member"]


async def test_losing_the_engine_forgets_its_calls_and_says_so() -> None:
    link = EngineLink("http://127.0.0.1:1", lambda: None)
    await link._apply(LiveEvent("snapshot", {"calls": [call("1.1", "answered")]}))
    heard = link.feed.listen()
    await link._set_connected(False)
    assert link.snapshot() == {"connected": False, "calls": []}
    event = heard.get_nowait()
    assert isinstance(event, LiveEvent) and (event.name, event.data) == (LINK_STATE, {"connected": False})
