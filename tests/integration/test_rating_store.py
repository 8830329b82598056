"""The citizen's rating on the real store (SQLite and PostgreSQL) with the real Dispatcher and a
fake clock, the engine faked: the call back is scheduled when the last assignment closes, after
the delay and within calling hours, tried again when nobody answers, then given up; the digit is
the ticket's rating; a ticket with no number is skipped and says so; the schedule survives a new
caller (a restart). The link: works once, then refuses; bad scores, expired and unknown links."""
from __future__ import annotations

import asyncio
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from callengine.db.assignments import AssignmentRepository
from callengine.db.audit import AuditRepository
from callengine.db.database import Database
from callengine.db.ratings import RatingRepository
from callengine.db.tickets import TicketRepository
from callengine.dispatch.model import ACCEPTED, DONE, PROCESSING, Actor
from callengine.dispatch.service import Dispatcher, DispatchStores
from callengine.dispatch.voice import CallResults, SpokenMessages
from callengine.core.fanout import Fanout
from callengine.rating.config import RatingSettings
from callengine.rating.service import (GIVEN_UP, PENDING, RATED, RATING_RESULT, SKIPPED, RatingCaller, RatingError,
                                       Ratings)
from test_dispatch_store import RULES, T0, WITA, Clock, ticket_in
from test_store import stored

pytestmark = pytest.mark.integration
SETTINGS = RatingSettings(delay=timedelta(minutes=10), opens=time(7), closes=time(21),
                          retry_after=timedelta(minutes=30), tries=2, link_days=7)
TAKER = Actor("taker1", "calltaker", None, "10.0.0.5", "Firefox")
RESPONDER = Actor("dmk1", "responder", "DAMKAR", "10.1.0.7", "Android")


class Engine:
    """The engine's live API as the caller sees it: each rate command answered with a call id,
    its result told on the stream by the test."""

    def __init__(self, results: CallResults) -> None:
        self.results = results
        self.asked: list[dict[str, Any]] = []

    async def command(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.asked.append({"path": path, **body})
        return {"call_id": f"rt-{len(self.asked)}"}

    async def tell(self, result: str, score: int | None = None) -> None:
        """The result of the call being placed (waits for its command, as the stream would)."""
        told = self.told = getattr(self, "told", 0) + 1
        async with asyncio.timeout(5):
            while len(self.asked) < told:
                await asyncio.sleep(0.01)  # wait-ok: polling for the scheduler's command, which no event announces
        call = f"rt-{told}"
        self.results.offer({"call_id": call, "result": result, "score": score})


def speak(text: str, language: str, target: Path) -> None:
    target.write_bytes(b"RIFF" + text.encode())


async def selesai(store: Database, clock: Clock, linkedid: str = "1795.1") -> tuple[int, str]:
    """A ticket whose only assignment is selesai (through the Dispatcher), closed at clock.at."""
    ticket_id, number = await ticket_in(store, linkedid)
    dispatcher = Dispatcher(DispatchStores(store.begin, AssignmentRepository(store), TicketRepository(store),
                                           AuditRepository(store)), RULES, clock)
    [assignment] = await dispatcher.dispatch(number, ["DAMKAR"], "", TAKER)
    for status in (ACCEPTED, PROCESSING, DONE):
        await dispatcher.change(assignment.id, status, "padam" if status == DONE else "", RESPONDER)
    return ticket_id, number


def caller(store: Database, clock: Clock, tmp_path: Path) -> tuple[RatingCaller, Engine]:
    results = CallResults(Fanout())
    engine = Engine(results)
    return RatingCaller(SETTINGS, RatingRepository(store), SpokenMessages(tmp_path, speak), engine.command,
                        results, clock, WITA, "Samarinda"), engine


async def test_the_call_back_waits_for_the_delay_and_the_hours_then_stores_the_digit(database_url: str,
                                                                                      tmp_path: Path) -> None:
    store = await stored(database_url)
    try:
        clock = Clock()
        clock.at = T0 + timedelta(hours=12, minutes=55)              # 20:55 WITA
        ticket_id, number = await selesai(store, clock)
        rounds, engine = caller(store, clock, tmp_path)
        repo = RatingRepository(store)
        assert await rounds.round() == [] and engine.asked == []     # scheduled 10 minutes on: 21:05
        [request] = await repo.requests_of(ticket_id)
        assert (request.status, request.number, request.next_at) == (PENDING, "+6281234567890",
                                                                     clock.at + timedelta(minutes=10))
        clock.at += timedelta(minutes=10)                            # due, but calling hours are over
        assert await rounds.round() == []
        [request] = await repo.requests_of(ticket_id)
        morning = T0.astimezone(WITA).replace(hour=7) + timedelta(days=1)
        assert request.next_at == morning

        clock.at = morning                                           # a restart meanwhile: a new caller
        rounds, engine = caller(store, clock, tmp_path)
        [task] = await rounds.round()
        await engine.tell("rated", 4)
        await task
        [asked] = engine.asked
        assert (asked["path"], asked["ticket"], asked["phone"]) == ("/api/live/rate", number, "+6281234567890")
        assert (tmp_path / asked["prompt"]).read_bytes().startswith(b"RIFF") and asked["confirm"]
        rating = await Ratings(repo, SETTINGS, clock).of_ticket(ticket_id)
        assert rating is not None and (rating["score"], rating["source"], rating["by"]) == (
            4, "voice", "+6281234567890")
        assert [(r["status"], r["tries"]) for r in rating["requests"]] == [(RATED, 1)]
        assert await rounds.round() == [] and len(engine.asked) == 1      # never called twice
    finally:
        await store.close()


async def test_no_answer_is_tried_again_then_given_up_and_no_number_is_skipped(database_url: str,
                                                                                tmp_path: Path) -> None:
    store = await stored(database_url)
    try:
        clock = Clock()                                              # 09:00 WITA
        ticket_id, _ = await selesai(store, clock)
        repo = RatingRepository(store)
        rounds, engine = caller(store, clock, tmp_path)
        await rounds.round()
        clock.at += timedelta(minutes=10)
        [task] = await rounds.round()
        await engine.tell("no-answer")
        await task
        [request] = await repo.requests_of(ticket_id)
        assert (request.status, request.tries, request.last_error) == (PENDING, 1, "no-answer")
        assert request.next_at == clock.at + timedelta(minutes=30)
        assert await rounds.round() == []                            # not before retry_after
        clock.at += timedelta(minutes=30)
        [task] = await rounds.round()
        await engine.tell("rated", None)                             # said rated, but no score: not a rating
        await task
        [request] = await repo.requests_of(ticket_id)
        assert (request.status, request.tries) == (GIVEN_UP, 2)
        clock.at += timedelta(hours=1)
        assert await rounds.round() == [] and len(engine.asked) == 2
        assert (await Ratings(repo, SETTINGS, clock).of_ticket(ticket_id))["score"] is None  # type: ignore[index]

        async with store.begin() as c:                               # the caller withheld their number
            from sqlalchemy import update

            from callengine.db.models import CallRow, TicketRow
            await c.execute(update(TicketRow).values(caller=None))
            await c.execute(update(CallRow).values(caller=None))
        hidden, _ = await selesai(store, clock, "1795.2")
        async with store.begin() as c:
            await c.execute(update(TicketRow).where(TicketRow.id == hidden).values(caller=None, callback_number=None))
        await rounds.round()
        [skipped] = await repo.requests_of(hidden)
        assert (skipped.status, skipped.last_error) == (SKIPPED, "no valid caller ID to call")
    finally:
        await store.close()


async def test_the_link_works_once_and_refuses_bad_scores_expired_and_unknown_links(database_url: str) -> None:
    store = await stored(database_url)
    try:
        clock = Clock()
        ticket_id, number = await ticket_in(store)
        ratings = Ratings(RatingRepository(store), SETTINGS, clock)
        with pytest.raises(RatingError) as unknown:
            await ratings.new_link("SMD-19990101-0001", "taker1")
        assert unknown.value.status == 404
        token, expires = await ratings.new_link(number, "taker1")
        assert len(token) >= 40 and expires == clock.at + timedelta(days=7)
        async with store.connect() as c:                             # only its hash is kept
            from sqlalchemy import text
            kept = [row[0] for row in await c.execute(text("SELECT token_hash FROM rating_requests"))]
        assert token not in kept and len(kept[0]) == 64
        assert (await ratings.open_link(token)).ticket_number == number
        for bad in ("0", "6", "", "lima"):
            with pytest.raises(RatingError) as refused:
                await ratings.rate_by_link(token, bad, "", "10.0.0.9")
            assert refused.value.status == 400
        rating = await ratings.rate_by_link(token, "5", " Cepat, terima kasih ", "10.0.0.9")
        assert (rating.score, rating.comment, rating.source) == (5, "Cepat, terima kasih", "link")
        for again in ("5", "1"):
            with pytest.raises(RatingError) as used:
                await ratings.rate_by_link(token, again, "", "10.0.0.9")
            assert (used.value.status, used.value.code) == (410, "used")
        shown = await ratings.of_ticket(ticket_id)
        assert shown is not None and (shown["score"], shown["comment"], shown["source"]) == (
            5, "Cepat, terima kasih", "link")
        with pytest.raises(RatingError) as rated:                    # a rated ticket gets no new link
            await ratings.new_link(number, "taker1")
        assert rated.value.status == 409

        _, other = await ticket_in(store, "1795.3")
        late = await ratings.new_link(other, "spv1")
        clock.at += timedelta(days=7)
        with pytest.raises(RatingError) as expired:
            await ratings.rate_by_link(late[0], "3", "", "10.0.0.9")
        assert (expired.value.status, expired.value.code) == (410, "expired")
        with pytest.raises(RatingError) as nowhere:
            await ratings.open_link("x" * 43)
        assert nowhere.value.status == 404
    finally:
        await store.close()
