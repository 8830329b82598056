"""The desk's ticket opens when the call taker answers, on a real Asterisk with SIP bots: it
exists with its taker and answer time while the call goes on, and after the hangup the call's
record attaches to that same ticket: one ticket per call."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from callengine.db.calls import CallRepository
from callengine.db.database import Database
from callengine.db.tickets import TicketRepository
from lab import Lab

pytestmark = pytest.mark.integration
T = TypeVar("T")


def read(lab: Lab, query: Callable[[Database], Any]) -> Any:
    async def run() -> Any:
        db = Database(lab.settings.database_url)
        try:
            return await query(db)
        finally:
            await db.close()
    return asyncio.run(run())


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 15) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)  # wait-ok: polling the store's state, which no event announces to a test
    raise TimeoutError(what)


def test_the_ticket_opens_at_answer_and_the_record_attaches_at_hangup(bots, call_taker, lab: Lab) -> None:
    engine = lab.engine()
    taker = call_taker()
    engine.wait_taker_ready("taker1")
    call = bots.citizen(caller_id="081234567890").call(f"sip:112@{lab.sip}")
    call.send_dtmf("2")
    taker.wait_call(20).wait_state("confirmed", 10)
    opened = wait_for("a ticket at answer", lambda: read(lab, lambda db: TicketRepository(db).newest()))
    [ticket] = opened
    assert (ticket.taker, ticket.caller, ticket.category) == ("taker1", "+6281234567890", "kebakaran")
    assert ticket.answered_at is not None and ticket.number and ticket.number.startswith("SAM-")
    assert read(lab, lambda db: CallRepository(db).get(ticket.linkedid)) is None   # the call goes on
    call.hangup()
    record = wait_for("the call's record", lambda: read(lab, lambda db: CallRepository(db).get(ticket.linkedid)),
                      timeout=30)
    assert (record.disposition, record.agent) == ("answered", "taker1")
    [after] = read(lab, lambda db: TicketRepository(db).newest())
    assert (after.id, after.number, after.taker, after.answered_at) == (ticket.id, ticket.number, "taker1",
                                                                        ticket.answered_at)
    engine.wait_log("call recorded", linkedid=ticket.linkedid, number=ticket.number)
    assert not engine.errors(), engine.errors()
