"""Call-backs in the store, on SQLite and on a real PostgreSQL server: a row when placed, its
outcome written once, found by the missed call it answers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callengine.calls.callback import Callback, Outcome, UnknownCall
from callengine.db.callbacks import CallbackRepository
from callengine.db.database import Database
from callengine.tickets.records import CallRecords
from test_store import record, stored

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
WITA = ZoneInfo("Asia/Makassar")


def placed(linkedid: str, for_linkedid: str | None = "1795.1", at: datetime = T0) -> Callback:
    return Callback(linkedid=linkedid, account="taker1", number="+6281234567890", requested_by="spv1",
                    placed_at=at, for_linkedid=for_linkedid)


ANSWERED = Outcome("answered", T0 + timedelta(seconds=70), answered_at=T0 + timedelta(seconds=9), talk_s=61.0,
                   dialstatus="ANSWER", cause="Q.850 cause 16", recording="2026/12/02/cb-1-callback.wav")


async def test_a_call_back_is_kept_with_the_missed_call_and_finished_once(database_url: str) -> None:
    store = await stored(database_url)
    try:
        await CallRecords(store).save(record("1795.1", disposition="abandoned"))
        repo = CallbackRepository(store)
        first = await repo.add(placed("cb-1"))
        second = await repo.add(placed("cb-2", at=(T0 + timedelta(minutes=5)).astimezone(WITA)))
        await repo.add(placed("cb-3", for_linkedid=None))
        assert second > first
        assert [c.linkedid for c in await repo.unfinished(T0)] == ["cb-1", "cb-3", "cb-2"]   # by placed_at
        assert await repo.finish("cb-1", ANSWERED)
        assert not await repo.finish("cb-1", Outcome("failed", T0))     # once: a late settle changes nothing
        assert not await repo.finish("cb-unknown", ANSWERED)
        one, two = await repo.for_call("1795.1")
        assert one == Callback(**{**placed("cb-1").__dict__, "id": first, **ANSWERED.__dict__})
        assert (two.linkedid, two.outcome, two.placed_at) == ("cb-2", None, T0 + timedelta(minutes=5))
        assert two.placed_at.tzinfo == timezone.utc
        assert [c.linkedid for c in await repo.for_calls(["1795.1", "other"])] == ["cb-1", "cb-2"]
        assert await repo.for_calls([]) == [] and await repo.for_call("other") == []
        assert [c.linkedid for c in await repo.unfinished(T0 + timedelta(minutes=1))] == ["cb-2"]
        assert (await repo.get("cb-3")).for_linkedid is None and await repo.get("cb-9") is None  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_call_back_for_a_call_the_store_does_not_have_is_refused(database_url: str) -> None:
    store = await stored(database_url)
    try:
        with pytest.raises(UnknownCall, match="no call 'nope'"):
            await CallbackRepository(store).add(placed("cb-1", for_linkedid="nope"))
        assert await CallbackRepository(store).unfinished(T0) == []
    finally:
        await store.close()
