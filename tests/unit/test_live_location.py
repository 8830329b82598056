"""The caller's location while the call goes on: from the INVITE (whether HEP shows it before
or after the call starts) and from AML reports as they arrive; the live view follows."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from callengine.calls.events import CallEnded, CallLocated, CallStarted
from callengine.calls.live import LiveCalls
from callengine.core.clock import SystemClock
from callengine.location.aml import AmlReport
from callengine.location.desk import LocationDesk
from callengine.location.live import LiveLocator
from callengine.location.model import Location
from test_location_pidf import CIRCLE, invite_body, pidf

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)


def located() -> tuple[LiveLocator, LocationDesk, list[object]]:
    desk = LocationDesk(None, None, None, SystemClock(), timedelta(minutes=5))  # type: ignore[arg-type]
    published: list[object] = []
    return LiveLocator(desk, published.append), desk, published


def started(linkedid: str = "1.1", call_id: str = "inv-1") -> CallStarted:
    return CallStarted(linkedid, T0, "+6281234567890", "081234567890", "112", call_id)


def invite(desk: LocationDesk, call_id: str = "inv-1") -> None:
    content_type, body = invite_body(pidf(CIRCLE))
    desk.invite(call_id, "<cid:target123@ims.example.id>", content_type, body, None)


async def test_the_invite_seen_before_the_call_started_locates_it_at_once() -> None:
    locator, desk, published = located()
    invite(desk)
    await locator.on_event(started())
    [event] = published
    assert isinstance(event, CallLocated) and event.linkedid == "1.1"
    assert (event.best or {})["lat"] == -6.175392 and event.best["source"] == "pidf-lo"
    assert [loc["radius_m"] for loc in event.locations] == [35.0]


async def test_an_invite_seen_late_still_locates_its_call_once() -> None:
    locator, desk, published = located()
    await locator.on_event(started())
    assert published == []
    invite(desk)
    await locator.invited("inv-1")
    await locator.invited("inv-1")              # a retransmitted INVITE adds nothing
    assert len(published) == 1
    await locator.invited("someone-else")
    assert len(published) == 1


async def test_aml_moves_the_marker_of_the_callers_live_call_only() -> None:
    locator, desk, published = located()
    invite(desk)
    await locator.on_event(started())
    await locator.on_event(started("2.1", "inv-2"))
    report = AmlReport("+6281234567890", Location(-0.5, 117.15, 8.0, "aml", "gnss", T0), "GPS", T0, "sms")
    locator.aml(AmlReport("+6289999999999", report.location, "GPS", T0, "sms"))
    locator.aml(report)
    first, *aml = published
    assert {e.linkedid for e in aml} == {"1.1", "2.1"}              # both calls are from that number
    by_call = {e.linkedid: e for e in aml}
    assert [loc["source"] for loc in by_call["1.1"].locations] == ["pidf-lo", "aml"]
    assert by_call["1.1"].best["radius_m"] == 8.0                   # the sharper fix wins
    await locator.on_event(CallEnded(_record("1.1")))
    locator.aml(report)
    assert [e.linkedid for e in published[len(aml) + 1:]] == ["2.1"]  # the ended call is forgotten


async def test_the_live_view_carries_the_location() -> None:
    calls = LiveCalls()
    calls.apply(started())
    calls.apply(CallLocated("1.1", ({"lat": -0.5, "lon": 117.1, "source": "aml"},), {"lat": -0.5, "lon": 117.1,
                                                                                   "source": "aml"}))
    [call] = calls.snapshot()
    assert call["location"]["source"] == "aml" and len(call["locations"]) == 1


def _record(linkedid: str):  # type: ignore[no-untyped-def]
    from callengine.calls.record import CallRecord
    return CallRecord(linkedid, "+6281234567890", "081234567890", "112", T0, T0, T0 + timedelta(seconds=9),
                      None, "112", None, None, None, "abandoned", 16, "Normal Clearing", "caller", None)
