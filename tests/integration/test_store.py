"""The ticket store on SQLite and on a real PostgreSQL server: one record and one ticket per
call whatever is replayed, and a spool that loses nothing while the database is away."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from callengine.core.deadline import answer_within
from callengine.tickets.records import CallRecords
from callengine.db.calls import CallRepository
from callengine.db.tickets import TicketRepository
from callengine.db.database import Database
from callengine.calls.record import CallRecord
from callengine.tickets.events import TicketOpened
from callengine.tickets.model import NEW, TicketNumbers
from callengine.tickets.writer import RecordWriter, Spool

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


def record(linkedid: str, **changes: object) -> CallRecord:
    base = CallRecord(linkedid, "+6281234567890", "081234567890", "112", T0, T0 + timedelta(seconds=9),
                      T0 + timedelta(seconds=70), "kebakaran", "112", 4.0, "taker1", 61.0, "answered", 16,
                      "Normal Clearing", "caller", "2026/11/23/x.wav",
                      ivr={"ivr_path": ["greeting", "connecting"], "ivr_s": 1.6},
                      locations=[{"lat": -0.5, "lon": 117.15, "radius_m": 30.0, "source": "aml"}])
    for key, value in changes.items():
        setattr(base, key, value)
    return base


async def stored(url: str) -> Database:
    store = Database(url)
    await store.migrate()
    return store


async def test_a_call_becomes_one_record_and_one_ticket_whatever_is_replayed(database_url: str) -> None:
    store = await stored(database_url)
    try:
        ticket = await CallRecords(store).save(record("1795.1"))
        assert ticket is not None and ticket.status == NEW and ticket.category == "kebakaran"
        assert await CallRecords(store).save(record("1795.1")) is None            # replayed: no second record
        assert await CallRecords(store).save(record("1795.1", disposition="abandoned")) is None
        await store.migrate()                                              # migrating again is a no-op
        [call] = await CallRepository(store).newest()
        assert call.disposition == "answered" and call.ivr["ivr_path"] == ["greeting", "connecting"]
        assert call.locations[0]["source"] == "aml" and call.started_at == T0
        assert [(t.linkedid, t.status) for t in await TicketRepository(store).newest()] == [("1795.1", NEW)]
    finally:
        await store.close()


async def test_prank_marks_count_per_number_in_the_window(database_url: str) -> None:
    store = await stored(database_url)
    try:
        for n in range(3):
            await CallRecords(store).save(record(f"p.{n}", started_at=T0 - timedelta(days=10 * n)))
            assert await CallRepository(store).mark_prank(f"p.{n}")
        assert await CallRepository(store).prank_calls("+6281234567890", T0 - timedelta(days=15)) == 2
        assert not await CallRepository(store).mark_prank("no-such-call")
    finally:
        await store.close()


WITA = ZoneInfo("Asia/Makassar")


async def test_local_times_are_kept_and_compared_as_utc(database_url: str) -> None:
    """Moments given in WITA (+08:00) around local midnight, where the UTC date differs from the
    local one, are found by WITA bounds and come back as the same moments, aware and in UTC."""
    store = await stored(database_url)
    at = {name: datetime.fromisoformat(moment).replace(tzinfo=WITA) for name, moment in (
        ("before", "2026-11-23T06:59:59"), ("dawn", "2026-11-23T07:00:00"),     # 22:59:59Z, 23:00Z on the 22nd
        ("late", "2026-11-23T23:59:59"), ("midnight", "2026-11-24T00:00:00"))}  # 15:59:59Z, 16:00Z on the 23rd
    try:
        for name, started in at.items():
            await CallRecords(store).save(record(name, started_at=started, answered_at=None, ended_at=started))
        window = await CallRepository(store).between(at["dawn"], at["midnight"])
        assert [c.linkedid for c in window] == ["dawn", "late"]
        assert window[0].started_at == at["dawn"] and window[0].started_at.tzinfo == timezone.utc
        assert [c.linkedid for c in await CallRepository(store).newest(0, since=at["late"])] == ["midnight", "late"]
        assert await CallRepository(store).count(until=at["dawn"]) == 1
    finally:
        await store.close()


async def test_a_naive_datetime_is_refused(database_url: str) -> None:
    store = await stored(database_url)
    try:
        with pytest.raises(StatementError, match="naive datetime"):
            await CallRecords(store).save(record("naive", started_at=datetime(2026, 11, 23, 7, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            await CallRepository(store).between(datetime(2026, 11, 23), datetime(2026, 11, 24))
    finally:
        await store.close()


async def test_sqlite_text_stays_naive_utc_so_old_rows_read_as_before(tmp_path: Path) -> None:
    """SQLite keeps DateTime(timezone=True) as text without offset; the store always wrote
    UTC there for calls, so that text is the format: new rows use it, old rows read unchanged."""
    store = await stored(f"sqlite+aiosqlite:///{tmp_path / 'callengine.db'}")
    try:
        for name in ("old", "new"):
            await CallRecords(store).save(record(name, started_at=datetime(2026, 11, 23, 7, 0, tzinfo=WITA)))
        async with store.engine.begin() as conn:      # "old": the text DateTime(timezone=True) wrote for 22:00Z
            await conn.execute(text("UPDATE calls SET started_at = '2026-11-22 22:00:00.000000' WHERE linkedid = 'old'"))
            stored_text = (await conn.execute(text("SELECT started_at FROM calls WHERE linkedid = 'new'"))).scalar_one()
        assert stored_text == "2026-11-22 23:00:00.000000"
        old, new = await CallRepository(store).between(datetime(2026, 11, 23, 6, 0, tzinfo=WITA), T0)
        assert (old.linkedid, old.started_at) == ("old", datetime(2026, 11, 22, 22, 0, tzinfo=timezone.utc))
        assert new.started_at == datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc)
    finally:
        await store.close()


async def test_records_spooled_while_postgres_is_down_arrive_once(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = await stored(postgres.create_database("spooltest"))
    opened: list[TicketOpened] = []
    writer = RecordWriter(store, Spool(tmp_path / "spool" / "records.jsonl"), opened.append)
    try:
        await writer._write(record("before"))
        postgres.stop()
        for n in range(5):
            assert not await writer._write(record(f"down.{n}"))            # refused: spooled, not lost
        assert len((tmp_path / "spool" / "records.jsonl").read_text().splitlines()) == 5
        assert await writer.replay() == 0 and writer.spool.pending()      # still down: all kept
        postgres.start()
        assert await writer.replay() == 5 and not writer.spool.pending()
        writer.spool.append(record("down.0"))
        assert await writer.replay() == 1                                   # replayed twice: stored once
        calls = await CallRepository(store).newest()
        assert sorted(c.linkedid for c in calls) == ["before"] + [f"down.{n}" for n in range(5)]
        assert len(await TicketRepository(store).newest()) == 6 and \
            sorted(e.record.linkedid for e in opened) == sorted(c.linkedid for c in calls)
    finally:
        if not _running(postgres):
            postgres.start()
        await store.close()


def _running(server) -> bool:  # type: ignore[no-untyped-def]
    return (server.data / "postmaster.pid").exists()


async def test_a_record_the_database_refuses_is_set_aside_and_the_rest_replayed(database_url: str,
                                                                                tmp_path: Path) -> None:
    store = await stored(database_url)
    writer = RecordWriter(store, Spool(tmp_path / "records.jsonl"))
    try:
        writer.spool.append(record("good.1"))
        writer.spool.append(record("bad", caller="+62" + "8" * 40))   # longer than its column
        writer.spool.append(record("good.2"))
        if database_url.startswith("sqlite"):              # SQLite keeps any length: refuse another way
            writer.records.save = _refusing(writer.records.save, "bad")  # type: ignore[method-assign]
        await writer.replay()
        assert sorted(c.linkedid for c in await CallRepository(store).newest()) == ["good.1", "good.2"]
        assert not writer.spool.pending() and '"linkedid": "bad"' in writer.spool.rejected.read_text()
    finally:
        await store.close()


def _refusing(save, linkedid: str):  # type: ignore[no-untyped-def]
    async def save_call(rec: CallRecord):  # type: ignore[no-untyped-def]
        if rec.linkedid == linkedid:
            raise ValueError("value refused by the database")
        return await save(rec)
    return save_call


def test_a_torn_spool_line_is_kept_for_a_human(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "records.jsonl")
    spool.append(record("ok.1"))
    with spool.path.open("a") as out:
        out.write('{"linkedid": "torn", "started_')                       # the process died mid-write
    [taken] = spool.take()
    assert taken.linkedid == "ok.1" and taken.started_at == T0
    assert spool.rejected.read_text() == '{"linkedid": "torn", "started_\n'


async def test_lookups_past_their_deadline_never_lock_sqlite_for_the_writer(tmp_path: Path) -> None:
    """Prank and location lookups answer within short deadlines (answer_within); lookups that
    miss theirs must neither hang their caller nor leave a lock that makes later writes fail
    with 'database is locked'."""
    import asyncio
    import random

    store = await stored(f"sqlite+aiosqlite:///{tmp_path / 'callengine.db'}")
    late = 0
    writing = True

    async def lookups() -> None:
        nonlocal late
        while writing:
            try:
                async with asyncio.timeout(5):         # the caller itself is never kept waiting
                    await answer_within(CallRepository(store).prank_calls("+6281234567890", T0 - timedelta(days=30)),
                                        random.uniform(0.0001, 0.01))
            except TimeoutError:
                late += 1
            await asyncio.sleep(0.002)  # wait-ok: paces the lookups: the hazard under test

    readers = [asyncio.create_task(lookups()) for _ in range(5)]
    try:
        for n in range(60):
            async with asyncio.timeout(5):
                assert await CallRecords(store).save(record(f"lock.{n}")) is not None
            await asyncio.sleep(0.01)  # wait-ok: paces the writes between lookups
        assert len(await CallRepository(store).newest(limit=0)) == 60
    finally:
        writing = False
        async with asyncio.timeout(10):
            await asyncio.gather(*readers)
        await store.close()
    assert late > 50                                      # the hazard really happened, many times


async def test_a_record_cut_off_by_shutdown_is_spooled(tmp_path: Path) -> None:
    import asyncio

    class SlowRecords:
        async def save(self, rec: CallRecord) -> None:
            await asyncio.Event().wait()                  # the database hangs mid-write: it never answers

    writer = RecordWriter(Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), Spool(tmp_path / "records.jsonl"))
    writer.records = SlowRecords()  # type: ignore[assignment]
    task = asyncio.create_task(writer.run())
    await writer.submit(record("inflight"))
    await writer.submit(record("queued"))
    async with asyncio.timeout(5):
        while writer.queue.qsize() != 1:          # the writer has taken "inflight"
            await asyncio.sleep(0)                # wait-ok: a bare yield while the condition is polled
    await writer.drain(timeout=0.1)                       # what is still queued goes to the spool
    task.cancel()                                         # and so does the one being written
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(r.linkedid for r in writer.spool.take()) == ["inflight", "queued"]


async def test_ticket_numbers_count_per_local_day_across_midnight_and_a_restart(database_url: str) -> None:
    from zoneinfo import ZoneInfo

    from callengine.tickets.model import TicketNumbers

    numbers = TicketNumbers("SMD", ZoneInfo("Asia/Makassar"))       # WITA: local midnight is 16:00 UTC
    before_midnight = datetime(2026, 12, 2, 15, 59, 58, tzinfo=timezone.utc)
    store = await stored(database_url)
    try:
        records = CallRecords(store, numbers)
        first = [await records.save(record(f"a.{n}"), before_midnight) for n in range(3)]
        after = await records.save(record("b.0"), before_midnight + timedelta(seconds=3))
    finally:
        await store.close()
    store = await stored(database_url)                             # the engine restarted: the count goes on
    try:
        again = await CallRecords(store, numbers).save(record("b.1"), before_midnight + timedelta(hours=1))
        replayed = await CallRecords(store, numbers).save(record("a.0"), before_midnight)
        listed = {t.linkedid: t.number for t in await TicketRepository(store).newest()}
    finally:
        await store.close()
    assert [t.number for t in first if t] == ["SMD-20261202-0001", "SMD-20261202-0002", "SMD-20261202-0003"]
    assert after is not None and after.number == "SMD-20261203-0001"
    assert again is not None and again.number == "SMD-20261203-0002"
    assert replayed is None and listed["a.0"] == "SMD-20261202-0001"   # a replay takes no number


async def test_a_ticket_opened_at_answer_takes_its_record_at_hangup_once(database_url: str, tmp_path: Path) -> None:
    """No foreign key holds the ticket back before its call row (0009); the record attaches to
    it, a replay changes nothing, TicketOpened comes once; a prank classification made during
    the call marks the call when its record arrives."""
    store = await stored(database_url)
    published: list[object] = []
    numbers = TicketNumbers("SMD", ZoneInfo("Asia/Makassar"))
    writer = RecordWriter(store, Spool(tmp_path / "spool.jsonl"), published.append, numbers=numbers)
    try:
        opened = await writer.records.open_at_answer("1796.1", "+6281234567890", "kebakaran", "taker1",
                                                     T0 + timedelta(seconds=9))
        assert opened is not None and opened.number == "SMD-20261123-0001" and opened.taker == "taker1"
        assert await writer.records.open_at_answer("1796.1", None, None, "taker2", T0) is None  # answered again
        await TicketRepository(store).change(opened.number, {"classification": "prank"}, T0)
        for _ in range(2):
            await writer.submit(record("1796.1"))
            await writer._write(await writer.queue.get())
            writer._done(record("1796.1"))
        [event] = published
        assert isinstance(event, TicketOpened) and event.ticket.id == opened.id
        assert event.ticket.number == opened.number
        [ticket] = await TicketRepository(store).newest()
        assert (ticket.id, ticket.taker, ticket.answered_at) == (opened.id, "taker1", T0 + timedelta(seconds=9))
        assert (await CallRepository(store).get("1796.1")).prank is True  # type: ignore[union-attr]
        missed = await writer.records.save(record("1797.1", disposition="abandoned", agent=None, answered_at=None),
                                             T0 + timedelta(minutes=2))
        assert missed is not None and missed.number == "SMD-20261123-0002" and missed.taker is None
    finally:
        await store.close()
